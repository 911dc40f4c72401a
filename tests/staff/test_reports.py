"""/admin/reports/: who may see it, counts that add up (cross-checked with SQL written
here), the month series read from history written on known dates, the funnel's chosen
period, bad input answered with a message, and each report's CSV."""

import csv
import datetime
import io

import pytest
from django.test import Client

from members.models import ErasureRequest, Member
from signup.models import SignupStart
from staff import report_figures
from tests.factories import (
    DoorEventFactory,
    MemberFactory,
    PlanFactory,
    StaffFactory,
    SubscriptionFactory,
    UserFactory,
)
from tests.reports_seed import (
    events_dated,
    odd_members,
    reports_staff,
    set_status,
    sql_one,
    sql_status_counts,
)

URL = "/admin/reports/"
REPORTS = ("status", "status_by_month", "funnel", "plans", "lapses", "partial", "visits")

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def csv_of(client, report: str, **params) -> list[list[str]]:
    return csv_rows(client.get(URL, {"report": report, "format": "csv", **params}))


@pytest.fixture
def staff_client(client):
    client.force_login(reports_staff())
    return client


# --- who may see it ---------------------------------------------------------------------


def test_it_shows_the_reports_to_staff_with_the_permission_only(client):
    MemberFactory()
    client.force_login(reports_staff())
    page = client.get(URL)
    assert page.status_code == 200
    assert [report.name for report, _ in page.context["shown"]] == list(REPORTS)

    client.force_login(UserFactory(is_staff=True))  # staff without the right
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"report": "status", "format": "csv"}).status_code == 403


def test_it_sends_an_anonymous_visitor_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_it_links_the_reports_from_the_admin_index_for_those_who_may_see_them(client):
    client.force_login(reports_staff())
    assert 'href="/admin/reports/"' in client.get("/admin/").content.decode()
    client.force_login(UserFactory(is_staff=True))
    assert 'href="/admin/reports/"' not in client.get("/admin/").content.decode()


# --- status now ---------------------------------------------------------------------------


def test_it_counts_every_member_row_once_by_status(staff_client):
    odd_members()
    expected = sql_status_counts()
    assert expected["unknown"] == 6  # two odd values, NULL, no key, JSON null, a list
    assert expected["erased"] == 1 and expected["merged"] == 1

    rows = csv_of(staff_client, "status")
    assert rows[0] == ["status", "members"]
    counted = {label: int(n) for label, n in rows[1:]}
    total = sql_one("SELECT count(*) FROM members_member")
    assert counted.pop("all member rows") == total
    assert counted == expected
    assert sum(counted.values()) == total


# --- the month series, from history on known dates -----------------------------------


def _history_world():
    """Four members whose history is written on known dates (see the expectations)."""
    a = MemberFactory(membership="pending")
    set_status(a, "active")
    set_status(a, "lapsed")
    events_dated(a, utc(2025, 3, 10), utc(2025, 5, 2), utc(2026, 2, 14, 12))

    b = MemberFactory(membership="pending")
    Member.objects.filter(pk=b.pk).update(status=None)
    set_status(b, "active")
    events_dated(b, utc(2026, 5, 31, 23), utc(2026, 6, 1), utc(2026, 7, 3))

    c = MemberFactory(membership="active")
    Member.objects.filter(pk=c.pk).update(merged_into=a)
    events_dated(c, utc(2026, 1, 5), utc(2026, 9, 9))

    d = MemberFactory(membership="active")
    set_status(d, "lapsed")  # after the erasure: not read
    events_dated(d, utc(2025, 12, 25), utc(2026, 11, 1))
    ErasureRequest.objects.create(member=d, erased_at=utc(2026, 10, 15))
    return a, b, c, d


