"""The members app's reports and gauges (README "Reports and metrics"), registered from
StaffConfig.ready() into dhportal/reports.py: members by status now and at each month's
end (from the audit history), lapses per month, partial members per week, the funnel's
"members created" and "activated", and the gauges of members, partial members, failed
notifications and jobs.

Every member row is counted once: `erased` (an approved erasure), then `merged` (merged
into another record), then its membership status, trimmed and lower-cased; a missing,
null or unrecognised status is `unknown`. So the counts add up to every member row."""

import datetime
from collections import Counter
from collections.abc import Iterable

from django.apps import apps
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from dhportal import reports
from dhportal.jobs import job_counts
from dhportal.reports import ChartKind, Figure, Period
from members.models import ErasureRequest, Member, Notification, NotificationState
from members.partial import MEMBERSHIP_STATUS, PARTIAL_Q
from members.shapes import MemberStatus

UNKNOWN, MERGED, ERASED = "unknown", "merged", "erased"
# Every label of `status`, in the order shown (and the gauge's label values).
STATUS_LABELS = (*MemberStatus.values, UNKNOWN, MERGED, ERASED)
MONTHS = 24
WEEKS = 26
HISTORY_SECONDS = 300  # see "from the audit history" below
SORT_MEMORY = "128MB"
_LIVE_STATUS = f"lower(btrim(h.status ->> '{MEMBERSHIP_STATUS}'))"
# The event's label but erased, the expression read once per row (a simple CASE).
STATUS_SQL = (
    f"CASE WHEN h.merged_into_id IS NOT NULL THEN '{MERGED}' ELSE CASE {_LIVE_STATUS} "
    + " ".join(f"WHEN '{s}' THEN '{s}'" for s in MemberStatus.values)
    + f" ELSE '{UNKNOWN}' END END"
)


def _member_event():
    return apps.get_model("members", "MemberEvent")


def _erased_sql() -> str:
    table = ErasureRequest._meta.db_table
    return (
        f"SELECT member_id, min(erased_at) AS at FROM {table}"  # noqa: S608 - fixed names
        " WHERE erased_at IS NOT NULL GROUP BY member_id"
    )


# --- status now --------------------------------------------------------------------------


