"""POST /billing/simulate/: the DEBUG-only "Simulate payment" button."""

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from billing.models import EventState, StripeEvent
from members.models import Member
from tests.factories import DEFAULT_PASSWORD, MemberFactory, logged_in

pytestmark = pytest.mark.django_db
URL = "/billing/simulate/"


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True
    settings.STRIPE_PUBLISHABLE_KEY = ""
    settings.STRIPE_PRICING_TABLE_ID = ""


def test_it_delivers_checkout_and_an_active_subscription_for_the_owner(debug_on):
    member = MemberFactory(membership="pending")
    response = logged_in(member.user).post(URL, follow=True)
    assert response.redirect_chain[-1] == ("/signup/payment/", 302)
    assert "Simulated payment received" in response.content.decode()
    status = Member.objects.get(pk=member.pk).status
    assert status["membership_status"] == "pending"
    assert status["subscription_status"] == "active"
    assert status["stripe_subscription_id"].startswith("sub_sim")
    assert status["stripe_customer_id"].startswith("cus_sim")
    assert sorted(StripeEvent.objects.values_list("type", "state")) == [
        ("checkout.session.completed", EventState.PROCESSED),
        ("customer.subscription.created", EventState.PROCESSED),
    ]


def test_it_changes_only_the_logged_in_members_record(debug_on):
    member, other = MemberFactory(membership="pending"), MemberFactory(membership="pending")
    logged_in(member.user).post(URL)
    assert Member.objects.get(pk=other.pk).status == other.status
    assert set(StripeEvent.objects.values_list("member", flat=True)) == {member.pk}


def test_it_sends_anonymous_visitors_to_login_and_changes_nothing(debug_on, client):
    response = client.post(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_does_not_exist_without_debug(settings, method):
    settings.DEBUG = False
    member = MemberFactory(membership="pending")
    response = getattr(logged_in(member.user), method)(URL)
    assert response.status_code == 404
    assert StripeEvent.objects.count() == 0


def test_it_changes_nothing_on_get(debug_on):
    member = MemberFactory(membership="pending")
    response = logged_in(member.user).get(URL)
    assert response.status_code == 405
    assert StripeEvent.objects.count() == 0
    assert Member.objects.get(pk=member.pk).status == member.status


def test_it_refuses_a_post_without_a_csrf_token(debug_on):
    member = MemberFactory(membership="pending")
    response = logged_in(member.user, enforce_csrf_checks=True).post(URL)
    assert response.status_code == 403
    assert StripeEvent.objects.count() == 0


def test_it_explains_when_no_webhook_secret_is_set(debug_on, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    member = MemberFactory(membership="pending")
    response = logged_in(member.user).post(URL, follow=True)
    assert "STRIPE_WEBHOOK_SECRET" in response.content.decode()
    assert StripeEvent.objects.count() == 0


def test_it_walks_from_the_payment_page_button_to_payment_received(debug_on, client):
    member = MemberFactory(membership="pending")
    client = Client(enforce_csrf_checks=True)
    client.login(email=member.email, password=DEFAULT_PASSWORD)
    page = client.get("/signup/payment/").content.decode()
    assert 'action="/billing/simulate/"' in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(URL, {"csrfmiddlewaretoken": token}, follow=True)
    assert response.status_code == 200
    assert "Payment received" in response.content.decode()


@pytest.mark.parametrize(("debug", "shown"), [(True, True), (False, False)])
def test_it_renders_the_button_only_in_debug(debug, shown):
    request = RequestFactory().get("/signup/payment/")
    html = render_to_string("billing/_simulate_button.html", {"debug": debug}, request=request)
    assert ("Simulate payment" in html) is shown
    assert ("csrfmiddlewaretoken" in html) is shown
