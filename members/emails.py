"""The canonical form of an email address (docs/shapes.md), the one place it is computed.

Three entry points, by what the caller can do with an address that has no canonical
form (a quoted or non-ASCII local part, an invisible or control character, a domain
IDNA cannot encode, or simply not an address):

- `normalize_email(value)`: where a person types an address (signup, login, password
  reset, admin edits). Returns the canonical form or raises `ValidationError` with
  email-validator's explanation, which the form shows.
- `canonical_email(value)`: where an address arrives from elsewhere and must not raise
  (the webhook's `customer_details.email`, a signed token, `Member.objects.by_email`).
  Returns the canonical form, or `""` (no address) when there is none.
- `stored_email(value)`: where a value is written back (`User.save`, `Member.save`, the
  data migration). Returns the canonical form, or the text unchanged when there is
  none: a legacy address email-validator refuses is kept for staff to see and fix,
  never blanked.

The site's own sender address (`DEFAULT_FROM_EMAIL`) is never put through any of them.
"""

import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from email_validator import EmailNotValidError, validate_email

# Far beyond any real address (email-validator caps the result at 254 characters), and
# checked before NFKC, which can expand one character into 18.
MAX_INPUT_LENGTH = 1000


def normalize_email(value: object) -> str:
    """Strip, Unicode NFKC, email-validator without DNS and without SMTPUTF8, then
    the local part lower-cased + "@" + the ASCII (IDNA) domain lower-cased.

    email-validator keeps the local part's case and gives a Unicode domain in
    `.normalized`, so the result is assembled from `.local_part` and `.ascii_domain`.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter an email address.", code="required")
    if len(value) > MAX_INPUT_LENGTH:
        raise ValidationError("This email address is too long.", code="invalid")
    text = unicodedata.normalize("NFKC", value.strip())
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValidationError(str(error), code="invalid") from None
    return f"{checked.local_part.lower()}@{checked.ascii_domain.lower()}"


def canonical_email(value: object) -> str:
    """The canonical form, or "" when the value has none (never raises)."""
    try:
        return normalize_email(value)
    except ValidationError:
        return ""


def stored_email(value: object) -> str:
    """The canonical form, or the value unchanged when it has none (never raises).
    `""` (no address) stays `""`; None or anything not text becomes `""`."""
    if not isinstance(value, str):
        return ""
    return canonical_email(value) or value


class EmailField(forms.CharField):
    """A form field that cleans to the canonical address. Unlike Django's EmailField
    it applies NFKC before judging, so `Bo@ＥＸＡＭＰＬＥ.org` is accepted as
    `bo@example.org`, and it refuses what email-validator refuses, with its reason."""

    widget = forms.EmailInput

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("autocomplete", "email")

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        return normalize_email(value)
