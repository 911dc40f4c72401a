"""Security headers: the policy every page gets, and the one page that widens it."""

import pytest

from tests.factories import DEFAULT_PASSWORD, MemberFactory, logged_in


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


@pytest.mark.django_db
def test_it_allows_only_our_own_origin_and_no_inline_script_on_ordinary_pages(client):
    policy = directives(client.get("/"))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "stripe" not in client.get("/")["Content-Security-Policy"]


@pytest.mark.django_db
def test_it_sends_the_other_security_headers(client):
    response = client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_it_lets_stripes_pricing_table_load_on_the_payment_page_only(settings):
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_123"
    settings.STRIPE_PRICING_TABLE_ID = "prctbl_123"
    member = MemberFactory(membership="pending")
    client = logged_in(member.user)

    payment = client.get("/signup/payment/")
    assert b"<stripe-pricing-table" in payment.content
    policy = directives(payment)
    assert policy["script-src"][0] == "'self'"
    assert "https://js.stripe.com" in policy["script-src"]
    assert "https://js.stripe.com" in policy["frame-src"]
    assert "https://api.stripe.com" in policy["connect-src"]
    assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(policy["script-src"])

    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 200
    assert "stripe" not in dashboard["Content-Security-Policy"]


@pytest.mark.django_db
def test_it_keeps_the_session_and_csrf_cookies_away_from_scripts(client):
    response = client.get("/signup/")
    assert response.cookies["csrftoken"]["httponly"]
    member = MemberFactory()
    login = client.post("/accounts/login/", {"login": member.email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 302
    assert login.cookies["sessionid"]["httponly"]
