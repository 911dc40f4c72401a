"""integrations' reports and gauges (dhportal/reports.py, README "Reports and
metrics"): door entries per day and by hour of the week, dead feed deliveries and the
door events of the last hour."""

import datetime

from django.db import connection
from django.utils import timezone

from dhportal import reports
from dhportal.reports import Figure, Period
from integrations.models import Delivery, DoorEvent

DAYS = 30
WEEKS = 12
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _counts(sql_bucket: str, since: datetime.datetime, until: datetime.datetime | None) -> dict:
    """{bucket: (granted, refused)} of the door events in [since, until) (no end: from
    `since` on), by a SQL expression of `at` (in UTC)."""
    sql = (
        f"SELECT {sql_bucket} AS b, count(*) FILTER (WHERE granted),"  # noqa: S608 - fixed
        " count(*) FILTER (WHERE NOT granted)"
        f" FROM {DoorEvent._meta.db_table} WHERE at >= %s AND (%s::timestamptz IS NULL OR at < %s)"
        " GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [since, until, until])
        return {bucket: (granted, refused) for bucket, granted, refused in cursor.fetchall()}


def entries_per_day(now: datetime.datetime | None = None) -> list[tuple]:
    """(day, granted, refused) for the last 30 days (UTC), today included."""
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    first = today - datetime.timedelta(days=DAYS - 1)
    since = datetime.datetime.combine(first, datetime.time(), datetime.UTC)
    found = _counts("(at AT TIME ZONE 'UTC')::date", since, since + datetime.timedelta(days=DAYS))
    days = [first + datetime.timedelta(days=n) for n in range(DAYS)]
    return [(f"{day:%Y-%m-%d}", *found.get(day, (0, 0))) for day in days]


def entries_by_hour_of_week(now: datetime.datetime | None = None) -> list[tuple]:
    """(weekday and hour, granted, refused) over the last 12 weeks (UTC). The database
    counts by hour (a cheap truncation of each row); the hours fold into the week here."""
    until = now or timezone.now()
    found = _counts("date_trunc('hour', at)", until - datetime.timedelta(weeks=WEEKS), until)
    week: dict[int, tuple[int, int]] = {}
    for hour, (granted, refused) in found.items():
        at = hour.astimezone(datetime.UTC)
        slot = at.weekday() * 24 + at.hour
        before = week.get(slot, (0, 0))
        week[slot] = (before[0] + granted, before[1] + refused)
    return [
        (f"{WEEKDAYS[slot // 24]} {slot % 24:02d}:00", *week.get(slot, (0, 0)))
        for slot in range(7 * 24)
    ]


def _visits_figures(period: Period) -> list[Figure]:
    columns = ("when", "granted entries", "refused entries")
    return [
        Figure(f"Door entries per day, last {DAYS} days", ("day", *columns[1:]), entries_per_day()),
        Figure(
            f"Door entries by hour of the week, last {WEEKS} weeks",
            ("hour of the week", *columns[1:]),
            entries_by_hour_of_week(),
        ),
    ]


def door_events_last_hour() -> list[reports.Sample]:
    since = timezone.now() - datetime.timedelta(hours=1)
    # A controller's clock a little ahead still counts: no end.
    found = _counts("true", since, None).get(True, (0, 0))
    return [(("granted",), float(found[0])), (("refused",), float(found[1]))]


def register_integration_reports() -> None:
    reports.register_report(
        "visits",
        "Visits",
        counts=f"Door events per day (last {DAYS} days) and by hour of the week (last {WEEKS}"
        " weeks), granted and refused, in UTC; the chart shows the granted ones.",
        build=_visits_figures,
        order=70,
    )
    reports.register_gauge(
        "dhportal_dead_deliveries",
        "Change-feed deliveries that failed for good.",
        collect=lambda: [((), float(Delivery.objects.dead().count()))],
    )
    reports.register_gauge(
        "dhportal_door_events_last_hour",
        "Door events in the last hour, granted and refused.",
        labels=("result",),
        collect=door_events_last_hour,
    )
