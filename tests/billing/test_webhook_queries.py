"""What one Stripe event costs in SQL round trips, through the real webhook view.

The budget counts every statement Django sends, BEGIN and COMMIT included. The figures
are upper bounds: a change that adds a query to the common path fails here first.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import EventState, Plan, StripeEvent
from tests.billing.stripe_events import T0, checkout_for, deliver, stripe_event
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

# The common path of each type, in the order a new member's events arrive.
BUDGET = {
    "checkout.session.completed": 7,
    "customer.subscription.created": 7,
    "invoice.paid": 6,
    "customer.subscription.updated": 7,
}
MEAN_BUDGET = 7


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
    counts = {}
    for event in a_new_members_events(member):
        counts[event["type"]], answer = counted(client, event)
        assert (answer["state"], answer["duplicate"]) == (EventState.PROCESSED, False)
    assert {kind: n for kind, n in counts.items() if n > BUDGET[kind]} == {}
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
