"""The member snapshot of the change feed and of the access list (README, "Telling the door
and the directory"), and the SQL that captures it.

The snapshot is computed in PostgreSQL, by one SQL function generated here from the
shapes (members/shapes.py): which column holds `first_name`, `membership_status`,
`rfid_tags` ... and whether a key holds a list are read from the shapes, never listed
here. The capture trigger, the migration's backfill and the access list all call that
one function, so a change made by any path (ORM, `update()`, raw SQL, the import) is
seen the same way.

Readings are tolerant, like the shapes' readers: a NULL column, a missing key or a
value of the wrong type gives null for text and an empty list for lists; tags are given
in their 10-digit form (as members/rfid.py compares them), each once.
"""

from __future__ import annotations

import re

from members import shapes
from members.rfid import TAGS_KEY, padded_tag_sql
from members.shapes import MemberStatus

# The snapshot's keys, in the order a payload lists them (the receiver's contract: README,
# "Telling the door and the directory").
SNAPSHOT_KEYS = (
    "event_id",
    "member_id",
    "legacy_id",
    "sequence",
    "changed_at",
    "username",
    "email",
    "first_name",
    "last_name",
    "membership_status",
    "may_enter",
    "rfid_tags",
    "authorizations",
    "computer_authorizations",
)
# Which event it is: in every payload, whatever fields an endpoint chose.
EVENT_KEYS = ("event_id", "member_id", "legacy_id", "sequence", "changed_at")
# What an endpoint may choose among (`Endpoint.fields`), and what a change is made of:
# a write that changes none of these records no event.
FIELD_KEYS = tuple(k for k in SNAPSHOT_KEYS if k not in EVENT_KEYS)
# Member columns the snapshot reads as they are.
_PLAIN_COLUMNS = ("username", "email")
# Derived from membership_status: may the member enter now?
_MAY_ENTER = "may_enter"
_STATUS_KEY = "membership_status"
ACTIVE = MemberStatus.ACTIVE.value

FUNCTION = "integrations_member_snapshot"
CAPTURE_FUNCTION = "integrations_capture_member_change"
INSERT_TRIGGER = "integrations_feed_insert"
UPDATE_TRIGGER = "integrations_feed_update"
ERASURE_FUNCTION = "integrations_capture_member_erasure"
ERASURE_TRIGGER = "integrations_feed_erasure"
MEMBER_TABLE = "members_member"
EVENT_TABLE = "integrations_feedevent"
# members.ErasureRequest: a member with a request whose erased_at is set was erased
# (README, "Privacy") and never may enter, whatever their membership status says.
ERASURE_TABLE = "members_erasurerequest"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _literal(text: str) -> str:
    """A SQL string literal for a key taken from the shapes (checked, never input)."""
    if not _IDENTIFIER.match(text):
        raise ValueError(f"unexpected key {text!r}")
    return f"'{text}'"


def json_sources() -> dict[str, tuple[str, bool]]:
    """Snapshot key -> (the JSON column declaring it, whether it holds a list), read
    from the shapes. Fails loudly when a key the snapshot needs is declared by no
    column or by several."""
    sources: dict[str, tuple[str, bool]] = {}
    for key in FIELD_KEYS:
        if key in _PLAIN_COLUMNS or key == _MAY_ENTER:
            continue
        found = [c for c in shapes.COLUMNS if c != "notes" and key in shapes.keys(c)]
        if len(found) != 1:
            raise LookupError(f"the shapes declare {key!r} in {found or 'no column'}")
        column = found[0]
        sources[key] = (column, shapes.key_kind(column, key).is_list)
    return sources


def _array(value: str) -> str:
    return f"(CASE WHEN jsonb_typeof({value}) = 'array' THEN ({value}) ELSE '[]'::jsonb END)"


def _text_sql(value: str) -> str:
    return f"(CASE WHEN jsonb_typeof({value}) = 'string' THEN ({value}) #>> '{{}}' END)"


def _text_list_sql(value: str) -> str:
    # The common case, a list of text, is taken as it is (no per-element subquery).
    clean = (
        f"jsonb_typeof({value}) = 'array' AND NOT jsonb_path_exists(({value}),"
        " 'strict $[*] ? (@.type() != \"string\")')"
    )
    return (
        f"(CASE WHEN {clean} THEN ({value}) ELSE "  # noqa: S608 - constant SQL, fixed names
        "(SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb)"
        f" FROM jsonb_array_elements({_array(value)}) WITH ORDINALITY AS x(e, i)"
        " WHERE jsonb_typeof(e) = 'string') END)"
    )


