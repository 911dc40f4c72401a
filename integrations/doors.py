"""Door events (README, "The door controller's side"): a batch checked and stored in one
statement, matched to the member holding the tag, kept once per key and event id; the
monthly partitions of their table and retention.

Storage. `integrations_doorevent` is partitioned by month of `at` (UTC). Each month's
indexes are small; its primary key (at, id) is the time index the entry log's newest
page reads backwards, and retention drops whole months instead of deleting row by row.
Measured against one table with a BRIN index on `at`, on 1,000,000 events
(bench/door_storage.py): the entry log's newest page took 5 ms against 634 ms (BRIN
cannot give rows in order, so every row was sorted), a door or "refused" filter 1 ms
against 120-150 ms, a month's retention 23 ms against 118 ms, and inserts ran at the
same rate (25,600 against 24,500 a second). A month is made the first time an event of
it arrives (and ahead of time by the daily job); the receipts table keeps "once per key
and event id", which a partitioned table cannot.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from integrations.models import DoorEvent, DoorEventReceipt
from members.models import RfidTag
from members.rfid import rfid_tag_form

logger = logging.getLogger(__name__)

MAX_EVENTS = 1000
MAX_TEXT = 100
MAX_TAG = 32
# A controller's clock may run a little ahead; a day ahead is a wrong clock.
MAX_AHEAD = datetime.timedelta(days=1)
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
EVENT_KEYS = ("id", "door", "tag", "at", "granted")
DEFAULT_RETENTION_DAYS = 365
# Months made ahead by the daily job, so the first event of a month waits for nothing.
MONTHS_AHEAD = 2

EVENT_TABLE = DoorEvent._meta.db_table
RECEIPT_TABLE = DoorEventReceipt._meta.db_table
TAG_TABLE = RfidTag._meta.db_table


# --- checking a batch -------------------------------------------------------------


class BatchError(ValueError):
    """The batch is refused (400) and nothing is written; `index` is the event's."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


class BatchTooLarge(BatchError):
    """More than MAX_EVENTS events (413)."""


@dataclass(frozen=True)
class Incoming:
    event_id: str
    door: str
    tag: str  # its 10-digit form
    at: datetime.datetime
    granted: bool


def _text(event: dict, name: str, index: int, longest: int) -> str:
    value = event[name]
    if not isinstance(value, str):
        raise BatchError(f"{name} is a string.", index)
    if not value.strip():
        raise BatchError(f"{name} is empty.", index)
    if len(value) > longest:
        raise BatchError(f"{name} is longer than {longest} characters.", index)
    if not value.isprintable():
        raise BatchError(f"{name} holds a character that cannot be printed.", index)
    return value


def _time(value, index: int, now: datetime.datetime) -> datetime.datetime:
    if not isinstance(value, str):
        raise BatchError("at is an ISO 8601 string with an offset.", index)
    try:
        at = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BatchError("at is not an ISO 8601 time.", index) from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise BatchError("at has no offset (add Z or +hh:mm).", index)
    try:
        at = at.astimezone(datetime.UTC)
    except OverflowError:
        raise BatchError("at is out of range.", index) from None
    if at < EARLIEST:
        raise BatchError("at is before 2000: is the door's clock set?", index)
    if at > now + MAX_AHEAD:
        raise BatchError("at is more than a day ahead: is the door's clock set?", index)
    return at


def _event(event, index: int, now: datetime.datetime) -> Incoming:
    if not isinstance(event, dict):
        raise BatchError("An event is an object.", index)
    if len(event) != len(EVENT_KEYS) or any(k not in event for k in EVENT_KEYS):
        missing = [k for k in EVENT_KEYS if k not in event]
        if missing:
            raise BatchError(f"The event has no {', '.join(missing)}.", index)
        unknown = sorted(k for k in event if k not in EVENT_KEYS)
        raise BatchError(f"Unknown key {json.dumps(unknown[0])}.", index)
    if not isinstance(event["granted"], bool):
        raise BatchError("granted is true or false.", index)
    return Incoming(
        event_id=_text(event, "id", index, MAX_TEXT),
        door=_text(event, "door", index, MAX_TEXT).strip(),
        tag=rfid_tag_form(_text(event, "tag", index, MAX_TAG)),
        at=_time(event["at"], index, now),
        granted=event["granted"],
    )


