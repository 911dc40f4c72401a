"""A relying party's refresh fails once the member stops being eligible, whichever
path made the change (a Stripe webhook, staff in admin, raw SQL); and the `sub` it knows
the member by survives an email and username change. Authlib against the portal on
loopback, as in test_code_flow.py."""

import datetime

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from django.db import connection

from billing.models import Subscription
from members import services
from members.models import Member
from tests.billing.stripe_events import SECRET, T0, WEBHOOK_URL, signed, stripe_event
from tests.factories import MemberFactory, StaffFactory
from tests.identity.rp import Browser
from tests.staff.formdata import form_fields

pytestmark = pytest.mark.django_db(transaction=True)


def _logged_in_to_the_wiki(wiki, browser, member):
    browser.log_in(member.email)
    token = wiki.fetch_token(browser.consent(wiki.authorization_url()))
    assert wiki.refresh_response(token["refresh_token"]).status_code == 200
    # That refresh rotated the token: sign in again for one the test can spend.
    return wiki.fetch_token(browser.consent(wiki.authorization_url()))


def _assert_refresh_refused(wiki, token):
    answer = wiki.refresh_response(token["refresh_token"])
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    with pytest.raises(OAuthError, match="invalid_grant"):
        wiki.refresh(token["refresh_token"])
    assert wiki.userinfo(token).status_code == 401


def _subscribed(member, *, sub_id="sub_Wiki", customer="cus_Wiki"):
    member.status.update(
        stripe_customer_id=customer, stripe_subscription_id=sub_id, subscription_status="active"
    )
    member.save()
    Subscription.objects.create(
        stripe_id=sub_id,
        customer_id=customer,
        status="active",
        member=member,
        last_event_created=datetime.datetime.fromtimestamp(T0 - 1000, tz=datetime.UTC),
    )


def test_a_subscription_ended_by_stripes_webhook_ends_the_wiki_session(
    wiki, browser, portal, settings
):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    member = MemberFactory()
    _subscribed(member)
    token = _logged_in_to_the_wiki(wiki, browser, member)

    event = stripe_event(
        "customer.subscription.deleted", sub_id="sub_Wiki", customer="cus_Wiki", created=T0
    )
    body, header = signed(event)
    answer = requests.post(
        portal + WEBHOOK_URL,
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert Member.objects.get(pk=member.pk).membership_status == "lapsed"
    _assert_refresh_refused(wiki, token)


def test_a_suspension_by_staff_in_admin_ends_the_wiki_session(wiki, browser, portal):
    member = MemberFactory()
    token = _logged_in_to_the_wiki(wiki, browser, member)

    staff = Browser(portal)
    staff.log_in(StaffFactory().email)
    page = staff.get(f"{portal}/admin/members/member/{member.pk}/change/")
    data, _ = form_fields(page.text)
    data["membership_status"] = "suspended"
    data["_save"] = "Save"
    saved = staff.post_form(page, {name: data.getlist(name) for name in data})
    assert saved.status_code == 200 and "/admin/members/member/" in saved.url
    assert Member.objects.get(pk=member.pk).membership_status == "suspended"
    _assert_refresh_refused(wiki, token)


def test_a_raw_sql_update_ends_the_wiki_session(wiki, browser):
    member = MemberFactory()
    token = _logged_in_to_the_wiki(wiki, browser, member)
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE members_member SET status = status || \'{"membership_status": "banned"}\''
            " WHERE id = %s",
            [member.pk],
        )
    _assert_refresh_refused(wiki, token)


def test_the_sub_stays_when_the_member_changes_email_and_username(wiki, browser, portal):
    member = MemberFactory(username="ada")
    browser.log_in(member.email)
    before = wiki.id_token_claims(wiki.fetch_token(browser.consent(wiki.authorization_url())))

    services.member_email_change(member=member, email="countess@example.org", by=member.user)
    member.refresh_from_db()
    services.member_change_login(member=member, email=member.email, username="countess")
    again = Browser(portal)
    again.log_in("countess@example.org")
    token = wiki.fetch_token(again.consent(wiki.authorization_url()))

    after = wiki.id_token_claims(token)
    assert after["sub"] == before["sub"] == str(member.user_id)
    assert (after["email"], after["preferred_username"]) == ("countess@example.org", "countess")
    assert wiki.userinfo(token).json()["email"] == "countess@example.org"
