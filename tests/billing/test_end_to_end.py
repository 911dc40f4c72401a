"""From signup to a paid subscription: the signup views, the payment page's client
reference, then Stripe's checkout and subscription events through the webhook."""

import re

import pytest
from django.core import mail
from django.test import Client

from billing.models import Plan
from members.models import Member
from tests.billing.stripe_events import T0, deliver, stripe_event
from tests.jobs import send_signup_mails
from tests.signup.conftest import valid_details

EMAIL = "grace@example.org"


@pytest.mark.django_db
def test_it_stores_the_stripe_ids_and_plan_name_on_a_member_who_signed_up(settings):
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_example"
    settings.STRIPE_PRICING_TABLE_ID = "prctbl_example"
    Plan.objects.create(stripe_product_id="prod_TestStandard0001", name="Standard")
    browser = Client()

    assert browser.post("/signup/", {"email": EMAIL}).status_code == 302
    send_signup_mails()  # step 1's mail is a job: run it here, as a worker would
    link = re.search(r"http://testserver(/signup/continue/[^/\s]+/)", mail.outbox[-1].body)
    details = valid_details(preferred_name="", pronouns="", discord_username="")
    response = browser.post(link.group(1), details)
    assert response.status_code == 302
    assert response["Location"] == "/signup/payment/"

    page = browser.get("/signup/payment/").content.decode()
    reference = re.search(r'client-reference-id="([^"]+)"', page).group(1)
    member = Member.objects.get(email=EMAIL)
    assert reference == member.billing_ref

    checkout = stripe_event(
        "checkout.session.completed",
        client_reference_id=reference,
        email=EMAIL,
        customer="cus_Grace",
        sub_id="sub_Grace",
    )
    created = stripe_event(
        "customer.subscription.created", sub_id="sub_Grace", customer="cus_Grace", created=T0
    )
    assert deliver(Client(), checkout).status_code == 200
    assert deliver(Client(), created).status_code == 200

    status = Member.objects.get(pk=member.pk).status
    assert status["stripe_customer_id"] == "cus_Grace"
    assert status["stripe_subscription_id"] == "sub_Grace"
    assert status["membership_level"] == "Standard"
    assert status["subscription_status"] == "active"
    assert status["membership_status"] == "pending"
    assert "Payment received" in browser.get("/signup/payment/").content.decode()
