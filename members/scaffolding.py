"""The default of every nullable member column, and the one function that fills them.

Signup calls `complete_member` once per scaffolding step; the admin repair action and
`repair_members` call it for everything missing. Nothing else writes defaults.
"""

import copy
import json

from django.db import connection, transaction

from members import shapes
from members.models import Member
from members.partial import MEMBERSHIP_STATUS, missing_pieces
from members.shapes import NULLABLE_COLUMNS, MemberStatus

# The order is the order signup runs its after-commit steps in.
SCAFFOLDING_COLUMNS = ("notes", "access", "authorizations", "extras")
# Written by signup's critical transaction; NULL only on legacy or damaged rows.
CRITICAL_COLUMNS = ("status", "connections", "forms")

PENDING = MemberStatus.PENDING.value


def default(column: str):
    """A fresh copy of the canonical default for a JSON column (from the shapes)."""
    return shapes.default(column)


def missing_columns(member) -> list[str]:
    """What is incomplete on a loaded member, by label, in a stable order
    (members/partial.py). `status.membership_status` missing or null is reported as
    "membership_status"."""
    return missing_pieces({column: getattr(member, column) for column in NULLABLE_COLUMNS})


# Filling a column only when it is NULL, in SQL, keeps a concurrent writer's value:
# the function can never overwrite, whatever ran between our read and our write.
_STATUS_FILL = """
    CASE
        WHEN status IS NULL THEN %s::jsonb
        WHEN jsonb_typeof(status) <> 'object' THEN status
        WHEN (status -> 'membership_status') IS NULL
             OR (status -> 'membership_status') = 'null'::jsonb
            THEN status || jsonb_build_object('membership_status', %s::text)
        ELSE status
    END
"""


def _fillable(status) -> bool:
    # A status that is not an object cannot gain a key without being overwritten,
    # which completion never does; staff edit such a row by hand.
    return isinstance(status, dict) or status is None


def completion(columns, *, only=None, values=None) -> tuple[dict, list[str]]:
    """What completing these column values fills, decided without the database: the
    new values of the NULL columns (and of a status lacking `membership_status`), and
    the labels of what was missing, as complete_member reports them.

    columns: column -> its value as Python reads it (a missing column counts as NULL).
    only, values: as complete_member. The import calls this on a row before writing
    it; complete_member decides with it and writes in SQL.
    """
    chosen = tuple(only) if only is not None else NULLABLE_COLUMNS
    unknown = set(chosen) - set(NULLABLE_COLUMNS)
    if unknown:
        raise ValueError(f"not a scaffolding column: {sorted(unknown)}")
    values = values or {}
    missing = [
        c
        for c in missing_pieces({c: columns.get(c) for c in NULLABLE_COLUMNS})
        if c in chosen
        or (c == MEMBERSHIP_STATUS and "status" in chosen and _fillable(columns.get("status")))
    ]
    filled = {}
    for column in chosen:
        if column == "status" and MEMBERSHIP_STATUS in missing and "status" not in missing:
            filled["status"] = {**columns["status"], MEMBERSHIP_STATUS: PENDING}
        elif column in missing:
            filled[column] = copy.deepcopy(values[column]) if column in values else default(column)
    return filled, missing


def complete_member(member_id: int, *, only=None, values=None) -> list[str]:
    """Fill the NULL columns of one member; return what was filled.

    only:   restrict to these columns (default: every nullable column).
    values: a value to use instead of the default for a column, if it is NULL.

    A status lacking `membership_status` (or with it null) gains "pending"; no
    existing column or key is ever changed. Calling it again changes nothing.
    """
    columns = tuple(only) if only is not None else NULLABLE_COLUMNS
    completion({}, only=columns)  # refuses a column that is not a scaffolding one
    table = Member._meta.db_table
    with transaction.atomic():
        row = (
            Member.objects.select_for_update().filter(pk=member_id).only(*NULLABLE_COLUMNS).first()
        )
        if row is None:
            return []
        _, missing = completion(
            {c: getattr(row, c) for c in NULLABLE_COLUMNS}, only=columns, values=values
        )
        if not missing:
            return []
        values = values or {}
        sets: list[str] = []
        params: list[str | int] = []
        for column in columns:
            fill = json.dumps(values.get(column, default(column)), default=str)
            if column == "status":
                if "status" in missing or MEMBERSHIP_STATUS in missing:
                    sets.append(f"status = {_STATUS_FILL}")
                    params += [fill, PENDING]
            elif column in missing:
                sets.append(f"{column} = COALESCE({column}, %s::jsonb)")
                params.append(fill)
        # Repair, signup and webhook writes are made by no user (docs/shapes.md: last_updated_by).
        sets.append("last_updated_by_id = NULL")
        params.append(member_id)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {', '.join(sets)} WHERE id = %s",  # noqa: S608
                params,
            )
        return missing
