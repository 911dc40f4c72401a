"""Billing in Django admin: the Stripe event log, its reprocess action, plans and
subscriptions."""

import pytest
from django.test import Client

from billing.models import EventState, Plan, StripeEvent, Subscription
from members.models import Member
from tests.billing.stripe_events import deliver, stripe_event
from tests.factories import MemberFactory, StaffFactory, logged_in

pytestmark = pytest.mark.django_db
EVENTS = "/admin/billing/stripeevent/"


@pytest.fixture
def staff_client():
    return logged_in(StaffFactory())


@pytest.fixture
def member_client():
    return logged_in(MemberFactory().user)


def unmatched_checkout(client, email="newcomer@example.org"):
    event = stripe_event(
        "checkout.session.completed",
        client_reference_id=None,
        email=email,
        customer="cus_Newcomer",
        sub_id="sub_Newcomer",
    )
    deliver(client, event)
    return StripeEvent.objects.get(stripe_id=event["id"])


def ignored_event(client):
    event = stripe_event("customer.created")
    deliver(client, event)
    return StripeEvent.objects.get(stripe_id=event["id"])


def test_it_lists_events_with_type_state_member_and_error_for_staff(staff_client, client):
    unmatched = unmatched_checkout(client)
    page = staff_client.get(EVENTS).content.decode()
    assert unmatched.stripe_id in page
    assert "checkout.session.completed" in page
    assert "unmatched" in page


@pytest.mark.parametrize("who", ["member_client", "client"])
def test_it_hides_the_event_log_from_members_and_anonymous_visitors(request, who):
    unmatched = unmatched_checkout(Client())
    response = request.getfixturevalue(who).get(EVENTS)
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert unmatched.stripe_id not in response.content.decode()


def assert_lists_only(staff_client, query, shown, hidden):
    page = staff_client.get(EVENTS, query).content.decode()
    assert shown.stripe_id in page
    assert hidden.stripe_id not in page


def test_it_filters_events_by_state(staff_client, client):
    unmatched, ignored = unmatched_checkout(client), ignored_event(client)
    assert_lists_only(staff_client, {"state__exact": "unmatched"}, unmatched, ignored)


def test_it_filters_events_by_type(staff_client, client):
    unmatched, ignored = unmatched_checkout(client), ignored_event(client)
    assert_lists_only(staff_client, {"type__exact": "customer.created"}, ignored, unmatched)


@pytest.mark.parametrize("query", ["stripe_id", "email"])
def test_it_searches_events_by_id_and_email(staff_client, client, query):
    unmatched = unmatched_checkout(client, email="findme@example.org")
    ignored = ignored_event(client)
    term = unmatched.stripe_id if query == "stripe_id" else "findme@example"
    assert_lists_only(staff_client, {"q": term}, unmatched, ignored)


def reprocess(client, *events):
    return client.post(
        EVENTS,
        {"action": "reprocess", "_selected_action": [e.pk for e in events]},
        follow=True,
    )


def test_it_reprocesses_an_unmatched_checkout_once_the_member_exists(staff_client, client):
    unmatched = unmatched_checkout(client)
    member = MemberFactory(membership="pending", user__email="newcomer@example.org")
    response = reprocess(staff_client, unmatched)
    assert "Reprocessed: 1 processed." in response.content.decode()
    unmatched.refresh_from_db()
    assert (unmatched.state, unmatched.member_id) == (EventState.PROCESSED, member.pk)
    assert Member.objects.get(pk=member.pk).status["stripe_subscription_id"] == "sub_Newcomer"


def test_it_is_safe_to_reprocess_twice(staff_client, client):
    unmatched = unmatched_checkout(client)
    member = MemberFactory(membership="pending", user__email="newcomer@example.org")
    reprocess(staff_client, unmatched)
    notes_once = Member.objects.get(pk=member.pk).notes
    response = reprocess(staff_client, unmatched)
    assert "1 already processed or ignored; left unchanged." in response.content.decode()
    assert Member.objects.get(pk=member.pk).notes == notes_once
    unmatched.refresh_from_db()
    assert unmatched.attempts == 2  # the delivery and one reprocess


def test_it_keeps_an_event_unmatched_when_reprocessed_without_a_member(staff_client, client):
    unmatched = unmatched_checkout(client)
    response = reprocess(staff_client, unmatched)
    assert "Reprocessed: 1 unmatched." in response.content.decode()
    unmatched.refresh_from_db()
    assert unmatched.state == EventState.UNMATCHED


def test_it_refuses_the_reprocess_action_to_members(member_client, client):
    unmatched = unmatched_checkout(client)
    MemberFactory(membership="pending", user__email="newcomer@example.org")
    reprocess(member_client, unmatched)
    unmatched.refresh_from_db()
    assert (unmatched.state, unmatched.attempts) == (EventState.UNMATCHED, 1)


