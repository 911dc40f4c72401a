"""Deep Harbor's `member` rows as dhportal columns (README, "Moving from Deep Harbor"),
without the database.

Deep Harbor's JSON drifts from the shapes (docs/shapes.md) in the ways the README lists.
Every key written here is one `members/shapes.py` declares (checked when this module
loads); the values are
judged by the shapes' own readers, and a value they cannot read is fixed by the type
its key has there: a "true"/"false" string becomes a boolean, a date that is not ISO
becomes null. Every such change is a `Fix`, so nothing is lost: the original value goes
to the import ledger (and a note, where the row has notes).

What needs the portal's database (duplicates, tags other members hold, logins) is
decided in legacy/services.py.
"""

import datetime
import typing
from dataclasses import dataclass, field
from typing import Any

from legacy.emails import canonical_email
from members import shapes
from members.rfid import rfid_tag_form
from members.shapes import KeyKind
from members.validators import PLACEHOLDER_RE, USERNAME_RE


def _key(column: str, name: str) -> str:
    """A key the import writes; the shapes must declare it."""
    if name not in shapes.keys(column):
        raise ImportError(f"members/shapes.py has no key {column}.{name}")
    return name


EMAILS = _key("identity", "emails")
EMAIL_ADDRESS = "email_address" if "email_address" in shapes.Email.model_fields else None
EMAIL_TYPE = "type" if "type" in shapes.Email.model_fields else None
AD_USERNAME = _key("identity", "active_directory_username")
MEMBERSHIP_STATUS = _key("status", "membership_status")
STRIPE_CUSTOMER_ID = _key("status", "stripe_customer_id")
DISCORD_USERNAME = _key("connections", "discord_username")
ID_CHECK_BY = _key("forms", "id_check_by")
RFID_TAGS = _key("access", "rfid_tags")
NOTE_TEXT, NOTE_FROM, NOTE_TIME = (
    _key("notes", "note"),
    _key("notes", "from"),
    _key("notes", "timestamp"),
)
if EMAIL_ADDRESS is None or EMAIL_TYPE is None:
    raise ImportError("members/shapes.py: identity.emails entries lost type or email_address")

# Deep Harbor's own names for keys the shapes call otherwise: (column, its key) -> key.
RENAMED = {
    ("connections", "discord_handle"): DISCORD_USERNAME,
    ("forms", "waiver_signed_at"): _key("forms", "waiver_signed_date"),
    ("forms", "essentials_forms_completed_date"): _key("forms", "essentials_form"),
}
# connections.stripe_id is a Stripe customer id, which dhportal keeps in status.
STRIPE_ID = "stripe_id"
# Deep Harbor's older notes: {"notes": [{"date", "author", "text"}]}.
OLD_NOTES, OLD_NOTE_KEYS = "notes", {"text": NOTE_TEXT, "author": NOTE_FROM, "date": NOTE_TIME}

STATUS_VALUES = {**{s: s for s in shapes.MemberStatus.values}, "inactive": "lapsed"}
JSON_COLUMNS = shapes.COLUMNS
NULLABLE = shapes.NULLABLE_COLUMNS

# Fix kinds: counted apart in the summary line.
VALUE, DUPLICATE, TAG_CONFLICT, LOGIN = "value", "duplicate", "tag conflict", "login"
# A member number another member already held: the member got a new one.
NUMBER = "number"
# A column Deep Harbor left NULL, completed by the scaffolding function.
COMPLETED = "completed"


@dataclass
class Fix:
    """A value the import could not take as it was, and what it did instead."""

    field: str
    value: Any
    fix: str
    kind: str = VALUE

    def as_json(self) -> dict:
        return {"field": self.field, "value": self.value, "fix": self.fix, "kind": self.kind}