_ELEMENT_TEXT = "(e #>> '{}')"


def _tag_list_sql(value: str) -> str:
    # The common case, no tag or one in its 10-digit form, is taken as it is.
    clean = (
        f"jsonb_typeof({value}) = 'array' AND jsonb_array_length({value}) <= 1"
        f" AND NOT jsonb_path_exists(({value}),"
        ' \'strict $[*] ? (!(@.type() == "string" && @ like_regex "^[0-9]{10}$"))\')'
    )
    return (
        f"(CASE WHEN {clean} THEN ({value}) ELSE "  # noqa: S608 - constant SQL, fixed names
        "(SELECT COALESCE(jsonb_agg(tag ORDER BY first), '[]'::jsonb) FROM ("
        # Each tag in the form members/rfid.py compares: trimmed, zero-padded to 10.
        f"SELECT {padded_tag_sql(_ELEMENT_TEXT)} AS tag, min(i) AS first"
        f" FROM jsonb_array_elements({_array(value)}) WITH ORDINALITY AS x(e, i)"
        # Numbers too: the RfidTag mirror (members/rfid.py) holds them as tags.
        " WHERE jsonb_typeof(e) IN ('string', 'number') GROUP BY 1) AS tags"
        " WHERE tag ~ '^[0-9]{10}$') END)"
    )


def status_sql(row: str) -> str:
    """The member's membership status in `row` (a table alias or NEW/OLD), lower-cased
    and trimmed as the shapes read it, or NULL when it is not one of the statuses."""
    column, _ = json_sources()[_STATUS_KEY]
    raw = f"lower(btrim({row}.{column} ->> {_literal(_STATUS_KEY)}))"
    statuses = ", ".join(_literal(s) for s in MemberStatus.values)
    return (
        f"(CASE WHEN jsonb_typeof({row}.{column} -> {_literal(_STATUS_KEY)}) = 'string'"
        f" AND {raw} IN ({statuses}) THEN {raw} END)"
    )


def active_sql(row: str) -> str:
    """A cheap condition for "may enter now" (an index-free prefilter of the access
    list, which the snapshot's may_enter then narrows to members not erased)."""
    column, _ = json_sources()[_STATUS_KEY]
    return f"lower(btrim({row}.{column} ->> {_literal(_STATUS_KEY)})) = {_literal(ACTIVE)}"


def erased_sql(row: str) -> str:
    """Whether the member in `row` was erased: erasure keeps the status column
    (README, "Privacy"), so an active status alone does not let an erased member in."""
    return (
        f"EXISTS (SELECT 1 FROM {ERASURE_TABLE} AS erasure"  # noqa: S608 - fixed names
        f" WHERE erasure.member_id = {row}.id AND erasure.erased_at IS NOT NULL)"
    )


def _field_sql(key: str, row: str, sources) -> str:
    if key in _PLAIN_COLUMNS:
        return f"{row}.{key}"
    if key == _MAY_ENTER:
        may_enter = f"COALESCE({status_sql(row)} = {_literal(ACTIVE)}, false)"
        return f"({may_enter} AND NOT {erased_sql(row)})"
    if key == _STATUS_KEY:
        return status_sql(row)
    column, is_list = sources[key]
    value = f"{row}.{column} -> {_literal(key)}"
    if key == TAGS_KEY:
        return _tag_list_sql(value)
    return _text_list_sql(value) if is_list else _text_sql(value)


def field_sql(key: str, row: str) -> str:
    """One snapshot field of the member in `row` as an SQL expression, the same the
    snapshot function computes (inline, for queries over many members: PostgreSQL
    does not inline a function taking a row)."""
    return _field_sql(key, row, json_sources())


def read_columns() -> tuple[str, ...]:
    """The member columns the snapshot reads: an update touching none of them cannot
    change it (the update trigger's WHEN)."""
    columns = list(_PLAIN_COLUMNS) + ["legacy_id"]
    for column, _ in json_sources().values():
        if column not in columns:
            columns.append(column)
    return tuple(columns)


