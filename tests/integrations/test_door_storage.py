"""Where door events are kept (integrations/doors.py): one partition per month, made as
events arrive; the entry log's newest page read through the time index; retention by
DOOR_EVENT_RETENTION_DAYS, daily."""

import datetime

import pytest
from django.db import connection
from procrastinate.contrib.django import app

from integrations import doors
from integrations.models import DoorEvent, DoorEventReceipt
from integrations.tasks import prune_door_events
from tests.factories import DoorEventFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 15, 12, tzinfo=datetime.UTC)


def incoming(n: int, at: datetime.datetime) -> doors.Incoming:
    return doors.Incoming(f"ev-{n}", "front", "0000012345", at, True)


def record(*events) -> int:
    return doors.door_events_record(key_id=None, events=list(events)).new


def test_it_makes_the_month_of_an_event_when_it_first_arrives():
    record(incoming(1, datetime.datetime(2024, 2, 29, 23, 59, tzinfo=datetime.UTC)))
    record(incoming(2, datetime.datetime(2024, 3, 1, tzinfo=datetime.UTC)))

    made = doors.partitions()
    assert made[datetime.date(2024, 2, 1)] == "integrations_doorevent_2024_02"
    assert made[datetime.date(2024, 3, 1)] == "integrations_doorevent_2024_03"
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id FROM integrations_doorevent_2024_02")
        assert cursor.fetchall() == [("ev-1",)]


def test_it_makes_a_month_again_when_one_it_knew_was_dropped_meanwhile():
    at = datetime.datetime(2023, 5, 5, tzinfo=datetime.UTC)
    record(incoming(1, at))
    with connection.cursor() as cursor:
        # Another process's retention run dropped it; this one still thinks it exists.
        cursor.execute('DROP TABLE "integrations_doorevent_2023_05"')

    assert record(incoming(2, at)) == 1
    assert list(DoorEvent.objects.values_list("event_id", flat=True)) == ["ev-2"]


def test_it_reads_the_newest_page_through_the_time_index():
    for days in (1, 40, 80):
        DoorEventFactory(at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days))
    page = DoorEvent.objects.order_by("-at", "-id")[:100]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            sql, params = page.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            shown = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "Sort" not in shown.split("->")[0]
    assert "Index Scan Backward" in shown
    assert "_pkey" in shown  # each month's primary key (at, id)


def test_it_forgets_events_older_than_the_retention(settings):
    settings.DOOR_EVENT_RETENTION_DAYS = 30
    cutoff = NOW - datetime.timedelta(days=30)
    record(
        incoming(1, datetime.datetime(2026, 3, 31, tzinfo=datetime.UTC)),  # a month wholly older
        incoming(2, cutoff - datetime.timedelta(minutes=1)),  # the cutoff's month, older
        incoming(3, cutoff + datetime.timedelta(minutes=1)),  # the cutoff's month, newer
        incoming(4, NOW),
    )

    pruned = doors.door_events_prune(now=NOW)

    assert pruned.months_dropped == 1
    assert pruned.events_deleted == 1
    assert sorted(DoorEvent.objects.values_list("event_id", flat=True)) == ["ev-3", "ev-4"]
    assert sorted(DoorEventReceipt.objects.values_list("event_id", flat=True)) == ["ev-3", "ev-4"]
    made = doors.partitions()
    assert datetime.date(2026, 3, 1) not in made
    # The coming months are made ahead, so their first event waits for nothing.
    for month in (6, 7, 8):
        assert datetime.date(2026, month, 1) in made


def test_it_prunes_daily_by_default_after_a_year(settings):
    assert settings.DOOR_EVENT_RETENTION_DAYS == 365
    periodic = {task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["integrations.tasks.prune_door_events"] == "17 4 * * *"
    now = datetime.datetime.now(datetime.UTC)
    record(
        incoming(1, now - datetime.timedelta(days=366)),
        incoming(2, now - datetime.timedelta(days=364)),
    )

    prune_door_events(timestamp=int(now.timestamp()))

    assert list(DoorEvent.objects.values_list("event_id", flat=True)) == ["ev-2"]