def test_it_reads_members_by_status_at_each_months_end_from_the_history(staff_client):
    _history_world()
    rows = report_figures.status_by_month(now=utc(2026, 12, 6))
    by_month = {
        row[0]: dict(zip(report_figures.STATUS_LABELS, row[1:-1], strict=True)) for row in rows
    }
    assert len(rows) == 24
    assert rows[0][0] == "2025-01" and rows[-1][0] == "2026-12 (now)"

    def shown(month):
        return {label: n for label, n in by_month[month].items() if n}

    assert shown("2025-02") == {}
    assert shown("2025-03") == {"pending": 1}
    assert shown("2025-05") == {"active": 1}
    assert shown("2025-12") == {"active": 2}  # a, d
    assert shown("2026-01") == {"active": 3}  # a, c, d
    assert shown("2026-02") == {"lapsed": 1, "active": 2}
    assert shown("2026-05") == {"lapsed": 1, "active": 2, "pending": 1}  # b's insert, 31 May
    assert shown("2026-06") == {"lapsed": 1, "active": 2, "unknown": 1}
    assert shown("2026-07") == {"lapsed": 1, "active": 3}
    assert shown("2026-09") == {"lapsed": 1, "active": 2, "merged": 1}
    # d erased on 15 October; its status change of 1 November comes after: not read.
    assert shown("2026-10") == {"lapsed": 1, "active": 1, "merged": 1, "erased": 1}
    assert shown("2026-12 (now)") == shown("2026-10")
    # Each month adds up to its total column.
    assert all(sum(row[1:-1]) == row[-1] for row in rows)


def test_it_ends_the_month_series_where_the_status_report_stands_now(staff_client):
    odd_members()
    _history_world()
    series = csv_of(staff_client, "status_by_month")
    now = {label: int(n) for label, n in csv_of(staff_client, "status")[1:]}
    header, last = series[0], series[-1]
    assert header == ["month", *report_figures.STATUS_LABELS, "all member rows"]
    assert last[0].endswith("(now)")
    assert dict(zip(header[1:], map(int, last[1:]), strict=True)) == now


def test_it_counts_lapses_per_month_from_the_history(staff_client):
    _history_world()
    lapses = dict(report_figures.lapses_by_month(now=utc(2026, 12, 6)))
    # a lapsed in February 2026; d's lapse came after its erasure.
    assert {month: n for month, n in lapses.items() if n} == {"2026-02": 1}


def test_it_counts_partial_members_at_each_weeks_end_from_the_history(staff_client):
    member = MemberFactory(notes=None)  # partial from its insert
    Member.objects.filter(pk=member.pk).update(notes=[])  # repaired
    events_dated(member, utc(2026, 11, 10), utc(2026, 11, 25))  # Tue, Wed
    complete = MemberFactory()
    events_dated(complete, utc(2026, 11, 3))
    weeks = dict(report_figures.partial_by_week(now=utc(2026, 12, 6)))
    assert weeks["week of 2026-11-02"] == 0
    assert weeks["week of 2026-11-09"] == 1
    assert weeks["week of 2026-11-16"] == 1
    assert weeks["week of 2026-11-23"] == 0
    assert len(weeks) == 26


# --- the funnel, plans, visits ----------------------------------------------------------------


