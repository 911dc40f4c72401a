"""The code flow through Django's test client, for tests about what is issued and
revoked rather than about the relying party (tests/identity/rp.py has that); and the
real login and second-factor setup those tests start from."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client as HttpClient

from tests.factories import DEFAULT_PASSWORD
from tests.identity.rp import totp_code

SCOPE = "openid email profile membership"
VERIFIER = "a-code-verifier-of-at-least-forty-three-characters-0123456789"
AUTHORIZE = "/identity/o/authorize"
TOKEN = "/identity/o/api/token"
USERINFO = "/identity/o/api/userinfo"


def challenge(verifier: str = VERIFIER) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(client, *, state="st4te-42", scope=SCOPE, **extra) -> str:
    params = {
        "response_type": "code",
        "client_id": client.id,
        "redirect_uri": client.get_redirect_uris()[0],
        "scope": scope,
        "state": state,
        "nonce": "n0nce",
        "code_challenge": challenge(),
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{AUTHORIZE}?{urlencode(params)}"


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def code_for(http: HttpClient, client, **params) -> str:
    """The code a logged-in member's browser brings back from a client that skips
    consent."""
    response = http.get(authorize_url(client, **params))
    assert response.status_code == 302, response.content[:300]
    params = query(response["Location"])
    assert "code" in params, params
    return params["code"]


def exchange(client, secret: str, code: str):
    return HttpClient().post(
        TOKEN,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.get_redirect_uris()[0],
            "client_id": client.id,
            "client_secret": secret,
            "code_verifier": VERIFIER,
        },
    )


def issue(http: HttpClient, client, secret: str, **params) -> dict:
    """Access and refresh tokens for the logged-in member of `http`."""
    response = exchange(client, secret, code_for(http, client, **params))
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client, secret: str, refresh_token: str):
    return HttpClient().post(
        TOKEN,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client.id,
            "client_secret": secret,
        },
    )


def userinfo(access_token: str):
    return HttpClient().get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {access_token}")


ACTIVATE = "/accounts/2fa/totp/activate/"
AUTHENTICATE = "/accounts/2fa/authenticate/"


def log_in(user, next_url="") -> tuple[HttpClient, object]:
    """A real login (allauth records when, as its second-factor pages require)."""
    http = HttpClient()
    data = {"login": user.email, "password": DEFAULT_PASSWORD}
    if next_url:
        data["next"] = next_url
    return http, http.post("/accounts/login/", data)


def set_up_totp(http) -> str:
    """Turn on the authenticator app from its setup page, after allauth asks for the
    password again; the key the page showed."""
    page = http.get(ACTIVATE)
    assert page["Location"].startswith("/accounts/reauthenticate/")
    again = http.post(page["Location"], {"password": DEFAULT_PASSWORD})
    assert again["Location"] == ACTIVATE
    page = http.get(ACTIVATE)
    assert page.status_code == 200
    secret = re.search(
        r'<code class="totp-secret" id="authenticator_secret">([A-Z2-7]+)</code>',
        page.content.decode(),
    ).group(1)
    assert 'src="data:image/svg+xml;base64,' in page.content.decode()
    done = http.post(ACTIVATE, {"code": totp_code(secret)})
    assert done.status_code == 302, done.content[:500]
    return secret
