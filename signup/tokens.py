"""The continue link: a signed, time-limited token that binds a verified email.

Only someone who received the mail holds the token, so the email it carries is the
one the visitor proved they own; step 2 never reads an email from the form.
"""

from django.conf import settings
from django.core import signing

from members.models import normalize_email

SALT = "signup.continue"


class BadToken(Exception):
    """The token is malformed, tampered with or expired."""


def make_token(email: str) -> str:
    return signing.dumps({"email": normalize_email(email)}, salt=SALT)


def read_token(token) -> str:
    """The email a token carries, or BadToken."""
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise BadToken
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.SIGNUP_TOKEN_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadToken from exc
    # Only this site can sign a token, but one signed by another part of it (same key
    # and salt, another shape) must still be a bad link, not a 500.
    raw = data.get("email") if isinstance(data, dict) else None
    email = normalize_email(raw) if isinstance(raw, str) else ""
    if not email or "@" not in email:
        raise BadToken
    return email
