"""Deep Harbor's door log (RFID2DB's `member_access_log`: tag, board, access point,
granted, time) as door events: each row becomes the event `dh-<id>` of no key, stored
through integrations' door-event service, matched to the member holding its tag in its
10-digit form (never Deep Harbor's substring match, which gave tag 12345 to whoever
held 0001234567). A rerun reads only the rows above the highest id imported, and stores
none twice. Rows older than DOOR_EVENT_RETENTION_DAYS are not imported (retention would
drop them the next day)."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.utils import timezone

from integrations import doors
from legacy import source
from members.rfid import rfid_tag_form

UNKNOWN_DOOR = "unknown door"


def _text(value) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def door_of(row: dict) -> str:
    """The board and the access point, as one door name."""
    parts = [_text(row["board"]), _text(row["access_point"])]
    door = " / ".join(part for part in parts if part)
    return door[: doors.MAX_TEXT] or UNKNOWN_DOOR


def event_of(row: dict) -> doors.Incoming:
    """One log row as a door event; ValueError when its time is missing."""
    at = row["time"]
    if not isinstance(at, datetime.datetime):
        raise ValueError("no time")
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    tag = _text(row["tag"])
    return doors.Incoming(
        event_id=f"{doors.IMPORT_PREFIX}{row['id']}",
        door=door_of(row),
        tag=rfid_tag_form(tag)[: doors.MAX_TAG],
        at=at,
        granted=row["granted"] is True,
    )


def import_door_log(
    conn: source.Source, *, batch_size: int, read, report: Callable[[str], None]
) -> int:
    """Import the log rows not imported yet; the number of events stored. `read` runs
    a read of the source (turning its failure into a SourceError)."""
    if not read(source.has_access_log, conn):
        return 0
    cutoff = timezone.now() - datetime.timedelta(days=doors.retention_days())
    stored = too_old = 0
    batches = source.access_log_batches(conn, batch_size, after=doors.imported_through())
    while (rows := read(next, batches, None)) is not None:
        events = []
        for row in rows:
            try:
                event = event_of(row)
            except ValueError as error:
                report(f"door log id {row['id']}: not imported: {error}")
                continue
            if event.at < cutoff:
                too_old += 1
                continue
            events.append(event)
        stored += doors.door_events_import(events=events)
    if too_old:
        report(
            f"{too_old} door log rows older than DOOR_EVENT_RETENTION_DAYS"
            f" ({doors.retention_days()}) not imported"
        )
    return stored