def parse_batch(body: bytes) -> list[Incoming]:
    """A POSTed body's events, or BatchError (BatchTooLarge) saying what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BatchError("The body is not JSON.") from None
    if not isinstance(data, dict) or list(data) != ["events"]:
        raise BatchError('The body is an object with one key, "events".')
    events = data["events"]
    if not isinstance(events, list):
        raise BatchError('"events" is a list.')
    if len(events) > MAX_EVENTS:
        raise BatchTooLarge(f"At most {MAX_EVENTS} events in one request.")
    now = timezone.now()
    return [_event(event, index, now) for index, event in enumerate(events)]


# --- partitions ---------------------------------------------------------------------


def month_of(at: datetime.datetime) -> datetime.date:
    at = at.astimezone(datetime.UTC)
    return datetime.date(at.year, at.month, 1)


def _next_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: datetime.date) -> str:
    return f"{EVENT_TABLE}_{month:%Y_%m}"


_known_months: set[datetime.date] = set()
_known_lock = threading.Lock()


def ensure_partitions(months) -> None:
    """Make the monthly partitions these months need (a no-op for known ones)."""
    with _known_lock:
        wanted = sorted(set(months) - _known_months)
    if not wanted:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        # A month that exists needs no lock: making one locks the whole table a moment.
        cursor.execute(
            "SELECT m FROM unnest(%s::text[]) AS m WHERE to_regclass(m) IS NULL",
            [[partition_name(month) for month in wanted]],
        )
        missing = {row[0] for row in cursor.fetchall()}
        if missing:
            # One maker at a time: two would race on CREATE TABLE IF NOT EXISTS.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [EVENT_TABLE])
        for month in (m for m in wanted if partition_name(m) in missing):
            start = datetime.datetime.combine(month, datetime.time(), datetime.UTC)
            end = datetime.datetime.combine(_next_month(month), datetime.time(), datetime.UTC)
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{partition_name(month)}" PARTITION OF'
                f' "{EVENT_TABLE}" FOR VALUES FROM (%s) TO (%s)',
                [start, end],
            )
    with _known_lock:
        _known_months.update(wanted)


def forget_partitions() -> None:
    """After partitions were dropped (retention, a test's flush), check again."""
    with _known_lock:
        _known_months.clear()


def partitions() -> dict[datetime.date, str]:
    """The monthly partitions that exist: month -> table name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass",
            [EVENT_TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    prefix = f"{EVENT_TABLE}_"
    for name in names:
        year, _, month = name.removeprefix(prefix).partition("_")
        if year.isdigit() and month.isdigit():
            found[datetime.date(int(year), int(month), 1)] = name
    return found


# --- storing a batch ----------------------------------------------------------------

# One statement: the receipts not yet held are taken (ON CONFLICT DO NOTHING waits for
# a concurrent insert of the same receipt and then skips it, so two copies of a batch
# sent at once store it once), and exactly those events are stored, each with the
# member holding its tag now. An id repeated inside a batch counts once. The batch
# travels as one JSON array of [id, door, tag, at, granted] (PostgreSQL parses it
# faster than the driver adapts five arrays).
_RECORD_SQL = f"""
WITH incoming AS (
    SELECT e ->> 0 AS event_id, e ->> 1 AS door, e ->> 2 AS tag,
           (e ->> 3)::timestamptz AS at, (e ->> 4)::boolean AS granted, n
    FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS x(e, n)
), fresh AS (
    INSERT INTO {RECEIPT_TABLE} (key_id, event_id, at)
    SELECT %(key)s, event_id, at FROM incoming ORDER BY n
    ON CONFLICT (key_id, event_id) DO NOTHING
    RETURNING event_id
), stored AS (
    INSERT INTO {EVENT_TABLE} (key_id, event_id, door, tag, at, granted, member_id, received_at)
    SELECT %(key)s, e.event_id, e.door, e.tag, e.at, e.granted, t.member_id, now()
    FROM (SELECT DISTINCT ON (event_id) * FROM incoming ORDER BY event_id, n) AS e
    JOIN fresh USING (event_id)
    LEFT JOIN {TAG_TABLE} AS t ON t.tag = e.tag
    ORDER BY e.n
    RETURNING 1
)
SELECT count(*) FROM stored
"""  # noqa: S608 - constant SQL from fixed names


@dataclass(frozen=True)
class Recorded:
    received: int
    new: int

    @property
    def duplicates(self) -> int:
        return self.received - self.new

    def as_json(self) -> dict:
        return {"received": self.received, "new": self.new, "duplicates": self.duplicates}


def _insert(key_id: int | None, events: list[Incoming]) -> int:
    rows = [[e.event_id, e.door, e.tag, e.at.isoformat(), e.granted] for e in events]
    params = {"key": key_id, "events": json.dumps(rows)}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
        return cursor.fetchone()[0]


def door_events_record(*, key_id: int | None, events: list[Incoming]) -> Recorded:
    """Store the events this key (None: the Deep Harbor import) has not sent before;
    one transaction, all or nothing."""
    if not events:
        return Recorded(0, 0)
    ensure_partitions(month_of(e.at) for e in events)
    try:
        new = _insert(key_id, events)
    except DatabaseError as error:
        # A month this process thought it had was dropped meanwhile (retention):
        # make it again, once.
        if "no partition" not in str(error):
            raise
        forget_partitions()
        ensure_partitions(month_of(e.at) for e in events)
        new = _insert(key_id, events)
    return Recorded(received=len(events), new=new)


# --- Deep Harbor's door log ---------------------------------------------------------

# Deep Harbor's member_access_log rows come in as events of no key, with these ids.
IMPORT_PREFIX = "dh-"


def imported_through() -> int:
    """The highest Deep Harbor log id imported so far (0: none): a rerun of the import
    reads only the rows above it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT max(substring(event_id from %s)::bigint) FROM {RECEIPT_TABLE}"  # noqa: S608
            " WHERE key_id IS NULL AND event_id ~ %s",
            [len(IMPORT_PREFIX) + 1, f"^{IMPORT_PREFIX}[0-9]{{1,18}}$"],
        )
        return cursor.fetchone()[0] or 0


