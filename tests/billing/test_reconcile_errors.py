"""Bad answers from Stripe: retried where that makes sense, then reported in one line
(exit status 1); a run never applies half an event and keeps what it did before."""

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing import reconcile
from billing.models import (
    EventState,
    FindingKind,
    ReconcileFinding,
    ReconcileRun,
    StripeEvent,
    Subscription,
)
from tests import stripe_fake
from tests.billing.stripe_events import subscribe
from tests.dburl import test_database_url
from tests.factories import MemberFactory
from tests.stripe_fake import WEBHOOK_URL, StripeFake, subscription, subscription_event

pytestmark = pytest.mark.django_db

ENDPOINTS = "/v1/webhook_endpoints"
ROOT = Path(__file__).resolve().parents[2]
SUMMARY = (
    r"endpoint (ok|problem), events applied \d+, subscriptions checked \d+, "
    r"findings \d+, fixed \d+\n"
)


@pytest.fixture
def fake(settings, monkeypatch):
    # Short waits, the same retry counts: a timeout is 0.5 s, a 429 backoff 10 ms.
    monkeypatch.setattr(reconcile, "TIMEOUT", 0.5)
    monkeypatch.setattr(reconcile, "RATE_LIMIT_WAIT", 0.01)
    with StripeFake(hang=1.5) as fake:
        stripe_fake.configure(settings, fake)
        fake.add_endpoint(WEBHOOK_URL)
        yield fake


