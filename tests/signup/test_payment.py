"""/signup/payment/: the logged-in member's own page, in each state of its subscription."""

import pytest

from members import scaffolding
from tests.factories import MemberFactory, StaffFactory


def member_with(membership="pending", subscription_status="", **kwargs):
    member = MemberFactory(membership=membership, **kwargs)
    if subscription_status is not None:
        member.status["subscription_status"] = subscription_status
        member.save()
    return member


def page_for(client, member, path="/signup/payment/"):
    client.force_login(member.user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_signup(client):
    response = client.get("/signup/payment/")
    assert response.status_code == 302
    assert response["Location"] == "/signup/"


@pytest.mark.django_db
def test_it_shows_the_owner_their_own_pricing_table(client, stripe_settings):
    owner = member_with()
    page = page_for(client, owner)
    assert "<stripe-pricing-table" in page
    assert 'pricing-table-id="prctbl_signup"' in page
    assert 'publishable-key="pk_test_signup"' in page
    assert f'customer-email="{owner.email}"' in page
    assert f'client-reference-id="{owner.billing_ref}"' in page


@pytest.mark.django_db
def test_it_shows_another_member_only_their_own_page(client, stripe_settings):
    owner, other = member_with(), member_with()
    page = page_for(client, other)
    assert owner.email not in page and owner.billing_ref not in page
    assert f'client-reference-id="{other.billing_ref}"' in page


@pytest.mark.django_db
def test_it_ignores_query_parameters(client, stripe_settings):
    owner, other = member_with(), member_with()
    page = page_for(
        client,
        owner,
        f"/signup/payment/?email={other.email}&client_reference_id={other.billing_ref}"
        f"&user={other.user_id}",
    )
    assert f'customer-email="{owner.email}"' in page
    assert f'client-reference-id="{owner.billing_ref}"' in page
    assert other.email not in page and other.billing_ref not in page


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["active", "TRIALING", " Active "])
def test_it_says_payment_received_for_a_pending_member_who_pays(client, stripe_settings, status):
    page = page_for(client, member_with(subscription_status=status))
    assert "Payment received" in page
    assert "Staff activate new members at their first visit" in page
    assert "<stripe-pricing-table" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["", None, "past_due", "canceled", "incomplete"])
def test_it_offers_the_pricing_table_to_a_pending_member_without_a_paying_subscription(
    client, stripe_settings, status
):
    page = page_for(client, member_with(subscription_status=status))
    assert "<stripe-pricing-table" in page


@pytest.mark.django_db
def test_it_offers_the_pricing_table_to_a_lapsed_member(client, stripe_settings):
    page = page_for(client, member_with("lapsed", subscription_status="canceled"))
    assert "<stripe-pricing-table" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("membership", "text"),
    [("active", "membership is active"), ("suspended", "suspended"), ("banned", "ended by staff")],
)
def test_it_explains_why_there_is_nothing_to_pay(client, stripe_settings, membership, text):
    page = page_for(client, member_with(membership, subscription_status="active"))
    assert text in page
    assert 'href="/dashboard/"' in page
    assert "<stripe-pricing-table" not in page


@pytest.mark.django_db
def test_it_says_payments_are_not_configured_without_stripe_settings(client, settings):
    settings.STRIPE_PUBLISHABLE_KEY = ""
    settings.STRIPE_PRICING_TABLE_ID = ""
    page = page_for(client, member_with())
    assert "Payments are not configured yet" in page
    assert "<stripe-pricing-table" not in page


@pytest.mark.django_db
def test_it_treats_a_member_with_a_null_status_as_pending(client, stripe_settings):
    member = MemberFactory(status=None)
    page = page_for(client, member)
    assert f'client-reference-id="{member.billing_ref}"' in page


@pytest.mark.django_db
def test_it_treats_a_status_without_membership_status_as_pending(client, stripe_settings):
    status = scaffolding.default("status")
    del status["membership_status"]
    status["subscription_status"] = None
    page = page_for(client, MemberFactory(status=status))
    assert "<stripe-pricing-table" in page


@pytest.mark.django_db
def test_it_sends_a_login_without_member_to_the_dashboard(client):
    client.force_login(StaffFactory())
    response = client.get("/signup/payment/")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


@pytest.mark.django_db
def test_it_refuses_a_post(client, stripe_settings):
    client.force_login(member_with().user)
    assert client.post("/signup/payment/").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("configured", [True, False])
def test_it_offers_the_simulated_payment_only_with_debug_on(client, settings, configured):
    settings.STRIPE_PUBLISHABLE_KEY = settings.STRIPE_PRICING_TABLE_ID = "x" if configured else ""
    member = member_with()
    settings.DEBUG = True
    assert 'action="/billing/simulate/"' in page_for(client, member)
    settings.DEBUG = False
    assert 'action="/billing/simulate/"' not in page_for(client, member)
