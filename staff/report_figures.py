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
from django.db import connection
from django.db.models import Case, CharField, Q, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from dhportal import reports
from dhportal.jobs import job_counts
from dhportal.reports import ChartKind, Figure, Period
from members.models import ErasureRequest, Member, Notification, NotificationState
from members.partial import PARTIAL_Q
from members.shapes import MemberStatus

UNKNOWN, MERGED, ERASED = "unknown", "merged", "erased"
# Every label of `status`, in the order shown (and the gauge's label values).
STATUS_LABELS = (*MemberStatus.values, UNKNOWN, MERGED, ERASED)
MONTHS = 24
WEEKS = 26


def _member_event():
    return apps.get_model("members", "MemberEvent")


def _status_case(prefix: str = "") -> Case:
    """The row's label but `erased` (which comes from the erasure requests); `ms` is the
    trimmed, lower-cased membership status aliased by _with_status."""
    return Case(
        When(Q(**{f"{prefix}merged_into__isnull": False}), then=Value(MERGED)),
        *(When(Q(ms=s), then=Value(s)) for s in MemberStatus.values),
        default=Value(UNKNOWN),
        output_field=CharField(),
    )


def _with_status(queryset, prefix: str = ""):
    status = Lower(Trim(KT(f"{prefix}status__membership_status")))
    return queryset.alias(ms=status).annotate(state=_status_case(prefix))


def _erased_sql() -> str:
    table = ErasureRequest._meta.db_table
    return (
        f"SELECT member_id, min(erased_at) AS at FROM {table}"  # noqa: S608 - fixed names
        " WHERE erased_at IS NOT NULL GROUP BY member_id"
    )


# --- status now --------------------------------------------------------------------------


def status_counts() -> dict[str, int]:
    """Members by label now; the values add up to every member row."""
    inner, params = _with_status(Member.objects.all()).values("id", "state").query.sql_with_params()
    sql = (
        f"SELECT CASE WHEN x.member_id IS NOT NULL THEN %s ELSE m.state END, count(*)"  # noqa: S608
        f" FROM ({inner}) AS m LEFT JOIN ({_erased_sql()}) AS x ON x.member_id = m.id"
        " GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ERASED, *params])
        found = dict(cursor.fetchall())
    return {label: found.get(label, 0) for label in STATUS_LABELS}


def _status_figure(period: Period) -> list[Figure]:
    counts = status_counts()
    rows = [(label, counts[label]) for label in STATUS_LABELS]
    total = ("all member rows", sum(counts.values()))
    return [Figure("Members by status now", ("status", "members"), rows, total=total)]


# --- from the audit history ----------------------------------------------------------------


def _changes(state_queryset, *, erased: bool, bucket: str) -> list[tuple]:
    """(bucket start, state, state before, n): each member row's changes of state in
    the history, one per event whose state differs from the row's previous event
    (`before` is None for the row's first). With `erased`, an approved erasure is a
    change to `erased` at its time, and the row's later events are not read."""
    inner, params = state_queryset.values(
        "pgh_obj_id", "pgh_created_at", "pgh_id", "state"
    ).query.sql_with_params()
    events = (
        "SELECT pgh_obj_id AS id, pgh_created_at AS at, pgh_id AS seq, state"  # noqa: S608
        f" FROM ({inner}) AS e"
    )
    if erased:
        events = (
            f"SELECT e.* FROM ({events}) AS e"  # noqa: S608 - the ORM's SQL, fixed names
            " LEFT JOIN erased AS x ON x.member_id = e.id"
            " WHERE x.at IS NULL OR e.at < x.at"
            " UNION ALL SELECT member_id, at, 9223372036854775807, %s FROM erased"
        )
        params = (*params, ERASED)
    sql = (
        f"WITH erased AS ({_erased_sql()}), ev AS ({events}),"  # noqa: S608 - fixed names
        " steps AS (SELECT at, state, lag(state) OVER (PARTITION BY id ORDER BY at, seq)"
        " AS before FROM ev)"
        f" SELECT date_trunc('{bucket}', at), state, before, count(*) FROM steps"
        " WHERE before IS DISTINCT FROM state GROUP BY 1, 2, 3 ORDER BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _history_events():
    Event = _member_event()
    return Event.objects.filter(pgh_label__in=("insert", "update"))


def _status_changes() -> list[tuple]:
    return _changes(_with_status(_history_events()), erased=True, bucket="month")


def _month_starts(count: int, now: datetime.datetime) -> list[datetime.datetime]:
    month = now.astimezone(datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [month]
    for _ in range(count - 1):
        month = (month - datetime.timedelta(days=1)).replace(day=1)
        starts.append(month)
    return starts[::-1]


def _week_starts(count: int, now: datetime.datetime) -> list[datetime.datetime]:
    day = now.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = day - datetime.timedelta(days=day.weekday())
    return [monday - datetime.timedelta(weeks=n) for n in range(count - 1, -1, -1)]


def series_at_ends(changes: Iterable[tuple], starts: list[datetime.datetime]) -> list[Counter]:
    """The count of each state at the end of each period starting at `starts`, from the
    changes bucketed by period start."""
    counts: Counter = Counter()
    changes = list(changes)
    position = 0
    series = []
    for start in starts:
        while position < len(changes) and changes[position][0] <= start:
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
    now = now or timezone.now()
    starts = _month_starts(MONTHS, now)
    series = series_at_ends(_status_changes(), starts)
    rows = []
    for index, (start, counts) in enumerate(zip(starts, series, strict=True)):
        values = [counts[label] for label in STATUS_LABELS]
        label = f"{start:%Y-%m}" + (" (now)" if index == len(starts) - 1 else "")
        rows.append((label, *values, sum(values)))
    return rows


def lapses_by_month(now: datetime.datetime | None = None) -> list[tuple]:
    """(month, lapses): member rows whose status became `lapsed` from another status."""
    now = now or timezone.now()
    starts = _month_starts(MONTHS, now)
    lapses: Counter = Counter()
    for bucket, state, before, n in _status_changes():
        if state == MemberStatus.LAPSED and before is not None:
            lapses[bucket] += n
    return [(f"{start:%Y-%m}", lapses[start]) for start in starts]


def partial_by_week(now: datetime.datetime | None = None) -> list[tuple]:
    """(week, partial members at its end): the partial condition (members/partial.py)
    applied to each row's history."""
    now = now or timezone.now()
    events = _history_events().annotate(
        state=Case(
            When(PARTIAL_Q, then=Value("partial")),
            default=Value("complete"),
            output_field=CharField(),
        )
    )
    starts = _week_starts(WEEKS, now)
    series = series_at_ends(_changes(events, erased=False, bucket="week"), starts)
    return [
        (f"week of {start:%Y-%m-%d}", counts["partial"])
        for start, counts in zip(starts, series, strict=True)
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
    """Member rows whose status was `active` for the first time within [start, end)."""
    Event = _member_event()
    sql = (
        "SELECT count(*) FROM (SELECT min(pgh_created_at) AS first"  # noqa: S608 - fixed names
        f" FROM {Event._meta.db_table}"
        " WHERE lower(btrim(status ->> 'membership_status')) = %s GROUP BY pgh_obj_id) AS f"
        " WHERE first >= %s AND first < %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [MemberStatus.ACTIVE.value, start, end])
        return cursor.fetchone()[0]


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
        " (active for the first time).",
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
    reports.register_funnel_step("activated", "Activated", count=members_activated, order=40)
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
