"""A webhook delivery and the reconciler applying the same event at once: real threads,
each with its own database connection, and committed transactions."""

import time

import pytest
from django.db import connections
from django.test import Client

from billing import reconcile
from billing.models import EventState, StripeEvent
from tests import stripe_fake
from tests.billing.stripe_events import deliver, subscribe
from tests.factories import MemberFactory
from tests.stripe_fake import WEBHOOK_URL, StripeFake, subscription, subscription_event
from tests.threads import start

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 4
LOCK = "stripe-customer:cus_Race"


@pytest.fixture
def fake(settings):
    with StripeFake() as fake:
        stripe_fake.configure(settings, fake)
        fake.add_endpoint(WEBHOOK_URL)
        yield fake


def _waiting(conn) -> int:
    # Only this test database's sessions: the server may be serving other test runs.
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)"
            " WHERE NOT granted AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def _wait_for(conn, count: int, running) -> None:
    deadline = time.monotonic() + 30
    while _waiting(conn) < count:
        assert running.is_alive(), "a delivery ended without waiting for the other"
        assert time.monotonic() < deadline, "the deliveries never met"
        time.sleep(0.01)


def test_it_applies_an_event_once_when_the_webhook_and_the_reconciler_race(fake):
    member = MemberFactory(membership="lapsed")
    subscribe(Client(), member, customer="cus_Race", sub_id="sub_Race", created=1)
    now = int(time.time())
    # Another session holds the customer's lock, so both deliveries get as far as the
    # claim of the event and wait there together; then it lets go.
    holder = connections.create_connection("default")
    try:
        for round_ in range(ROUNDS):
            status = "past_due" if round_ % 2 == 0 else "active"
            sub = subscription("sub_Race", "cus_Race", status=status)
            event = fake.add_event(subscription_event("updated", sub, created=now - 100 + round_))
            fake.subscriptions[:] = [sub]
            member.refresh_from_db()
            notes = len(member.notes)
            with holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [LOCK])

            # Each goes first in turn: the first claims the event, the other waits on it.
            webhook_thread = lambda event=event: deliver(Client(), event)  # noqa: E731
            first, second = (
                (reconcile.reconcile, webhook_thread)
                if round_ % 2 == 0
                else (webhook_thread, reconcile.reconcile)
            )
            first_running = start(first)
            _wait_for(holder, 1, first_running)
            second_running = start(second)
            _wait_for(holder, 2, second_running)
            with holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [LOCK])
            results = {first: first_running.join()[0], second: second_running.join()[0]}
            webhook, reconciled = results[webhook_thread], results[reconcile.reconcile]

            assert webhook.status_code == 200 and reconciled.readable
            stored = StripeEvent.objects.get(stripe_id=event["id"])
            assert (stored.state, stored.attempts) == (EventState.PROCESSED, 1)
            member.refresh_from_db()
            assert member.status["subscription_status"] == status
            assert member.status["payment_problem"] is (status == "past_due")
            # One note from the event, none from the snapshot: nothing was left to repair.
            assert len(member.notes) == notes + 1
            assert reconciled.events_applied + (not webhook.json()["duplicate"]) == 1
            assert reconciled.events_applied == (round_ % 2 == 0)  # the first one applied it
    finally:
        holder.close()
    assert StripeEvent.objects.filter(type="customer.subscription.updated").count() == ROUNDS


def test_it_delivers_many_events_in_lanes_each_customer_in_order(fake):
    members = [MemberFactory(membership="lapsed") for _ in range(30)]
    for n, member in enumerate(members):
        subscribe(Client(), member, customer=f"cus_Lane{n}", sub_id=f"sub_Lane{n}", created=1)
    now = int(time.time()) - 3000
    for n in range(len(members)):
        for step, status in enumerate(("past_due", "unpaid", "active")):
            sub = subscription(f"sub_Lane{n}", f"cus_Lane{n}", status=status)
            fake.add_event(subscription_event("updated", sub, created=now + 10 * step + n))
        fake.add_subscription(sub)
    for n in range(20):  # customers nobody knows: stored unmatched, for their checkouts
        sub = subscription(f"sub_Unknown{n}", f"cus_Unknown{n}")
        fake.add_event(subscription_event("created", sub, created=now + n))
    assert 3 * len(members) + 20 >= reconcile.PARALLEL_FROM

    result = reconcile.reconcile()

    assert (result.events_applied, result.findings, result.fixed) == (90, 110, 110)
    states = StripeEvent.objects.filter(stripe_id__in=[e["id"] for e in fake.events])
    assert states.count() == 110
    assert set(states.values_list("state", "attempts")) == {
        (EventState.PROCESSED, 1),
        (EventState.UNMATCHED, 1),
    }
    for member in members:
        member.refresh_from_db()
        # Each customer's events applied oldest first: the last one (active) stands.
        assert member.status["subscription_status"] == "active"
        assert member.membership_status == "active"
        said = [n["note"].split(" is ")[1].split()[0].rstrip(".;") for n in member.notes[-3:]]
        assert said == ["past_due", "unpaid", "active"]
