"""Validators of the member's own fields (username, billing reference), kept apart
from the models so forms, shapes and other apps use them without importing models."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.encoding import punycode

USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
username_validator = RegexValidator(
    USERNAME_RE, "Use 1 to 16 letters, digits, underscores or hyphens."
)

# The member reference the payment page hands Stripe as client-reference-id and the
# webhook reads back. Random, so it reveals nothing and cannot be guessed from an id.
BILLING_REF_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def validate_mailable(email: str) -> None:
    """Django's validator accepts some non-ASCII domains that cannot be written in IDNA
    (too long once encoded, or holding a character IDNA forbids). No mail can be sent
    to them, and sending one raises: refuse them as invalid where they are typed."""
    try:
        punycode(email.rpartition("@")[2])
    except UnicodeError:
        raise ValidationError("Enter a valid email address.", code="invalid") from None
