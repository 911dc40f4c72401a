"""The canonical form of a Deep Harbor address (DESIGN §2: one `normalize_email`)."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

try:
    from members.emails import normalize_email
except ImportError:  # the canonical function lands in members/emails.py
    from members.models import normalize_email


def canonical_email(address: str) -> tuple[str, str]:
    """(canonical address, '') or ('', why it has none)."""
    if not isinstance(address, str) or not address.strip():
        return "", "no address"
    try:
        canonical = normalize_email(address)
        validate_email(canonical)
    except (ValidationError, ValueError) as error:
        message = getattr(error, "messages", None) or [str(error)]
        return "", f"not a valid address ({message[0].rstrip('.')})"
    return canonical, ""
