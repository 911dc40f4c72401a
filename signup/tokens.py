"""The continue link: a signed, time-limited token that binds a verified email.

Only someone who received the mail holds the token, so the email it carries is the
one the visitor proved they own; step 2 never reads an email from the form.
"""

from django.conf import settings
from django.core import signing

from members.emails import canonical_email, stored_email

SALT = "signup.continue"


class BadToken(Exception):
    """The token is malformed, tampered with or expired."""


def make_token(email: str) -> str:
    """A continue link's token for this address, in its canonical form. An address
    without one (step 1's form refuses it) makes a token read_token refuses."""
    return signing.dumps({"email": stored_email(email)}, salt=SALT)


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
    # Tokens signed before the canonical form carry the old lower-cased spelling.
    email = canonical_email(raw)
    if not email:
        raise BadToken
    return email