def test_it_lets_staff_edit_plans(staff_client):
    plan = Plan.objects.create(stripe_product_id="prod_Standard", name="Standard")
    response = staff_client.post(
        f"/admin/billing/plan/{plan.pk}/change/",
        {"stripe_product_id": "prod_Standard", "name": "Standard (monthly)"},
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.name == "Standard (monthly)"


def test_it_refuses_a_second_plan_for_the_same_product(staff_client):
    Plan.objects.create(stripe_product_id="prod_Standard", name="Standard")
    response = staff_client.post(
        "/admin/billing/plan/add/", {"stripe_product_id": "prod_Standard", "name": "Copy"}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Plan.objects.count() == 1


def test_it_shows_subscriptions_to_staff_read_only(staff_client):
    member = MemberFactory()
    sub = Subscription.objects.create(
        stripe_id="sub_Shown", customer_id="cus_Shown", status="active", member=member
    )
    assert "sub_Shown" in staff_client.get("/admin/billing/subscription/").content.decode()
    page = staff_client.get(f"/admin/billing/subscription/{sub.pk}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()
    staff_client.post(f"/admin/billing/subscription/{sub.pk}/change/", {"status": "canceled"})
    sub.refresh_from_db()
    assert sub.status == "active"


def test_it_shows_an_event_page_to_staff(staff_client, client):
    unmatched = unmatched_checkout(client)
    page = staff_client.get(f"{EVENTS}{unmatched.pk}/change/")
    assert page.status_code == 200
    assert "cus_Newcomer" in page.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"created__year": "9999", "created__month": "12"},
        {"created__year": "9999", "created__month": "12", "created__day": "31"},
        {"created__gte": "9999-12-31 23:59:59+00:00"},
        {"created__gte": "not a date"},
    ],
)
def test_it_answers_the_event_list_for_far_or_odd_dates_without_an_error(
    staff_client, client, query
):
    unmatched_checkout(client)
    response = staff_client.get(EVENTS, query)
    assert response.status_code in (200, 302)


def test_it_filters_events_by_when_stripe_created_them(staff_client, client):
    unmatched = unmatched_checkout(client)
    page = staff_client.get(EVENTS, {"created__gte": "9999-01-01 00:00:00+00:00"}).content.decode()
    assert unmatched.stripe_id not in page
    page = staff_client.get(EVENTS, {"created__gte": "2000-01-01 00:00:00+00:00"}).content.decode()
    assert unmatched.stripe_id in page


def test_it_refuses_a_reprocess_of_a_crafted_selection_with_a_message(staff_client, client):
    unmatched = unmatched_checkout(client)
    MemberFactory(membership="pending", user__email="newcomer@example.org")
    response = staff_client.post(
        EVENTS, {"action": "reprocess", "_selected_action": ["abc"]}, follow=True
    )
    assert response.status_code == 200
    assert "nothing was changed" in response.content.decode()
    unmatched.refresh_from_db()
    assert (unmatched.state, unmatched.attempts) == (EventState.UNMATCHED, 1)


def test_it_refuses_a_plan_delete_of_a_crafted_selection_with_a_message(staff_client):
    Plan.objects.create(stripe_product_id="prod_Standard", name="Standard")
    response = staff_client.post(
        "/admin/billing/plan/",
        {"action": "delete_selected", "_selected_action": ["abc"], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "nothing was changed" in response.content.decode()
    assert Plan.objects.count() == 1


SUBSCRIPTIONS = "/admin/billing/subscription/"


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (EVENTS, {"created__year": "99999"}),
        (EVENTS, {"created__year": "0"}),
        (EVENTS, {"received_at__year__gt": "-1"}),
        (SUBSCRIPTIONS, {"date_added__iso_year": "10000"}),
        (SUBSCRIPTIONS, {"last_event_created__year__lte": "99999"}),
        (EVENTS, {"state__exact": "\x00"}),
        (SUBSCRIPTIONS, {"customer_id": "cus_\x00"}),
        ("/admin/billing/plan/", {"name__startswith": "\x00"}),
    ],
)
def test_it_refuses_a_year_no_date_can_have_or_a_nul_as_a_bad_request(
    staff_client, client, url, query
):
    unmatched_checkout(client)
    assert staff_client.get(url, query).status_code == 400


def test_it_still_filters_events_by_a_real_year(staff_client, client):
    unmatched = unmatched_checkout(client)
    year = unmatched.created.year
    assert unmatched.stripe_id in staff_client.get(EVENTS, {"created__year": year}).content.decode()
    page = staff_client.get(EVENTS, {"created__year": year + 1}).content.decode()
    assert unmatched.stripe_id not in page