@dataclass
class MappedRow:
    legacy_id: int
    email: str
    username: str
    columns: dict[str, Any]
    date_added: datetime.datetime | None
    fixes: list[Fix] = field(default_factory=list)
    # access.rfid_tags in their 10-digit form, for the caller's one-holder check.
    tags: list[str] = field(default_factory=list)
    # Every address of identity.emails (secondary ones too), for the erased-ban check.
    addresses: list[str] = field(default_factory=list)

    def fix(self, where: str, value, what: str, kind: str = VALUE) -> None:
        self.fixes.append(Fix(where, _jsonable(value), what, kind))


def _jsonable(value):
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


TRUE, FALSE = {"true", "t", "yes", "y", "1", "on"}, {"false", "f", "no", "n", "0", "off"}


def _as_date(value) -> str | None:
    """An ISO date (or the date of an ISO timestamp) as "YYYY-MM-DD", else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return None


def _as_timestamp(value) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return None


def _fix_object(row: MappedRow, column: str, data: dict, where: str | None = None) -> dict:
    """Fix the keys of one JSON object the column's shape cannot read, by their type."""
    reading = shapes.read(column, [data]) if column == "notes" else shapes.read(column, data)
    if column == "notes":
        reading = reading[0] if reading else None
    if reading is None:
        return data
    where = where or column
    for stored in sorted(reading.unreadable):
        value = data.get(stored)
        kind = shapes.key_kind(column, stored)
        if kind == KeyKind.BOOLEAN:
            text = str(value).strip().lower() if isinstance(value, str | int) else None
            if text in TRUE or text in FALSE:
                data[stored] = text in TRUE
                # Deep Harbor's "true"/"false" strings are its booleans, not a fix.
                if text not in ("true", "false"):
                    row.fix(f"{where}.{stored}", value, f"read as {str(data[stored]).lower()}")
            else:
                data[stored] = None
                row.fix(f"{where}.{stored}", value, "not true or false; left empty")
            continue
        elif kind == KeyKind.DATE:
            fixed = _as_date(value)
            data[stored] = fixed
            what = f"read as {fixed}" if fixed else "not an ISO date; left empty"
            row.fix(f"{where}.{stored}", value, what)
            continue
        elif kind == KeyKind.TIMESTAMP:
            fixed = _as_timestamp(value)
            data[stored] = fixed
            what = f"read as {fixed}" if fixed else "not an ISO timestamp; left empty"
            row.fix(f"{where}.{stored}", value, what)
            continue
        # Other wrong-typed values stay as they are: staff see them flagged in admin.
    return data


# --- the columns ---------------------------------------------------------------------


def _primary_email(identity: dict):
    """identity.emails[]: the element of type "primary", else the first."""
    emails = identity.get(EMAILS)
    if not isinstance(emails, list):
        return None, None
    entries = [(i, e) for i, e in enumerate(emails) if isinstance(e, dict)]
    for i, entry in entries:
        if isinstance(entry.get(EMAIL_TYPE), str) and entry[EMAIL_TYPE].strip().lower() == (
            "primary"
        ):
            return i, entry.get(EMAIL_ADDRESS)
    if entries:
        return entries[0][0], entries[0][1].get(EMAIL_ADDRESS)
    return None, None


def _map_identity(row: MappedRow, identity: dict) -> None:
    emails = identity.get(EMAILS)
    if isinstance(emails, list):
        # Every address is kept, in its canonical form where it has one.
        for i, entry in enumerate(emails):
            if isinstance(entry, dict) and isinstance(entry.get(EMAIL_ADDRESS), str):
                canonical, _ = canonical_email(entry[EMAIL_ADDRESS])
                if canonical:
                    emails[i] = {**entry, EMAIL_ADDRESS: canonical}
                    row.addresses.append(canonical)
    index, address = _primary_email(identity)
    if index is not None and address not in (None, ""):
        canonical, reason = canonical_email(address if isinstance(address, str) else "")
        if canonical:
            row.email = canonical
        else:
            row.fix("email", address, f"{reason}; kept in identity.emails, no email set")
    username = identity.get(AD_USERNAME)
    if _fits_username_rule(username):
        row.username = username
    elif isinstance(username, str) and PLACEHOLDER_RE.match(username):
        row.fix("username", username, "the form of a placeholder login name; left empty")
    elif username not in (None, ""):
        row.fix("username", username, "breaks the username rule; left empty")
    _fix_object(row, "identity", identity)