def function_sql() -> str:
    """CREATE OR REPLACE of the snapshot function: a member row -> its snapshot's
    fields (member_id, legacy_id and FIELD_KEYS) as jsonb."""
    sources = json_sources()
    pairs = ["'member_id', m.id", "'legacy_id', m.legacy_id"] + [
        f"{_literal(key)}, {_field_sql(key, 'm', sources)}" for key in FIELD_KEYS
    ]
    body = ",\n        ".join(pairs)
    return f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(m {MEMBER_TABLE}) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT jsonb_build_object(
        {body}
    )
$fn$;
"""


def _event_head(event_id: str, sequence: str, at: str) -> str:
    changed_at = f"to_char({at} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    return (
        f"jsonb_build_object('event_id', {event_id}, 'sequence', {sequence},"
        f" 'changed_at', {changed_at})"
    )


def _record_sql(member_id: str) -> str:
    """The end of a capture function: `_new_data` and `_changed` become this
    transaction's event of the member (updated when the member's latest event,
    read into `_latest_*`, is this transaction's), or a new one."""
    head_new = _event_head("_new_id", "_new_sequence", "_at")
    head_same = _event_head("_latest_id", "_latest_sequence", "_at")
    return f"""    IF _latest_xact IS NOT NULL AND _latest_xact = _xact THEN
        UPDATE {EVENT_TABLE} SET
            snapshot = {head_same} || _new_data,
            changed_at = _at,
            changed = (SELECT jsonb_agg(DISTINCT k ORDER BY k) FROM (
                SELECT jsonb_array_elements_text(_latest_changed) AS k
                UNION SELECT unnest(_changed)) AS keys)
        WHERE id = _latest_id;
    ELSE
        _new_id := nextval(pg_get_serial_sequence('{EVENT_TABLE}', 'id'));
        _new_sequence := COALESCE(_latest_sequence, 0) + 1;
        INSERT INTO {EVENT_TABLE} (id, member_id, sequence, xact, changed, snapshot,
                                   changed_at, pumped)
        VALUES (_new_id, {member_id}, _new_sequence, _xact, to_jsonb(_changed),
                {head_new} || _new_data, _at, false);
    END IF;
"""  # noqa: S608 - constant SQL from fixed names


def erasure_capture_sql() -> str:
    """The trigger function and trigger on the erasure requests: closing a request
    (erased_at set, by member_erase or any other path) changes the member's may_enter
    without touching the member row, so it records the member's event itself, with
    `may_enter` among the changed keys (an endpoint that chose only may_enter gets
    it). Whatever the order of the writes in the erasing transaction, its one event
    ends with the snapshot after both. Nothing is recorded when may_enter is what the
    member's latest event already says (a second erasure, a member who could not
    enter). Deleting a request records nothing: its member's next change does."""
    return f"""
CREATE OR REPLACE FUNCTION {ERASURE_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    _member {MEMBER_TABLE};
    _new_data jsonb;
    _changed text[] := ARRAY[{_literal(_MAY_ENTER)}]::text[];
    _xact bigint := pg_current_xact_id()::text::bigint;
    _at timestamptz := clock_timestamp();
    _latest_id bigint;
    _latest_sequence integer;
    _latest_xact bigint;
    _latest_changed jsonb;
    _latest_snapshot jsonb;
    _new_id bigint;
    _new_sequence integer;
BEGIN
    -- The member's row lock, as a member write holds it: the sequence stays gapless.
    SELECT * INTO _member FROM {MEMBER_TABLE} WHERE id = NEW.member_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    _new_data := {FUNCTION}(_member);
    SELECT id, sequence, xact, changed, snapshot
        INTO _latest_id, _latest_sequence, _latest_xact, _latest_changed, _latest_snapshot
        FROM {EVENT_TABLE} WHERE member_id = _member.id ORDER BY sequence DESC LIMIT 1;
    IF (_latest_snapshot -> {_literal(_MAY_ENTER)}) IS NOT DISTINCT FROM
            (_new_data -> {_literal(_MAY_ENTER)}) THEN
        RETURN NULL;
    END IF;
{_record_sql("_member.id")}    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS {ERASURE_TRIGGER} ON {ERASURE_TABLE};
CREATE TRIGGER {ERASURE_TRIGGER} AFTER INSERT OR UPDATE OF erased_at ON {ERASURE_TABLE}
    FOR EACH ROW EXECUTE FUNCTION {ERASURE_FUNCTION}();
"""  # noqa: S608 - constant SQL from fixed names


