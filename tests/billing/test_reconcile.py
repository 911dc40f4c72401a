"""Stripe reconciliation, pass by pass, against the loopback fake of Stripe's API
(tests/stripe_fake.py): real HTTP through the stripe library, nothing on the network."""

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from billing import reconcile
from billing.models import (
    EventState,
    FindingKind,
    ReconcileFinding,
    ReconcileRun,
    StripeEvent,
    Subscription,
)
from billing.tasks import reconcile_stripe
from members.models import Notification, NotificationKind
from tests import stripe_fake
from tests.billing.stripe_events import checkout_for, deliver, subscribe
from tests.factories import MemberFactory, StaffFactory
from tests.stripe_fake import WEBHOOK_URL, StripeFake, subscription, subscription_event

pytestmark = pytest.mark.django_db

PERIOD_END = 1795592000  # the fixtures' current_period_end


@pytest.fixture
def fake(settings):
    with StripeFake() as fake:
        stripe_fake.configure(settings, fake)
        yield fake


@pytest.fixture
def healthy(fake):
    """A fake Stripe account whose webhook endpoint is as it should be."""
    fake.add_endpoint(WEBHOOK_URL, endpoint_id="we_Healthy")
    return fake


def run(*args) -> str:
    """Run the command; its last line (the summary)."""
    out = io.StringIO()
    call_command("reconcile_stripe", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


def summary(endpoint="ok", applied=0, checked=0, findings=0, fixed=0) -> str:
    return (
        f"endpoint {endpoint}, events applied {applied}, subscriptions checked {checked}, "
        f"findings {findings}, fixed {fixed}"
    )


def findings():
    return {(f.kind, f.stripe_object): f for f in ReconcileFinding.objects.all()}


def subscribed_member(client, *, customer, sub_id, membership="lapsed", created=None):
    """A member whose checkout and subscription.created the webhook got (active now)."""
    member = MemberFactory(membership=membership)
    created = created if created is not None else int(time.time()) - 7200
    subscribe(client, member, customer=customer, sub_id=sub_id, created=created)
    member.refresh_from_db()
    return member


def sources(member, since):
    rows = member.events.order_by("pgh_id")[since:]
    return [row.pgh_context.metadata["source"] for row in rows if row.pgh_context]


# --- 1. endpoint health -------------------------------------------------------------------


def test_it_finds_a_disabled_endpoint_and_one_missing_an_event_type(fake):
    fake.add_endpoint(WEBHOOK_URL, endpoint_id="we_Disabled", status="disabled")
    types = [t for t in reconcile.HANDLED_TYPES if t != "invoice.paid"]
    fake.add_endpoint(WEBHOOK_URL, endpoint_id="we_Partial", enabled_events=types)
    fake.add_endpoint("https://elsewhere.example.org/hook/", status="disabled")

    assert run() == summary("problem", findings=2)

    found = findings()
    assert set(found) == {
        (FindingKind.ENDPOINT_DISABLED, "we_Disabled"),
        (FindingKind.ENDPOINT_EVENTS, "we_Partial"),
    }
    assert "invoice.paid" in found[(FindingKind.ENDPOINT_EVENTS, "we_Partial")].detail
    assert "checkout" not in found[(FindingKind.ENDPOINT_EVENTS, "we_Partial")].detail
    assert all(f.fixed is None for f in found.values())


def test_it_finds_no_endpoint_for_this_site(fake):
    fake.add_endpoint("https://elsewhere.example.org/billing/stripe/webhook/")
    assert run() == summary("problem", findings=1)
    (finding,) = ReconcileFinding.objects.all()
    assert (finding.kind, finding.stripe_object) == (FindingKind.ENDPOINT_MISSING, WEBHOOK_URL)


def test_it_takes_an_endpoint_subscribed_to_every_type_and_reports_ok(fake):
    fake.add_endpoint(WEBHOOK_URL.replace("members", "MEMBERS"), enabled_events=["*"])
    assert run() == summary("ok")
    assert not ReconcileFinding.objects.exists()


def test_it_updates_a_finding_on_later_runs_and_marks_it_fixed_once_gone(fake):
    disabled = fake.add_endpoint(WEBHOOK_URL, endpoint_id="we_Flaky", status="disabled")
    run()
    first = ReconcileFinding.objects.get()
    run()
    again = ReconcileFinding.objects.get()
    assert (again.pk, again.found) == (first.pk, first.found)
    assert again.last_seen > first.last_seen
    assert list(ReconcileFinding.objects.open()) == [again]

    disabled["status"] = "enabled"
    assert run() == summary("ok", fixed=1)
    fixed = ReconcileFinding.objects.get()
    assert fixed.fixed is not None and fixed.last_seen == again.last_seen
    assert not ReconcileFinding.objects.open().exists()

    disabled["status"] = "disabled"  # disabled again: the same finding, open again
    assert run() == summary("problem", findings=1)
    assert ReconcileFinding.objects.get().fixed is None


def test_it_reports_an_endpoint_in_another_api_version(fake):
    fake.add_endpoint(WEBHOOK_URL, endpoint_id="we_Old", api_version="2024-06-20")
    assert run() == summary("problem", findings=1)
    finding = ReconcileFinding.objects.get()
    assert finding.kind == FindingKind.ENDPOINT_VERSION
    assert "2024-06-20" in finding.detail and reconcile.PINNED_API_VERSION in finding.detail


# --- 2. missed events ----------------------------------------------------------------------


def test_it_applies_an_event_the_webhook_never_got_once(client, healthy):
    member = subscribed_member(client, customer="cus_Missed", sub_id="sub_Missed")
    history = member.events.count()
    sub = subscription("sub_Missed", "cus_Missed", status="past_due")
    missed = healthy.add_event(subscription_event("updated", sub, created=int(time.time()) - 600))
    healthy.add_subscription(sub)

    assert run() == summary(applied=1, checked=1, findings=1, fixed=1)

    member.refresh_from_db()
    assert member.status["subscription_status"] == "past_due"
    assert member.status["payment_problem"] is True
    event = StripeEvent.objects.get(stripe_id=missed["id"])
    assert (event.state, event.attempts, event.member_id) == (EventState.PROCESSED, 1, member.pk)
    assert sources(member, history) == ["reconcile"]
    finding = ReconcileFinding.objects.get()
    assert (finding.kind, finding.stripe_object) == (FindingKind.MISSED_EVENT, missed["id"])
    assert finding.member_id == member.pk and finding.fixed is not None

    # The second run lists it again (inside the margin) and applies nothing.
    notes = len(member.notes)
    assert run() == summary(checked=1)
    member.refresh_from_db()
    assert len(member.notes) == notes
    assert StripeEvent.objects.get(stripe_id=missed["id"]).attempts == 1


def test_it_applies_missed_events_oldest_first(client, healthy):
    member = subscribed_member(client, customer="cus_Order", sub_id="sub_Order")
    now = int(time.time())
    canceled = subscription("sub_Order", "cus_Order", status="past_due")
    healthy.add_event(subscription_event("updated", canceled, created=now - 300))
    active = subscription("sub_Order", "cus_Order", status="active")
    healthy.add_event(subscription_event("updated", active, created=now - 100))
    healthy.add_subscription(active)

    assert run() == summary(applied=2, checked=1, findings=2, fixed=2)
    member.refresh_from_db()
    assert member.status["subscription_status"] == "active"
    assert member.status["payment_problem"] is False


def test_it_skips_events_the_webhook_processed_without_a_query_per_event(client, healthy):
    member = MemberFactory(membership="lapsed")
    checkout = checkout_for(member, customer="cus_Got", sub_id="sub_Got")
    assert deliver(client, checkout).status_code == 200
    healthy.add_event(checkout)
    assert run() == summary()
    assert StripeEvent.objects.get(stripe_id=checkout["id"]).attempts == 1
    assert not ReconcileFinding.objects.exists()


def test_it_applies_events_in_another_api_version_and_reports_the_version(client, healthy):
    member = subscribed_member(client, customer="cus_Version", sub_id="sub_Version")
    sub = subscription("sub_Version", "cus_Version", status="past_due")
    healthy.add_event(subscription_event("updated", sub, api_version="2099-01-01.future"))
    healthy.add_subscription(sub)

    assert run() == summary("problem", applied=1, checked=1, findings=2, fixed=1)
    member.refresh_from_db()
    assert member.status["payment_problem"] is True
    version = ReconcileFinding.objects.get(kind=FindingKind.EVENT_VERSION)
    assert version.stripe_object == "2099-01-01.future" and version.fixed is None


def test_it_lists_events_from_the_watermark_less_a_margin(healthy):
    run()
    first = healthy.requests_to("/v1/events")[-1]
    gte = int(dict(first.params)["created[gte]"])
    assert abs(gte - (time.time() - 30 * 86400)) < 60
    assert {v for k, v in first.params if k.startswith("types[")} == set(reconcile.HANDLED_TYPES)

    run()
    watermark = ReconcileRun.objects.order_by("started").first().watermark
    second = dict(healthy.requests_to("/v1/events")[-1].params)
    assert int(second["created[gte]"]) == int((watermark - reconcile.MARGIN).timestamp())


def test_it_lists_from_since_and_only_a_run_covering_the_watermark_moves_it(healthy):
    run()
    watermark = ReconcileRun.objects.get().watermark
    recent = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    run("--since", recent.isoformat())
    params = dict(healthy.requests_to("/v1/events")[-1].params)
    assert int(params["created[gte]"]) == int(recent.timestamp())
    latest = ReconcileRun.objects.order_by("-started").first()
    assert latest.watermark is None  # it did not cover from the last watermark
    assert reconcile.default_since(latest.started) == watermark - reconcile.MARGIN

    run("--since", "2026-11-01")  # a date: midnight, long before the watermark
    params = dict(healthy.requests_to("/v1/events")[-1].params)
    assert int(params["created[gte]"]) == int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    assert ReconcileRun.objects.order_by("-started").first().watermark is not None


@pytest.mark.parametrize(
    "since", ["yesterday", "2026-13-01", "2026-02-30T00:00", "", "9999-01-01", "2026-01-01T25:00"]
)
def test_it_refuses_a_bad_since_in_one_line(healthy, since):
    with pytest.raises(CommandError) as raised:
        run("--since", since)
    assert raised.value.returncode == 2
    assert "--since" in str(raised.value) and "\n" not in str(raised.value)
    assert not healthy.requests and not ReconcileRun.objects.exists()


# --- 3. snapshot -------------------------------------------------------------------------


def test_it_lapses_an_active_member_whose_subscription_was_canceled_with_no_event(client, healthy):
    member = subscribed_member(client, customer="cus_Gone", sub_id="sub_Gone")
    assert member.membership_status == "active"
    history = member.events.count()
    healthy.add_subscription(subscription("sub_Gone", "cus_Gone", status="canceled"))

    assert run() == summary(checked=1, findings=1, fixed=1)

    member.refresh_from_db()
    assert member.membership_status == "lapsed"
    assert member.status["subscription_status"] == "canceled"
    assert Subscription.objects.get(stripe_id="sub_Gone").status == "canceled"
    assert sources(member, history) == ["reconcile"]
    finding = ReconcileFinding.objects.get()
    assert (finding.kind, finding.stripe_object) == (FindingKind.SUBSCRIPTION, "sub_Gone")
    assert "active here, canceled at Stripe" in finding.detail
    assert finding.member_id == member.pk and finding.fixed is not None
    # The member is told, as after a webhook event that lapsed them.
    assert Notification.objects.filter(member=member, kind=NotificationKind.LAPSED).count() == 1
    # In step now: the next run finds nothing.
    assert run() == summary(checked=1)


def test_it_sets_payment_problem_for_a_past_due_one_and_a_later_webhook_still_wins(client, healthy):
    member = subscribed_member(client, customer="cus_Late", sub_id="sub_Late")
    read_at = int(time.time()) - 60
    healthy.clock = read_at  # Stripe's Date on the subscriptions page
    healthy.add_subscription(subscription("sub_Late", "cus_Late", status="past_due"))

    assert run() == summary(checked=1, findings=1, fixed=1)
    member.refresh_from_db()
    assert member.status["payment_problem"] is True
    assert member.membership_status == "active"  # past_due leaves it
    row = Subscription.objects.get(stripe_id="sub_Late")
    assert row.last_event_created == datetime.fromtimestamp(read_at, UTC)

    # An event Stripe created before the read arrives late: older, not applied.
    before = subscription("sub_Late", "cus_Late", status="active")
    deliver(client, subscription_event("updated", before, created=read_at - 5))
    member.refresh_from_db()
    assert member.status["payment_problem"] is True
    # One created after it wins.
    after = subscription("sub_Late", "cus_Late", status="active")
    deliver(client, subscription_event("updated", after, created=read_at + 5))
    member.refresh_from_db()
    assert member.status["payment_problem"] is False


def test_it_repairs_a_period_end_and_a_member_who_drifted_from_the_row(client, healthy):
    member = subscribed_member(client, customer="cus_Drift", sub_id="sub_Drift")
    later = PERIOD_END + 30 * 86400
    healthy.add_subscription(subscription("sub_Drift", "cus_Drift", period_end=later))
    assert run() == summary(checked=1, findings=1, fixed=1)
    member.refresh_from_db()
    assert member.status["renewal_date"] == datetime.fromtimestamp(later, UTC).date().isoformat()

    # Staff (or a bug) changed the member, not the row: still a difference.
    member.status["subscription_status"] = "unpaid"
    member.save()
    assert run() == summary(checked=1, findings=1, fixed=1)
    member.refresh_from_db()
    assert member.status["subscription_status"] == "active"


def test_it_does_not_repair_a_customer_mismatch(client, healthy):
    member = subscribed_member(client, customer="cus_Mine", sub_id="sub_Mixed")
    healthy.add_subscription(subscription("sub_Mixed", "cus_Theirs", status="canceled"))
    assert run() == summary(checked=1, findings=1)
    finding = ReconcileFinding.objects.get()
    assert (finding.kind, finding.member_id) == (FindingKind.CUSTOMER, member.pk)
    assert finding.fixed is None
    member.refresh_from_db()
    assert member.membership_status == "active"


def test_it_records_subscriptions_of_unknown_customers_as_orphans(client, healthy):
    healthy.add_subscription(subscription("sub_Orphan", "cus_Stranger"))
    healthy.add_subscription(subscription("sub_Orphan2", "cus_Nobody", status="canceled"))

    assert run() == summary(checked=2)

    orphans = {s.stripe_id: s for s in Subscription.objects.all()}
    assert set(orphans) == {"sub_Orphan", "sub_Orphan2"}
    assert all(s.member_id is None for s in orphans.values())
    assert orphans["sub_Orphan"].status == "active"
    assert orphans["sub_Orphan"].customer_id == "cus_Stranger"
    assert not ReconcileFinding.objects.exists()
    assert run() == summary(checked=2)  # nothing more to store

    # The checkout that was to come links it and applies it.
    member = MemberFactory(membership="lapsed")
    deliver(client, checkout_for(member, customer="cus_Stranger", sub_id="sub_Orphan"))
    member.refresh_from_db()
    assert member.membership_status == "active"
    assert Subscription.objects.get(stripe_id="sub_Orphan").member_id == member.pk


def test_it_links_an_orphan_whose_customer_a_member_holds(client, healthy):
    healthy.add_subscription(subscription("sub_Unlinked", "cus_Held"))
    run()  # stored as an orphan
    member = MemberFactory(membership="lapsed")
    member.status.update(stripe_customer_id="cus_Held", stripe_subscription_id="")
    member.save()
    assert run() == summary(checked=1, findings=1, fixed=1)
    assert Subscription.objects.get(stripe_id="sub_Unlinked").member_id == member.pk
    member.refresh_from_db()
    assert member.membership_status == "active"


def test_it_reads_three_pages_and_more_of_subscriptions(healthy):
    for n in range(250):
        healthy.add_subscription(subscription(f"sub_Page{n:03d}", f"cus_Page{n:03d}", created=n))
    assert run() == summary(checked=250)
    pages = healthy.requests_to("/v1/subscriptions")
    assert len(pages) == 3
    params = [dict(page.params) for page in pages]
    assert all(p["status"] == "all" and p["limit"] == "100" for p in params)
    assert [p.get("starting_after") for p in params] == [None, "sub_Page150", "sub_Page050"]
    assert Subscription.objects.count() == 250


# --- dry run -------------------------------------------------------------------------------


def test_it_changes_nothing_in_a_dry_run_but_reports(client, fake):
    fake.add_endpoint(WEBHOOK_URL, endpoint_id="we_Off", status="disabled")
    member = subscribed_member(client, customer="cus_Dry", sub_id="sub_Dry")
    missed = fake.add_event(
        subscription_event("updated", subscription("sub_Dry", "cus_Dry", status="past_due"))
    )
    fake.add_subscription(subscription("sub_Dry", "cus_Dry", status="canceled"))
    fake.add_subscription(subscription("sub_Stranger", "cus_Stranger"))
    before = (member.status, len(member.notes), member.events.count())

    assert run("--dry-run") == summary("problem", checked=2, findings=3)

    member.refresh_from_db()
    assert (member.status, len(member.notes), member.events.count()) == before
    assert not StripeEvent.objects.filter(stripe_id=missed["id"]).exists()
    assert set(Subscription.objects.values_list("stripe_id", flat=True)) == {"sub_Dry"}
    assert set(findings()) == {
        (FindingKind.ENDPOINT_DISABLED, "we_Off"),
        (FindingKind.MISSED_EVENT, missed["id"]),
        (FindingKind.SUBSCRIPTION, "sub_Dry"),
    }
    assert ReconcileFinding.objects.open().count() == 3
    dry = ReconcileRun.objects.get()
    assert dry.dry_run and dry.watermark is None

    # The real run fixes what it can; the endpoint is staff's to fix at Stripe.
    assert run() == summary("problem", applied=1, checked=2, findings=3, fixed=2)
    member.refresh_from_db()
    assert member.membership_status == "lapsed"
    assert set(ReconcileFinding.objects.open().values_list("kind", flat=True)) == {
        FindingKind.ENDPOINT_DISABLED
    }


# --- the command, the job, admin ---------------------------------------------------------------


def test_it_runs_hourly_as_a_job_only_when_a_key_is_set(healthy, settings):
    from procrastinate.contrib.django import app

    periodic = {task.task.name for task in app.periodic_registry.periodic_tasks.values()}
    assert reconcile_stripe.name in periodic

    settings.STRIPE_SECRET_KEY = ""
    assert reconcile_stripe(timestamp=0).startswith("not configured")
    assert not healthy.requests
    settings.STRIPE_SECRET_KEY = healthy.api_key
    assert reconcile_stripe(timestamp=0) == summary()
    assert ReconcileRun.objects.count() == 1


def test_it_lists_findings_in_admin_with_kind_and_state_filters(client, fake):
    fake.add_endpoint(WEBHOOK_URL, endpoint_id="we_Admin", status="disabled")
    run()
    ReconcileFinding.objects.create(
        kind=FindingKind.MISSED_EVENT,
        stripe_object="evt_Fixed",
        detail="applied <b>bold</b>",
        found=datetime.now(UTC) - timedelta(days=1),
        last_seen=datetime.now(UTC),
        fixed=datetime.now(UTC),
    )
    client.force_login(StaffFactory())
    url = reverse("admin:billing_reconcilefinding_changelist")
    everything = client.get(url)
    assert everything.status_code == 200
    assert b"we_Admin" in everything.content and b"evt_Fixed" in everything.content
    assert b"<b>bold</b>" not in everything.content
    open_only = client.get(url, {"state": "open"})
    assert b"we_Admin" in open_only.content and b"evt_Fixed" not in open_only.content
    fixed = client.get(url, {"state": "fixed", "kind": FindingKind.MISSED_EVENT})
    assert b"evt_Fixed" in fixed.content and b"we_Admin" not in fixed.content
    finding = ReconcileFinding.objects.get(stripe_object="we_Admin")
    detail = client.get(reverse("admin:billing_reconcilefinding_change", args=[finding.pk]))
    assert detail.status_code == 200
    runs = client.get(reverse("admin:billing_reconcilerun_changelist"))
    assert runs.status_code == 200 and b"endpoint problem" in runs.content


def test_it_does_not_run_twice_at_once(healthy):
    from django.db import connections

    holder = connections.create_connection("default")  # another session holds the lock
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [reconcile.RUN_LOCK])
        assert run() == "another reconciliation is running; nothing done"
        assert not healthy.requests and not ReconcileRun.objects.exists()
    finally:
        holder.close()
