"""The canonical form of a Deep Harbor address (docs/shapes.md: one `normalize_email`)."""

from django.core.exceptions import ValidationError

from members.emails import normalize_email


def canonical_email(address: str) -> tuple[str, str]:
    """(canonical address, '') or ('', why it has none), for the import's fixes."""
    if not isinstance(address, str) or not address.strip():
        return "", "no address"
    try:
        return normalize_email(address), ""
    except ValidationError as error:
        return "", f"not a valid address ({error.messages[0].rstrip('.')})"