def status_counts() -> dict[str, int]:
    """Members by label now; the values add up to every member row."""
    sql = (
        f"SELECT CASE WHEN x.member_id IS NOT NULL THEN '{ERASED}' ELSE {STATUS_SQL} END,"  # noqa: S608
        f" count(*) FROM {Member._meta.db_table} AS h"
        f" LEFT JOIN ({_erased_sql()}) AS x ON x.member_id = h.id GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        found = dict(cursor.fetchall())
    return {label: found.get(label, 0) for label in STATUS_LABELS}


def _status_figure(period: Period) -> list[Figure]:
    counts = status_counts()
    rows = [(label, counts[label]) for label in STATUS_LABELS]
    total = ("all member rows", sum(counts.values()))
    return [Figure("Members by status now", ("status", "members"), rows, total=total)]


# --- from the audit history ----------------------------------------------------------------
# One pass over the history per state (status, partial) gives each member row's changes
# of state, counted by UTC day; the month and week series, the lapses and the funnel's
# activations are all summed from it in Python. A pass reads every history row, so its
# result is kept in the cache for HISTORY_SECONDS: history already written does not
# change, and the current month or week is at most that much behind.


def _partial_sql() -> tuple[str, list]:
    """members/partial.py's condition over a history row, as the ORM writes it."""
    Event = _member_event()
    query = Event.objects.filter(PARTIAL_Q).order_by().values("pgh_id").query
    sql, params = query.sql_with_params()
    where = sql.split(" WHERE ", 1)[1]
    table = connection.ops.quote_name(Event._meta.db_table)
    return where.replace(f"{table}.", "h."), list(params)


def _changes(state_sql: str, params: list, *, erased: bool) -> list[tuple]:
    """(UTC day, state, state before, n): each member row's changes of state in the
    history, one per event whose state differs from the row's previous event (`before`
    is None for the row's first). With `erased`, an approved erasure is a change to
    `erased` at its time, and the row's later events are not read."""
    table = _member_event()._meta.db_table
    events = (
        f"SELECT h.pgh_obj_id AS id, h.pgh_created_at AS at, h.pgh_id AS seq, {state_sql}"  # noqa: S608
        f" AS state FROM {table} AS h WHERE h.pgh_label IN ('insert', 'update')"
    )
    if erased:
        # An anti-join on the few erased rows (a join would hash the whole history).
        events = (
            f"SELECT e.* FROM ({events}) AS e"  # noqa: S608 - fixed names
            " WHERE NOT EXISTS (SELECT 1 FROM erased AS x WHERE x.member_id = e.id"
            " AND e.at >= x.at)"
            f" UNION ALL SELECT member_id, at, 9223372036854775807, '{ERASED}' FROM erased"
        )
    sql = (
        f"WITH erased AS ({_erased_sql()}), ev AS ({events}),"  # noqa: S608 - fixed names
        " steps AS (SELECT at, state, lag(state) OVER (PARTITION BY id ORDER BY at, seq)"
        " AS before FROM ev)"
        " SELECT date_trunc('day', at), state, before, count(*) FROM steps"
        " WHERE before IS DISTINCT FROM state GROUP BY 1, 2, 3 ORDER BY 1"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # The window sorts every history row: in memory, not in temporary files.
        cursor.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _cached(key: str, compute):
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, HISTORY_SECONDS)
    return found


def status_changes() -> list[tuple]:
    return _cached("reports:status-changes", lambda: _changes(STATUS_SQL, [], erased=True))


def partial_changes() -> list[tuple]:
    def compute():
        where, params = _partial_sql()
        state = f"CASE WHEN {where} THEN 'partial' ELSE 'complete' END"
        return _changes(state, params, erased=False)

    return _cached("reports:partial-changes", compute)


def _month_starts(count: int, now: datetime.datetime) -> list[datetime.datetime]:
    """The first instants of the last `count` months and of the month after them."""
    month = now.astimezone(datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [(month + datetime.timedelta(days=32)).replace(day=1), month]
    for _ in range(count - 1):
        month = (month - datetime.timedelta(days=1)).replace(day=1)
        starts.append(month)
    return starts[::-1]


def _week_starts(count: int, now: datetime.datetime) -> list[datetime.datetime]:
    """The Mondays starting the last `count` weeks and the week after them."""
    day = now.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = day - datetime.timedelta(days=day.weekday())
    return [monday - datetime.timedelta(weeks=n) for n in range(count - 1, -2, -1)]


def series_at_ends(changes: Iterable[tuple], ends: list[datetime.datetime]) -> list[Counter]:
    """The count of each state just before each of `ends`, from the changes."""
    counts: Counter = Counter()
    changes = list(changes)
    position = 0
    series = []
    for end in ends:
        while position < len(changes) and changes[position][0] < end:
            _, state, before, n = changes[position]
            counts[state] += n
            if before is not None:
                counts[before] -= n
            position += 1
        series.append(Counter(counts))
    return series


def status_by_month(now: datetime.datetime | None = None) -> list[tuple]:
    """(month, count per STATUS_LABELS…, all rows) at the end of each of the last 24
    months (the current month: now)."""
    starts = _month_starts(MONTHS, now or timezone.now())
    series = series_at_ends(status_changes(), starts[1:])
    rows = []
    for index, (start, counts) in enumerate(zip(starts, series, strict=False)):
        values = [counts[label] for label in STATUS_LABELS]
        label = f"{start:%Y-%m}" + (" (now)" if index == MONTHS - 1 else "")
        rows.append((label, *values, sum(values)))
    return rows


def _changes_between(changes, start, end, *, to: str, after: tuple[str | None, ...] = ()) -> int:
    """How many changes to `to` (from one of `after`, if given; never a row's first
    state) fall within [start, end)."""
    return sum(
        n
        for day, state, before, n in changes
        if start <= day < end
        and state == to
        and before is not None
        and (not after or before in after)
    )


def lapses_by_month(now: datetime.datetime | None = None) -> list[tuple]:
    """(month, lapses): member rows whose status became `lapsed` from another status."""
    starts = _month_starts(MONTHS, now or timezone.now())
    lapses: Counter = Counter()
    for day, state, before, n in status_changes():
        if state == MemberStatus.LAPSED and before is not None and starts[0] <= day < starts[-1]:
            lapses[day.strftime("%Y-%m")] += n
    return [(f"{start:%Y-%m}", lapses[f"{start:%Y-%m}"]) for start in starts[:-1]]


def partial_by_week(now: datetime.datetime | None = None) -> list[tuple]:
    """(week, partial members at its end): the partial condition (members/partial.py)
    applied to each row's history."""
    starts = _week_starts(WEEKS, now or timezone.now())
    series = series_at_ends(partial_changes(), starts[1:])
    return [
        (f"week of {start:%Y-%m-%d}", counts["partial"])
        for start, counts in zip(starts, series, strict=False)
    ]


def _status_by_month_figure(period: Period) -> list[Figure]:
    columns = ("month", *STATUS_LABELS, "all member rows")
    title = "Members by status at each month's end"
    return [Figure(title, columns, status_by_month(), ChartKind.LINES, uncharted=columns[-1:])]


def _lapses_figure(period: Period) -> list[Figure]:
    return [Figure("Lapses per month", ("month", "lapses"), lapses_by_month())]


def _partial_figure(period: Period) -> list[Figure]:
    return [
        Figure("Partial members at each week's end", ("week", "partial members"), partial_by_week())
    ]


# --- the funnel ------------------------------------------------------------------------------


def members_created(start: datetime.datetime, end: datetime.datetime) -> int:
    return Member.objects.filter(date_added__gte=start, date_added__lt=end).count()


def members_activated(start: datetime.datetime, end: datetime.datetime) -> int:
    """Member rows whose status went from pending to active within [start, end) (the
    days of the history, in UTC)."""
    return _changes_between(
        status_changes(), start, end, to=MemberStatus.ACTIVE, after=(MemberStatus.PENDING,)
    )


def _funnel_figure(period: Period) -> list[Figure]:
    start, end = period.bounds()
    rows = [(step.label, step.count(start, end)) for step in reports.funnel_steps()]
    title = f"From {period.first:%Y-%m-%d} to {period.last:%Y-%m-%d}"
    return [Figure(title, ("step", "count"), rows)]


# --- gauges ------------------------------------------------------------------------------------


def _members_gauge() -> list[reports.Sample]:
    return [((label,), float(n)) for label, n in status_counts().items()]


def _failed_notifications() -> list[reports.Sample]:
    return [((), float(Notification.objects.filter(state=NotificationState.FAILED).count()))]


def register_member_reports() -> None:
    register = reports.register_report
    register(
        "status",
        "Members by status",
        counts="Every member row once: erased, then merged, then its membership status; a"
        " missing or unrecognised status is unknown.",
        build=_status_figure,
        order=10,
    )
    register(
        "status_by_month",
        "Members by status, month by month",
        counts="The same counts at the end of each of the last 24 months, read from the audit"
        " history of each member row (the current month: now).",
        build=_status_by_month_figure,
        order=20,
    )
    register(
        "funnel",
        "Signup funnel",
        counts="Within the chosen days: signups started (step 1 with a new address), member"
        " rows created, members who paid (a subscription linked) and members activated"
        " (their status changed from pending to active).",
        build=_funnel_figure,
        order=30,
        takes_period=True,
    )
    register(
        "lapses",
        "Lapses",
        counts="Member rows whose status became lapsed, per month (last 24 months).",
        build=_lapses_figure,
        order=50,
    )
    register(
        "partial",
        "Partial members",
        counts="Partial member rows (a missing piece, see Repairs) at the end of each of the"
        " last 26 weeks, read from the audit history.",
        build=_partial_figure,
        order=60,
    )
    reports.register_funnel_step("created", "Member rows created", count=members_created, order=20)
    reports.register_funnel_step(
        "activated", "Activated (pending to active)", count=members_activated, order=40
    )
    reports.register_gauge(
        "dhportal_members",
        "Member rows by status (each status, unknown, merged, erased); they add up to every row.",
        labels=("status",),
        collect=_members_gauge,
    )
    reports.register_gauge(
        "dhportal_partial_members",
        "Partial member rows.",
        collect=lambda: [((), float(Member.objects.partial().count()))],
    )
    reports.register_gauge(
        "dhportal_failed_notifications",
        "Lifecycle notifications that failed.",
        collect=_failed_notifications,
    )
    reports.register_gauge(
        "dhportal_jobs",
        "Background jobs by queue and state.",
        labels=("queue", "state"),
        collect=job_counts,
    )