def test_it_counts_the_funnel_within_the_chosen_days(staff_client):
    inside, before = utc(2026, 3, 10, 9), utc(2026, 2, 28, 23)
    for at, new in ((inside, True), (inside, True), (inside, False), (before, True)):
        purpose = "continue" if new else "already_registered"
        SignupStart.objects.create(started_at=at, purpose=purpose)
    created = MemberFactory(membership="pending")
    set_status(created, "active")
    events_dated(created, inside, inside + datetime.timedelta(days=3))
    Member.objects.filter(pk=created.pk).update(date_added=inside)
    old = MemberFactory(membership="active")
    Member.objects.filter(pk=old.pk).update(date_added=before)
    events_dated(old, before, before)
    SubscriptionFactory(member=created)
    Member.objects.exclude(pk__in=[created.pk, old.pk]).delete()

    rows = csv_of(staff_client, "funnel", start="2026-03-01", end="2026-03-31")
    assert rows[0] == ["step", "count"]
    counts = dict(rows[1:])
    assert counts["Signups started (step 1, new address)"] == "2"
    assert counts["Member rows created"] == "1"
    assert counts["Activated (pending to active)"] == "1"
    paid = sql_one(
        "SELECT count(*) FROM (SELECT member_id, min(date_added) AS f FROM billing_subscription"
        " WHERE member_id IS NOT NULL GROUP BY 1) s WHERE f >= %s AND f < %s",
        [utc(2026, 3, 1), utc(2026, 4, 1)],
    )
    assert counts["Paid (a subscription linked)"] == str(paid)
    # The same days, one earlier: February holds the other signup and member.
    february = dict(csv_of(staff_client, "funnel", start="2026-02-01", end="2026-02-28")[1:])
    assert february["Signups started (step 1, new address)"] == "1"
    assert february["Member rows created"] == "1"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-13-01"}, "From: Enter a valid date."),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "must start on or before"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "three years or less"),
        ({"report": "nonsense"}, "There is no report named"),
        (
            {"report": "status", "format": "xml"},
            "A download needs ?report=&lt;name&gt;&amp;format=csv.",
        ),
        ({"format": "csv"}, "A download needs ?report=&lt;name&gt;&amp;format=csv."),
        ({"start": "\x00"}, "From: Enter a valid date."),
    ],
)
def test_it_answers_bad_input_with_a_message(staff_client, params, message):
    response = staff_client.get(URL, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_it_counts_active_members_per_plan(staff_client):
    plan = PlanFactory(stripe_product_id="prod_Basic", name="Basic")
    PlanFactory(stripe_product_id="prod_Empty", name="Nobody on it")
    for _ in range(2):
        member = MemberFactory(membership="active")
        member.status["stripe_product_id"] = plan.stripe_product_id
        member.save()
    stray = MemberFactory(membership="active")
    stray.status["stripe_product_id"] = "prod_Unknown"
    stray.save()
    MemberFactory(membership="active")  # no product
    lapsed = MemberFactory(membership="lapsed")
    lapsed.status["stripe_product_id"] = plan.stripe_product_id
    lapsed.save()
    rows = csv_of(staff_client, "plans")
    assert rows[0] == ["plan", "members"]
    counts = {plan: int(n) for plan, n in rows[1:]}
    assert counts == {"Basic": 2, "product prod_Unknown": 1, "no plan (no Stripe product)": 1}
    active = sql_one(
        "SELECT count(*) FROM members_member WHERE merged_into_id IS NULL"
        " AND lower(status ->> 'membership_status') = 'active'"
    )
    assert sum(counts.values()) == active


def test_it_counts_door_entries_per_day_and_by_hour_of_the_week(staff_client):
    today = datetime.datetime.now(datetime.UTC).replace(hour=18, minute=5, second=0, microsecond=0)
    long_ago = today - datetime.timedelta(days=40)
    for at, granted in ((today, True), (today, True), (today, False), (long_ago, True)):
        DoorEventFactory(at=at, granted=granted)
    rows = csv_of(staff_client, "visits")
    assert rows[0] == ["figure", "day", "granted entries", "refused entries"]
    per_day = [row for row in rows[1:] if row[0].startswith("Door entries per day")]
    by_hour = [row for row in rows[1:] if row[0].startswith("Door entries by hour")]
    assert len(per_day) == 30 and len(by_hour) == 7 * 24
    assert per_day[-1][1:] == [f"{today:%Y-%m-%d}", "2", "1"]
    assert sum(int(row[2]) for row in per_day) == 2  # the 40-day-old entry is out
    slot = f"{today:%a} 18:00"
    assert [row[2:] for row in by_hour if row[1] == slot] == [["2", "1"]]


def test_it_gives_every_report_as_csv_with_its_tables_rows(staff_client):
    odd_members()
    page = staff_client.get(URL)
    for report, figures in page.context["shown"]:
        rows = csv_of(staff_client, report.name)
        several = len(figures) > 1
        shown = [
            [*([figure.title] if several else []), *map(str, row)]
            for _, figure, _, _ in figures
            for row in figure.rows + ([figure.total] if figure.total else [])
        ]
        assert rows[1:] == shown, report.name


def test_it_draws_each_figure_as_an_svg_chart_with_its_table(staff_client):
    odd_members()
    html = staff_client.get(URL).content.decode()
    figures = sum(len(f) for _, f in staff_client.get(URL).context["shown"])
    assert html.count('<svg class="chart ') == figures
    assert html.count('role="img"') == figures
    assert html.count("<table") == figures
    assert 'class="chart-bar"' in html and 'class="chart-line series-0"' in html
    assert "<script>" not in html and "style=" not in html


def test_it_lets_a_superuser_see_the_reports(client):
    client.force_login(StaffFactory())
    assert client.get(URL).status_code == 200


def test_it_counts_a_step_one_with_a_new_address_as_a_signup_started(staff_client):
    MemberFactory(email="held@example.org")
    visitor = Client()
    for email in ("new@example.org", "held@example.org"):
        assert visitor.post("/signup/", {"email": email}).status_code == 302
    today = f"{datetime.date.today():%Y-%m-%d}"
    counts = dict(csv_of(staff_client, "funnel", start=today, end=today)[1:])
    assert counts["Signups started (step 1, new address)"] == "1"
