"""Stripe cannot bring an erased member back: erasure keeps their Stripe customer id, so
its events still find them; each is recorded against them as "erased", listed for staff,
and changes nothing."""

import pytest

from billing.models import EventState, StripeEvent, Subscription
from members.models import Member, Notification
from tests.billing.stripe_events import checkout_for, deliver, stripe_event
from tests.factories import MemberFactory, StaffFactory, erased, logged_in

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_Erased"


def erased_member(membership="lapsed"):
    member = MemberFactory(membership=membership)
    member.status.update(
        stripe_customer_id=CUSTOMER,
        stripe_subscription_id="sub_Old",
        subscription_status="canceled",
    )
    member.save()
    Subscription.objects.create(
        stripe_id="sub_Old", customer_id=CUSTOMER, status="canceled", member=member
    )
    return erased(member)


def row(member) -> dict:
    fresh = Member.objects.get(pk=member.pk)
    return {f.attname: getattr(fresh, f.attname) for f in Member._meta.concrete_fields}


def test_it_holds_every_event_for_an_erased_member_and_changes_nothing(client):
    member = erased_member()
    before = row(member)
    events = [
        stripe_event(
            "customer.subscription.created",
            sub_id="sub_Revived",
            customer=CUSTOMER,
            status="active",
        ),
        stripe_event("invoice.paid", sub_id="sub_Revived", customer=CUSTOMER),
        stripe_event("invoice.payment_failed", sub_id="sub_Revived", customer=CUSTOMER),
        checkout_for(member, customer=CUSTOMER, sub_id="sub_Revived", email="back@example.org"),
    ]
    for event in events:
        assert deliver(client, event).status_code == 200

    assert row(member) == before
    assert Member.objects.get(pk=member.pk).membership_status == "lapsed"
    assert not Subscription.objects.filter(stripe_id="sub_Revived").exists()
    assert not Notification.objects.filter(member_id=member.pk).exists()
    held = StripeEvent.objects.filter(stripe_id__in=[e["id"] for e in events])
    assert sorted(held.values_list("state", flat=True)) == [EventState.ERASED] * 4
    assert set(held.values_list("member_id", flat=True)) == {member.pk}
    assert all("was erased; nothing changed" in e.detail for e in held)

    # A redelivery is answered as done, and still changes nothing.
    assert deliver(client, events[0]).status_code == 200
    assert row(member) == before


def test_it_lists_the_held_events_for_staff():
    member = erased_member()
    event = stripe_event("customer.subscription.created", sub_id="sub_Back", customer=CUSTOMER)
    assert deliver(logged_in(StaffFactory()), event).status_code == 200
    other = stripe_event("customer.created", customer=CUSTOMER)
    assert deliver(logged_in(StaffFactory()), other).status_code == 200

    staff = logged_in(StaffFactory(is_superuser=True))
    page = staff.get("/admin/billing/stripeevent/", {"state__exact": "erased"})
    assert page.status_code == 200
    text = page.content.decode()
    assert event["id"] in text and other["id"] not in text
    assert "Held (member erased, nothing changed)" in text
    assert f"/admin/members/member/{member.pk}/change/" in text