def _map_status(row: MappedRow, status: dict) -> None:
    value = status.get(MEMBERSHIP_STATUS)
    if isinstance(value, str):
        mapped = STATUS_VALUES.get(value.strip().lower())
        if mapped is None:
            del status[MEMBERSHIP_STATUS]
            row.fix(f"status.{MEMBERSHIP_STATUS}", value, "not a known status; left missing")
        else:
            status[MEMBERSHIP_STATUS] = mapped
    elif value is not None:
        del status[MEMBERSHIP_STATUS]
        row.fix(f"status.{MEMBERSHIP_STATUS}", value, "not a known status; left missing")
    _fix_object(row, "status", status)


def _move_stripe_id(row: MappedRow, connections: dict, status) -> None:
    if STRIPE_ID not in connections:
        return
    stripe_id = connections[STRIPE_ID]
    if status is None:
        # A NULL status stays NULL: the id stays where Deep Harbor kept it.
        row.fix(f"connections.{STRIPE_ID}", stripe_id, "kept in connections (status is NULL)")
        return
    if not status.get(STRIPE_CUSTOMER_ID):
        status[STRIPE_CUSTOMER_ID] = stripe_id
        del connections[STRIPE_ID]
    elif status[STRIPE_CUSTOMER_ID] == stripe_id:
        del connections[STRIPE_ID]
    # A different id than the one status holds stays in connections for staff.


def _rename(row: MappedRow, column: str, data: dict) -> None:
    for (renamed_column, old), new in RENAMED.items():
        if renamed_column != column or old not in data:
            continue
        if data.get(new) in (None, ""):
            data[new] = data.pop(old)
        elif data[new] == data[old]:
            del data[old]
        # Both set and different: the shape's key wins, Deep Harbor's stays beside it.


def _map_forms(row: MappedRow, forms: dict, usernames: dict[int, str]) -> None:
    checker = forms.get(ID_CHECK_BY)
    legacy_checker = None
    if isinstance(checker, int) and not isinstance(checker, bool):
        legacy_checker = checker
    elif isinstance(checker, str) and checker.strip().isdigit():
        legacy_checker = int(checker.strip())
    if legacy_checker is not None:
        username = usernames.get(legacy_checker)
        if username:
            forms[ID_CHECK_BY] = username
        else:
            forms[ID_CHECK_BY] = ""
            row.fix(f"forms.{ID_CHECK_BY}", checker, "no username known for that member")
    _fix_object(row, "forms", forms)


def _note_entry(row: MappedRow, entry, i: int) -> dict:
    if isinstance(entry, str):
        return shapes.note_entry(entry, author="", at=None)
    if not isinstance(entry, dict):
        row.fix(f"notes[{i}]", entry, "not a note; kept as its text")
        return shapes.note_entry(str(entry), author="", at=None)
    entry = dict(entry)
    for old, new in OLD_NOTE_KEYS.items():
        if old in entry and new not in entry:
            entry[new] = entry.pop(old)
    return _fix_object(row, "notes", entry, where=f"notes[{i}]")


def _map_notes(row: MappedRow, notes) -> list:
    entries = []
    if isinstance(notes, dict):
        old = notes.get(OLD_NOTES)
        entries = old if isinstance(old, list) else []
        others = {k: v for k, v in notes.items() if k != OLD_NOTES}
        if others or not isinstance(old, list | None):
            row.fix("notes", others or old, "kept as a note")
            entries = [*entries, {NOTE_TEXT: str(others or old)}]
    elif isinstance(notes, list):
        # A list may mix both entry shapes, and the old object form inside it.
        for entry in notes:
            if isinstance(entry, dict) and isinstance(entry.get(OLD_NOTES), list):
                entries.extend(entry[OLD_NOTES])
            else:
                entries.append(entry)
    else:
        row.fix("notes", notes, "kept as a note")
        entries = [str(notes)]
    return [_note_entry(row, entry, i) for i, entry in enumerate(entries)]