def door_events_import(*, events: list[Incoming]) -> int:
    """Store Deep Harbor's door log rows (ids IMPORT_PREFIX + its id) not stored yet;
    the number stored."""
    return door_events_record(key_id=None, events=events).new


# --- retention ----------------------------------------------------------------------


def retention_days() -> int:
    return int(getattr(settings, "DOOR_EVENT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


@dataclass(frozen=True)
class Pruned:
    months_dropped: int
    events_deleted: int


def door_events_prune(*, now: datetime.datetime | None = None) -> Pruned:
    """Forget events older than DOOR_EVENT_RETENTION_DAYS: months wholly before the
    cutoff are dropped, the rest of the cutoff's month deleted row by row, with their
    receipts; then the coming months are made."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=retention_days())
    dropped = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            for month, name in sorted(partitions().items()):
                end = datetime.datetime.combine(_next_month(month), datetime.time(), datetime.UTC)
                if end <= cutoff:
                    cursor.execute(f'DROP TABLE "{name}"')
                    dropped += 1
        deleted, _ = DoorEvent.objects.filter(at__lt=cutoff).delete()
        DoorEventReceipt.objects.filter(at__lt=cutoff).delete()
    forget_partitions()
    month = month_of(now)
    coming = [month]
    for _ in range(MONTHS_AHEAD):
        coming.append(_next_month(coming[-1]))
    ensure_partitions(coming)
    logger.info("Door events pruned: %s months dropped, %s events deleted", dropped, deleted)
    return Pruned(months_dropped=dropped, events_deleted=deleted)


# --- reading ------------------------------------------------------------------------


def presence_hours() -> int:
    return int(getattr(settings, "PRESENCE_HOURS", 12))


def present(*, now: datetime.datetime | None = None):
    """Who is here: each member with a granted entry in the last PRESENCE_HOURS hours,
    with their latest such entry, newest first."""
    since = (now or timezone.now()) - datetime.timedelta(hours=presence_hours())
    latest = (
        DoorEvent.objects.filter(granted=True, member__isnull=False, at__gte=since)
        .order_by("member_id", "-at", "-id")
        .distinct("member_id")
        .values("id")
    )
    return (
        DoorEvent.objects.filter(at__gte=since, id__in=latest)
        .select_related("member")
        .order_by("-at", "-id")
    )


def unknown_granted_count(*, now: datetime.datetime | None = None) -> int:
    """Granted entries in the same hours with a tag no member held."""
    since = (now or timezone.now()) - datetime.timedelta(hours=presence_hours())
    return DoorEvent.objects.filter(granted=True, member__isnull=True, at__gte=since).count()
