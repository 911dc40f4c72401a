"""Validators of the member's own fields (username, billing reference), kept apart
from the models so forms, shapes and other apps use them without importing models."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_username_pattern = RegexValidator(
    USERNAME_RE, "Use 1 to 16 letters, digits, underscores or hyphens."
)
# The login name of a User whose member has no username (legacy rows, erased members).
PLACEHOLDER_RE = re.compile(r"^member-[0-9]+$", re.IGNORECASE)


def placeholder_username(member_id: int) -> str:
    """The placeholder login name (DESIGN §2): never shown or used as a username."""
    return f"member-{member_id}"


def username_validator(value: str) -> None:
    """A member's username: the pattern, and never a placeholder login name, which
    the import, merges and erasure give to Users of members without a username."""
    _username_pattern(value)
    if PLACEHOLDER_RE.match(value):
        raise ValidationError(
            "Usernames of the form member-<number> are reserved.", code="reserved"
        )


# The member reference the payment page hands Stripe as client-reference-id and the
# webhook reads back. Random, so it reveals nothing and cannot be guessed from an id.
BILLING_REF_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
