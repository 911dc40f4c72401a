"""The pages of a client's flow may post on to the registered clients (form-action),
and no other page may: a browser applies form-action to the redirects after a post, so
the login, second-factor, consent and logout pages would otherwise strand the member
(tests/identity/test_browser.py shows it in Chromium)."""

import pytest
from django.test import Client

from tests.factories import MemberFactory, logged_in
from tests.identity.conftest import register
from tests.test_security_headers import directives

pytestmark = pytest.mark.django_db


def test_the_flow_pages_may_post_on_to_the_registered_clients_only():
    register("Wiki", redirect_uri="https://wiki.example.org:8443/oidc/callback")
    register("Laptops", redirect_uri="org.example.laptops:/callback", public=True)
    client = register("Forum", redirect_uri="https://forum.example.org/cb")[0]
    expected = [
        "'self'",
        "https://forum.example.org",
        "https://wiki.example.org:8443",
        "org.example.laptops:",
    ]
    assert directives(Client().get("/accounts/login/"))["form-action"] == expected
    member = logged_in(MemberFactory().user)
    consent = member.get(
        f"/identity/o/authorize?response_type=code&client_id={client.id}"
        "&redirect_uri=https%3A%2F%2Fforum.example.org%2Fcb&scope=openid&state=s"
    )
    assert consent.status_code == 200
    assert directives(consent)["form-action"] == expected
    for path in ("/dashboard/", "/dashboard/account/", "/"):
        assert directives(member.get(path))["form-action"] == ["'self'"], path


def test_they_stay_as_strict_as_any_page_while_the_provider_is_off(client, settings):
    register("Wiki")
    settings.IDP_OIDC_PRIVATE_KEY = ""
    assert directives(client.get("/accounts/login/"))["form-action"] == ["'self'"]
