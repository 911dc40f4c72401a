"""Validators of the member's own fields (username, billing reference), kept apart
from the models so forms, shapes and other apps use them without importing models."""

import re

from django.core.validators import RegexValidator

USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
username_validator = RegexValidator(
    USERNAME_RE, "Use 1 to 16 letters, digits, underscores or hyphens."
)

# The member reference the payment page hands Stripe as client-reference-id and the
# webhook reads back. Random, so it reveals nothing and cannot be guessed from an id.
BILLING_REF_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