def run(*args) -> str:
    out = io.StringIO()
    call_command("reconcile_stripe", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


def unreadable(*args) -> str:
    """Run the command expecting exit status 1; its error line."""
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert raised.value.returncode == 1
    return str(raised.value)


def manage(fake, *args, key=None):
    """`manage.py reconcile_stripe` in a process of its own, on this test's database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dhportal.settings_test",
        "DATABASE_URL": test_database_url(),
        "STRIPE_API_BASE": fake.url,
        "STRIPE_SECRET_KEY": key or fake.api_key,
        "SITE_URL": stripe_fake.SITE_URL,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "reconcile_stripe", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_it_exits_0_1_or_2_with_one_line_and_no_traceback(fake):
    ok = manage(fake)
    assert (ok.returncode, ok.stderr) == (0, "")
    # (Its SITE_URL is the test settings' own, so the endpoint may well be a problem.)
    assert re.fullmatch(SUMMARY, ok.stdout)

    refused = manage(fake, key="rk_test_revoked_key_abcdef0123456789")
    assert refused.returncode == 1
    assert refused.stderr == (
        "CommandError: Stripe could not be read: Stripe refused the key (401): "
        "check STRIPE_SECRET_KEY.\n"
    )
    assert refused.stdout.startswith("endpoint problem, events applied 0,")
    assert "revoked" not in refused.stdout + refused.stderr
    failed = ReconcileRun.objects.order_by("-started").first()
    assert failed.error.startswith("Stripe refused the key") and failed.watermark is None

    bad = manage(fake, "--since", "last tuesday")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.count("\n") == 1 and "--since" in bad.stderr
    assert "Traceback" not in ok.stderr + refused.stderr + bad.stderr


@pytest.mark.parametrize(
    ("kind", "requests", "message"),
    [
        ("401", 1, "Stripe refused the key (401)"),
        ("403", 1, "it needs read access to webhook endpoints, events, subscriptions"),
        ("429", 1 + reconcile.RATE_LIMIT_RETRIES, "still rate limited (429)"),
        ("500", 1 + reconcile.MAX_NETWORK_RETRIES, "Stripe answered 500 after 3 retries"),
        ("timeout", 1 + reconcile.MAX_NETWORK_RETRIES, "(timeout or connection error)"),
        ("malformed", 1, "Stripe's answer was not JSON (200)"),
        ("bad_version", 1, "Stripe answered 400: Invalid Stripe API version"),
    ],
)
def test_it_retries_what_may_pass_then_reports_each_bad_answer(fake, kind, requests, message):
    fake.fail(kind, times=100, path=ENDPOINTS)
    error = unreadable()
    assert error.startswith("Stripe could not be read: ") and message in error
    assert "\n" not in error
    assert len(fake.requests_to(ENDPOINTS)) == requests
    assert not fake.requests_to("/v1/events")  # stopped at the first pass it could not read
    assert ReconcileRun.objects.get().watermark is None


@pytest.mark.parametrize(("kind", "times"), [("429", 3), ("500", 1), ("timeout", 1)])
def test_it_gets_through_a_passing_failure(fake, kind, times):
    for n in range(150):
        fake.add_subscription(subscription(f"sub_Pass{n:03d}", f"cus_Pass{n:03d}", created=n))
    fake.fail(kind, times=times, path="/v1/subscriptions", skip=1)  # the second page
    assert run() == (
        "endpoint ok, events applied 0, subscriptions checked 150, findings 0, fixed 0"
    )
    assert len(fake.requests_to("/v1/subscriptions")) == 2 + times
    assert Subscription.objects.count() == 150
    assert ReconcileRun.objects.get().watermark is not None


def test_it_applies_no_event_when_the_event_list_breaks_halfway(fake):
    now = int(time.time())
    for n in range(150):
        sub = subscription(f"sub_Half{n:03d}", f"cus_Half{n:03d}")
        fake.add_event(subscription_event("created", sub, created=now - 1000 + n))
    fake.fail("500", times=100, path="/v1/events", skip=1)

    assert "Stripe answered 500" in unreadable()
    assert not StripeEvent.objects.exists()
    assert not fake.requests_to("/v1/subscriptions")

    fake.failures.clear()
    assert run().startswith("endpoint ok, events applied 0, subscriptions checked 0")
    # Unmatched (no member has these customers), stored for the checkouts to come.
    assert StripeEvent.objects.filter(state=EventState.UNMATCHED).count() == 150


def test_it_keeps_repairs_made_before_stripe_broke_and_starts_over_next_time(client, fake):
    member = MemberFactory(membership="lapsed")
    subscribe(client, member, customer="cus_Early", sub_id="sub_Early", created=int(time.time()))
    fake.add_subscription(subscription("sub_Early", "cus_Early", status="canceled", created=999))
    for n in range(120):
        fake.add_subscription(subscription(f"sub_Rest{n:03d}", f"cus_Rest{n:03d}", created=n))
    fake.fail("401", times=100, path="/v1/subscriptions", skip=1)

    unreadable()
    member.refresh_from_db()
    assert member.membership_status == "lapsed"  # the first page's repair is kept
    finding = ReconcileFinding.objects.get(kind=FindingKind.SUBSCRIPTION)
    assert finding.fixed is not None
    assert ReconcileRun.objects.get().watermark is None

    fake.failures.clear()
    run()
    first, second = (int(dict(r.params)["created[gte]"]) for r in fake.requests_to("/v1/events"))
    assert abs(second - first) < 60  # both from Stripe's 30 days: no watermark yet
    assert Subscription.objects.count() == 121


def test_it_never_crashes_on_odd_objects_in_a_list(fake):
    fake.add_subscription({"id": "sub_Bare", "object": "subscription"})
    fake.add_subscription({"id": "sub_Odd", "customer": {"id": 5}, "status": 7, "items": "x"})
    fake.add_subscription({"object": "subscription"})  # no id
    fake.add_event({"id": "evt_NoData", "object": "event", "type": "invoice.paid"})
    assert run() == "endpoint ok, events applied 0, subscriptions checked 3, findings 0, fixed 0"
    assert set(Subscription.objects.values_list("stripe_id", flat=True)) == {"sub_Bare", "sub_Odd"}
    assert not StripeEvent.objects.exists()


def test_it_reports_a_list_that_is_not_a_list(fake):
    fake.fail("not_a_list", path="/v1/events")
    assert "answered a list request with something else" in unreadable()
    assert not fake.requests_to("/v1/subscriptions")
