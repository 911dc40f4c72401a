"""What one Stripe event costs in SQL round trips, through the real webhook view.

The budget counts every statement Django sends, BEGIN and COMMIT included. The figures
are upper bounds: a change that adds a query to the common path fails here first.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import EventState, Plan, StripeEvent
from members.models import Notification
from tests.billing.stripe_events import T0, checkout_for, deliver, stripe_event
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

# The common path of each type, in the order a new member's events arrive.
# BEGIN; the event claimed with its customer's lock; the member locked; the subscription
# row written (not for invoices); the member's changes with the event's outcome; COMMIT.
BUDGET = {
    "checkout.session.completed": 6,
    "customer.subscription.created": 6,
    "invoice.paid": 5,
    "customer.subscription.updated": 6,
}
MEAN_BUDGET = 7  # issue 11's bound for the mean
# An event that flips what a lifecycle mail watches also queues the mail: its
# notification row and its job (members/notifications.py).
MAIL_QUERIES = 2


def counted(client, event):
    with CaptureQueriesContext(connection) as captured:
        response = deliver(client, event)
    assert response.status_code == 200, response.content
    return len(captured), response.json()


def a_new_members_events(member, *, customer="cus_Count", sub_id="sub_Count"):
    return [
        checkout_for(member, customer=customer, sub_id=sub_id),
        stripe_event("customer.subscription.created", sub_id=sub_id, customer=customer, created=T0),
        stripe_event("invoice.paid", sub_id=sub_id, customer=customer, created=T0 + 1),
        stripe_event(
            "customer.subscription.updated",
            sub_id=sub_id,
            customer=customer,
            created=T0 + 2,
            status="past_due",
        ),
    ]


def test_it_keeps_each_event_type_within_its_query_budget(client):
    Plan.objects.create(stripe_product_id="prod_TestStandard0001", name="Standard")
    member = MemberFactory(membership="lapsed")
    counts, budget = {}, dict(BUDGET)
    for event in a_new_members_events(member):
        counts[event["type"]], answer = counted(client, event)
        assert (answer["state"], answer["duplicate"]) == (EventState.PROCESSED, False)
        if Notification.objects.filter(key=event["id"]).exists():
            budget[event["type"]] += MAIL_QUERIES
    assert {kind: n for kind, n in counts.items() if n > budget[kind]} == {}
    assert sum(counts.values()) / len(counts) <= MEAN_BUDGET
    member.refresh_from_db()
    assert member.status["subscription_status"] == "past_due"
    assert member.membership_status == "active"
    assert len(member.notes) == 4


def test_it_answers_a_redelivered_processed_event_in_four_queries(client):
    member = MemberFactory(membership="pending")
    checkout = checkout_for(member, customer="cus_Again", sub_id="sub_Again")
    assert counted(client, checkout)[1]["duplicate"] is False
    notes_before = len(StripeEvent.objects.get().member.notes)
    count, answer = counted(client, checkout)
    # BEGIN, the insert that finds the row taken, its locking read, COMMIT.
    assert (count, answer["duplicate"]) == (4, True)
    assert len(StripeEvent.objects.get().member.notes) == notes_before


def test_it_stores_an_unhandled_type_in_three_queries(client):
    count, answer = counted(client, stripe_event("customer.created"))
    assert (count, answer["state"]) == (3, EventState.IGNORED)


def test_it_writes_a_checkout_with_early_snapshots_as_one_webhook_history_row(client):
    member = MemberFactory(membership="lapsed")
    early = stripe_event(
        "customer.subscription.created", sub_id="sub_Early", customer="cus_Early", created=T0
    )
    assert counted(client, early)[1]["state"] == EventState.UNMATCHED
    history_before = member.events.count()
    count, answer = counted(client, checkout_for(member, customer="cus_Early", sub_id="sub_Early"))
    assert answer["state"] == EventState.PROCESSED
    # Two more than a first checkout: the subscription is known (its insert finds the
    # row taken, an update follows) and the waiting event is marked processed; and the
    # lapsed member's reactivation queues its mail.
    assert count <= BUDGET["checkout.session.completed"] + 2 + MAIL_QUERIES
    rows = list(member.events.order_by("pgh_id"))[history_before:]
    assert [r.pgh_context.metadata["source"] for r in rows] == ["webhook"]
    assert rows[0].status["subscription_status"] == "active"
    assert rows[0].status["membership_status"] == "active"
    assert StripeEvent.objects.get(stripe_id=early["id"]).state == EventState.PROCESSED
