"""What makes a member *partial*, declared once: the pieces a complete member has. The
SQL condition (`PARTIAL_Q`, behind `Member.objects.partial()`, the admin filter and
its index `member_partial_idx`), the condition for one missing piece (`missing_q`) and
the Python reading of column values (`missing_pieces`, behind the admin's "missing"
column, the repair and the import's count) are all derived from `PIECES`, so they
cannot disagree.

A piece is missing when its column is NULL; the status's `membership_status` is
missing when the key is absent or JSON null, or when `status` is no JSON object at all
(PostgreSQL's `status -> 'membership_status'` is NULL then too).
"""

from collections.abc import Mapping
from typing import Any

from django.db.models import Q

from members.shapes import COLUMN_LABELS, NULLABLE_COLUMNS

MEMBERSHIP_STATUS = "membership_status"

# (column, key) per piece, in the order they are reported; the key is None where the
# piece is the whole column. Labelled by the key, else by the column.
PIECES: tuple[tuple[str, str | None], ...] = (
    ("status", MEMBERSHIP_STATUS),
    *((column, None) for column in NULLABLE_COLUMNS),
)
LABELS = tuple(key or column for column, key in PIECES)


def in_words(label: str) -> str:
    """A missing piece as staff read it: "no status", "notes not set up"."""
    if label == MEMBERSHIP_STATUS:
        return "no status"
    return f"{COLUMN_LABELS[label].split(' (')[0].lower()} not set up"


def _lacks_key(column: str, key: str) -> Q:
    # `column -> key` IS NULL (also true for a NULL column) or is JSON null.
    return Q(**{f"{column}__{key}__isnull": True}) | Q(**{f"{column}__{key}": None})


def _piece_q(column: str, key: str | None) -> Q:
    return _lacks_key(column, key) if key else Q(**{f"{column}__isnull": True})


def _partial_q() -> Q:
    q = Q()
    for column, key in PIECES:
        q |= _piece_q(column, key)
    return q


PARTIAL_Q = _partial_q()


def missing_q(label: str) -> Q:
    """The condition for one missing piece, by its label. A key is missing only from a
    column that is there: a NULL column is its own piece."""
    for column, key in PIECES:
        if label == (key or column):
            if key:
                return Q(**{f"{column}__isnull": False}) & _lacks_key(column, key)
            return _piece_q(column, key)
    raise ValueError(label)


def _is_missing(value, key: str | None) -> bool:
    if key is None:
        return value is None
    return value is not None and (not isinstance(value, dict) or value.get(key) is None)


def missing_pieces(columns: Mapping[str, Any]) -> list[str]:
    """The labels of the pieces missing from these column values (column -> its JSON
    value as Python reads it), in PIECES' order; empty when the member is complete."""
    return [key or column for column, key in PIECES if _is_missing(columns.get(column), key)]


def is_partial(columns: Mapping[str, Any]) -> bool:
    return bool(missing_pieces(columns))
