"""A reconciliation run is bounded (billing/reconcile.py): a deadline for the whole run,
against an API that hangs, and a page limit per list, against one that always answers
`has_more: true`. Either stops the run (exit status 1, the watermark kept) and files a
finding; a later whole run marks it fixed."""

import io
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import FindingKind, ReconcileFinding, ReconcileRun, StripeEvent
from tests import stripe_fake
from tests.stripe_fake import WEBHOOK_URL, StripeFake

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    # The library's own timeouts and retries (60 s reads, 3 retries): only the run's
    # bounds, lowered here, keep these tests short.
    settings.STRIPE_RECONCILE_DEADLINE = 2
    settings.STRIPE_RECONCILE_MAX_PAGES = 5
    with StripeFake(hang=30) as fake:
        stripe_fake.configure(settings, fake)
        fake.add_endpoint(WEBHOOK_URL)
        yield fake


def stopped() -> str:
    """Run the command expecting it to stop (exit status 1); its error line."""
    with pytest.raises(CommandError) as raised:
        call_command("reconcile_stripe", stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 1
    return str(raised.value)


def run_whole() -> None:
    out = io.StringIO()
    call_command("reconcile_stripe", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("endpoint ok")


def test_it_stops_at_its_deadline_when_stripe_hangs(fake):
    fake.fail("timeout", times=100)
    started = time.monotonic()
    error = stopped()
    elapsed = time.monotonic() - started

    # The run left the hanging answer at its deadline instead of waiting for it.
    assert elapsed < fake.hang
    assert "the run reached its deadline (2 s, STRIPE_RECONCILE_DEADLINE)" in error
    assert "/v1/webhook_endpoints" in error
    # No request was retried past the deadline.
    assert len(fake.requests) <= 2
    finding = ReconcileFinding.objects.get(kind=FindingKind.RUN_DEADLINE)
    assert finding.fixed is None and finding.detail.startswith("The run reached its deadline")
    assert ReconcileRun.objects.get().watermark is None

    fake.failures.clear()
    run_whole()
    finding.refresh_from_db()
    assert finding.fixed is not None


@pytest.mark.parametrize("path", ["/v1/events", "/v1/subscriptions"])
def test_it_stops_paging_a_list_that_never_ends(fake, path):
    fake.endless = path
    error = stopped()

    assert f"{path} still had more after 5 pages of 100" in error
    assert len(fake.requests_to(path)) == 5
    finding = ReconcileFinding.objects.get(kind=FindingKind.PAGE_LIMIT)
    assert (finding.stripe_object, finding.fixed) == (path, None)
    assert ReconcileRun.objects.get().watermark is None
    assert not StripeEvent.objects.exists()

    fake.endless = ""
    run_whole()
    finding.refresh_from_db()
    assert finding.fixed is not None
