"""How the staff pages write values and counts."""

import json


def json_preview(value) -> str:
    """A stored value as one line of JSON (null for None), keys sorted."""
    return "null" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def membership_text(member) -> str:
    """The member's membership status for the lists: as the shapes read it, else what
    is on record (not a status the shapes know: staff see it, to fix it), else —."""
    if member.membership_status is not None:
        return member.membership_status
    stored = member.status.get("membership_status") if isinstance(member.status, dict) else None
    return stored.strip().lower() or "—" if isinstance(stored, str) else "—"
