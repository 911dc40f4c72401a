"""The whole code flow as a relying party runs it (Authlib, over real HTTP to the portal
on loopback): discovery, authorization with PKCE, the consent page, the code exchange,
the ID token checked against the JWKS, userinfo and refresh."""

import pytest
import requests

from identity.claims import CLAIMS_SUPPORTED
from tests.factories import MemberFactory
from tests.identity.conftest import register
from tests.identity.rp import RelyingParty

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_publishes_discovery_at_the_public_address_with_the_membership_scope(portal):
    metadata = requests.get(f"{portal}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["issuer"] == portal
    assert metadata["authorization_endpoint"] == f"{portal}/identity/o/authorize"
    assert metadata["jwks_uri"] == f"{portal}/.well-known/jwks.json"
    assert "membership" in metadata["scopes_supported"]
    assert {"member_number", "membership_status", "groups"} <= set(metadata["claims_supported"])
    assert metadata["claims_supported"] == list(CLAIMS_SUPPORTED)
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_it_logs_a_member_in_to_a_confidential_client(wiki, browser):
    member = MemberFactory(
        username="ada",
        authorizations={"authorizations": ["Laser"], "computer_authorizations": ["Wiki admin"]},
    )
    browser.log_in(member.email)

    redirect = browser.consent(wiki.authorization_url())
    assert redirect.url.startswith(wiki.redirect_uri + "?")
    assert redirect.params["state"] == wiki.state
    token = wiki.fetch_token(redirect)

    claims = wiki.id_token_claims(token)
    assert claims["sub"] == str(member.user_id)
    assert claims["iss"] == browser.base_url and claims["aud"] == wiki.client_id
    info = wiki.userinfo(token).json()
    assert info == {
        "sub": str(member.user_id),
        "email": member.email,
        "email_verified": True,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "preferred_username": "ada",
        "member_number": member.pk,
        "membership_status": "active",
        "groups": ["Laser", "Wiki admin"],
    }

    fresh = wiki.refresh(token["refresh_token"])
    assert fresh["access_token"] != token["access_token"]
    assert wiki.userinfo(fresh).json()["sub"] == str(member.user_id)
    # The refresh token rotates: the old one is spent.
    assert wiki.refresh_response(token["refresh_token"]).json()["error"] == "invalid_grant"


def test_it_requires_pkce_of_a_public_client_and_gives_only_the_scopes_asked(portal, browser):
    client, secret = register("Laptops", public=True)
    assert secret == ""
    rp = RelyingParty(
        portal,
        client.id,
        redirect_uri="https://wiki.example.org/oidc/callback",
        scope="openid email",
    )
    member = MemberFactory()
    browser.log_in(member.email)

    without_pkce = browser.get(rp.authorization_url().replace("code_challenge=", "x="))
    assert without_pkce.params["error"] == "invalid_request"

    token = rp.fetch_token(browser.consent(rp.authorization_url()))
    assert rp.id_token_claims(token)["sub"] == str(member.user_id)
    assert rp.userinfo(token).json() == {
        "sub": str(member.user_id),
        "email": member.email,
        "email_verified": True,
    }


def test_it_skips_the_consent_page_for_the_spaces_own_systems(portal, browser):
    client, secret = register("Door", skip_consent=True)
    rp = RelyingParty(
        portal, client.id, secret, redirect_uri="https://wiki.example.org/oidc/callback"
    )
    member = MemberFactory()
    browser.log_in(member.email)

    redirect = browser.get(rp.authorization_url())
    assert redirect.params["state"] == rp.state
    assert rp.id_token_claims(rp.fetch_token(redirect))["sub"] == str(member.user_id)


def test_it_sends_a_member_who_cancels_back_with_access_denied(wiki, browser):
    member = MemberFactory()
    browser.log_in(member.email)
    redirect = browser.consent(wiki.authorization_url(), action="cancel")
    assert redirect.params == {"error": "access_denied", "state": wiki.state}