def _map_access(row: MappedRow, access: dict) -> None:
    tags = access.get(RFID_TAGS)
    if tags is None:
        return
    if not isinstance(tags, list):
        tags = [tags]
    kept: list[str] = []
    for tag in tags:
        text = str(tag).strip() if isinstance(tag, str | int) and not isinstance(tag, bool) else ""
        form = rfid_tag_form(text)
        if not (form.isascii() and form.isdigit() and len(form) == 10):
            row.fix(f"access.{RFID_TAGS}", tag, "not an RFID tag number; dropped")
        elif form in kept:
            row.fix(f"access.{RFID_TAGS}", tag, "the same tag twice; kept once")
        else:
            kept.append(form)
    access[RFID_TAGS] = kept
    row.tags = kept


class RowError(Exception):
    """A row that cannot be imported at all; the message says why."""


def map_row(raw: dict, *, usernames: dict[int, str] | None = None) -> MappedRow:
    """One Deep Harbor `member` row (a dict of its columns, JSON decoded) mapped.

    usernames: Deep Harbor member id -> username, for forms.id_check_by.
    """
    legacy_id = raw["id"]
    identity = raw.get("identity")
    if not isinstance(identity, dict):
        raise RowError("identity is not a JSON object")
    row = MappedRow(
        legacy_id=legacy_id,
        email="",
        username="",
        columns={},
        date_added=raw.get("date_added"),
    )
    columns = {c: _copy(raw.get(c)) for c in JSON_COLUMNS}
    _flag_non_objects(row, columns)
    for column, value in columns.items():
        if isinstance(value, dict):
            _rename(row, column, value)
    _map_identity(row, columns["identity"])
    _map_columns(row, columns, usernames or {})
    row.columns = columns
    return row


def _flag_non_objects(row: MappedRow, columns: dict) -> None:
    for column in NULLABLE:
        value = columns[column]
        if value is not None and column != "notes" and not isinstance(value, dict):
            # Not what the column holds: kept as it is, for staff to see and fix.
            row.fix(column, None, "not a JSON object; kept as it was")


def _map_columns(row: MappedRow, columns: dict, usernames: dict[int, str]) -> None:
    """The nullable columns after identity, in place; a column that is not an object
    (or for notes: NULL) is left as it is."""
    status = columns["status"] if isinstance(columns["status"], dict) else None
    if isinstance(columns["connections"], dict):
        _move_stripe_id(row, columns["connections"], status)
        _fix_object(row, "connections", columns["connections"])
    if status is not None:
        _map_status(row, status)
    if isinstance(columns["forms"], dict):
        _map_forms(row, columns["forms"], usernames)
    if columns["notes"] is not None:
        columns["notes"] = _map_notes(row, columns["notes"])
    if isinstance(columns["access"], dict):
        _map_access(row, columns["access"])
    for column in ("authorizations", "extras"):
        if isinstance(columns[column], dict):
            _fix_object(row, column, columns[column])


def checker_ids(raw: dict) -> int | None:
    """The Deep Harbor member id in forms.id_check_by, if it holds one."""
    forms = raw.get("forms")
    if not isinstance(forms, dict):
        return None
    checker = forms.get(ID_CHECK_BY)
    if isinstance(checker, int) and not isinstance(checker, bool):
        return checker
    if isinstance(checker, str) and checker.strip().isdigit():
        return int(checker.strip())
    return None


def username_of(identity) -> str:
    """The username a Deep Harbor identity gives its member ('' when none fits)."""
    if isinstance(identity, dict):
        name = identity.get(AD_USERNAME)
        if _fits_username_rule(name):
            return name
    return ""


def _fits_username_rule(name) -> typing.TypeGuard[str]:
    """The signup's username rule, and not `member-<number>`, which only placeholder login
    names use."""
    return (
        isinstance(name, str)
        and USERNAME_RE.fullmatch(name) is not None
        and not PLACEHOLDER_RE.match(name)
    )


def _copy(value):
    # Rows are decoded JSON: plain dicts, lists and scalars.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