def capture_sql() -> str:
    """The trigger function and the two triggers on the member table, and the trigger
    on the erasure requests.

    The migrations install this as text they keep (a migration runs the same SQL
    whenever it runs): a change here needs a new migration holding the new output as
    its CAPTURE_SQL, which tests/integrations/test_migrations.py asks for.

    One event per member per transaction: a second write to the member in the same
    transaction (a merge, an import's insert then fix-up) updates that transaction's
    event instead of adding one, so a receiver sees each committed change once. The
    per-member sequence is the previous event's plus one; the UPDATE that fired the
    trigger holds the member's row lock, so two transactions cannot take one number.
    """
    tracked = "ARRAY[" + ", ".join(_literal(k) for k in FIELD_KEYS) + "]::text[]"
    changed_any = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in read_columns())
    return f"""
{function_sql()}
CREATE OR REPLACE FUNCTION {CAPTURE_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    _new_data jsonb := {FUNCTION}(NEW);
    _old_data jsonb;
    _changed text[];
    _xact bigint := pg_current_xact_id()::text::bigint;
    _at timestamptz := clock_timestamp();
    _latest_id bigint;
    _latest_sequence integer;
    _latest_xact bigint;
    _latest_changed jsonb;
    _new_id bigint;
    _new_sequence integer;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        _old_data := {FUNCTION}(OLD);
        SELECT array_agg(k ORDER BY k) INTO _changed FROM unnest({tracked}) AS k
            WHERE (_new_data -> k) IS DISTINCT FROM (_old_data -> k);
        IF _changed IS NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        _changed := {tracked};
    END IF;
    SELECT id, sequence, xact, changed
        INTO _latest_id, _latest_sequence, _latest_xact, _latest_changed
        FROM {EVENT_TABLE} WHERE member_id = NEW.id ORDER BY sequence DESC LIMIT 1;
{_record_sql("NEW.id")}    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS {INSERT_TRIGGER} ON {MEMBER_TABLE};
CREATE TRIGGER {INSERT_TRIGGER} AFTER INSERT ON {MEMBER_TABLE}
    FOR EACH ROW EXECUTE FUNCTION {CAPTURE_FUNCTION}();
DROP TRIGGER IF EXISTS {UPDATE_TRIGGER} ON {MEMBER_TABLE};
CREATE TRIGGER {UPDATE_TRIGGER} AFTER UPDATE ON {MEMBER_TABLE}
    FOR EACH ROW WHEN ({changed_any})
    EXECUTE FUNCTION {CAPTURE_FUNCTION}();
{erasure_capture_sql()}"""  # noqa: S608 - constant SQL from fixed names and the shapes' keys


def backfill_sql() -> str:
    """A first event (already pumped: sent to no endpoint) for every member that has
    none, so every member has a current snapshot to send to a new endpoint."""
    head = _event_head("e.id", "1", "now()")
    return f"""
INSERT INTO {EVENT_TABLE} (id, member_id, sequence, xact, changed, snapshot, changed_at, pumped)
SELECT e.id, m.id, 1, NULL, '[]'::jsonb, {head} || {FUNCTION}(m), now(), true
FROM {MEMBER_TABLE} AS m
CROSS JOIN LATERAL (SELECT nextval(pg_get_serial_sequence('{EVENT_TABLE}', 'id')) AS id) AS e
WHERE NOT EXISTS (SELECT 1 FROM {EVENT_TABLE} AS f WHERE f.member_id = m.id);
"""  # noqa: S608 - constant SQL from fixed names


def payload(snapshot: dict, fields=()) -> dict:
    """The JSON body sent for an event: its keys in SNAPSHOT_KEYS order, limited to the
    event's keys and `fields` when an endpoint chose some."""
    wanted = set(fields) | set(EVENT_KEYS) if fields else set(SNAPSHOT_KEYS)
    return {key: snapshot.get(key) for key in SNAPSHOT_KEYS if key in wanted}
