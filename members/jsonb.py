"""What PostgreSQL's jsonb can hold. Anything else, written as a value, fails inside
the database (a DataError, so a 500) instead of at the edge as a clear refusal."""

import math

# Member columns and Stripe's objects nest a handful of levels; anything much deeper
# is refused before walking, storing or rendering it could exhaust Python's recursion.
MAX_DEPTH = 64


def is_unicode_text(text: str) -> bool:
    """False for a lone UTF-16 surrogate ("\\ud800" is valid JSON, not UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable(value: object, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why jsonb cannot hold `value` ("contains a NUL character", ...), or None.

    Walks the value without recursion, so any depth json.loads accepted is safe here.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character"
            if not is_unicode_text(item):
                return "contains a character that is not text (a lone surrogate)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "contains a number JSON cannot hold"
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return "is nested too deeply"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None
