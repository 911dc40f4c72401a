"""The relying party of the provider's tests: one of the space's systems (a wiki) as it
logs members in, with Authlib as its OpenID Connect client over real HTTP to the
portal on loopback; and the member's browser, as a `requests` session with cookies."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import DEFAULT_PASSWORD
from tests.server import free_port

SCOPE = "openid email profile membership"


@dataclass
class Redirect:
    """Where the portal sent the browser back to the client, read as the client would."""

    url: str

    @property
    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query).items()}


class RelyingParty:
    """A client of the portal: discovery, the authorization URL with PKCE (S256) and a
    nonce, the code exchange, the ID token checked against the JWKS (signature) and by
    Authlib's CodeIDToken (iss, aud, exp, nonce, at_hash), userinfo and refresh."""

    def __init__(self, base_url, client_id, client_secret="", *, redirect_uri, scope=SCOPE):
        self.base_url = base_url
        response = requests.get(f"{base_url}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        self.metadata = response.json()
        self.client_id, self.redirect_uri = client_id, redirect_uri
        self.session = OAuth2Session(
            client_id,
            client_secret or None,
            scope=scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
        )
        self.state = self.nonce = self.verifier = ""

    def authorization_url(self, **params) -> str:
        self.verifier = secrets.token_urlsafe(48)
        self.nonce = secrets.token_urlsafe(16)
        url, self.state = self.session.create_authorization_url(
            self.metadata["authorization_endpoint"],
            code_verifier=self.verifier,
            nonce=self.nonce,
            **params,
        )
        return url

    def fetch_token(self, redirect: Redirect) -> dict:
        return self.session.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=redirect.url,
            state=self.state,
            code_verifier=self.verifier,
        )

    def id_token_claims(self, token: dict) -> dict:
        keys = requests.get(self.metadata["jwks_uri"], timeout=10).json()
        decoded = jwt.decode(token["id_token"], KeySet.import_key_set(keys))
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"values": [self.metadata["issuer"]]}},
            {
                "nonce": self.nonce,
                "client_id": self.client_id,
                "access_token": token["access_token"],
            },
        )
        claims.validate(leeway=5)
        return dict(claims)

    def userinfo(self, token: dict) -> requests.Response:
        return requests.get(
            self.metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=10,
        )

    def refresh(self, refresh_token: str) -> dict:
        return self.session.refresh_token(
            self.metadata["token_endpoint"], refresh_token=refresh_token
        )

    def refresh_response(self, refresh_token: str) -> requests.Response:
        """The token endpoint's raw answer to a refresh (Authlib raises on an error)."""
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        auth = None
        if self.session.client_secret:
            auth = (self.client_id, self.session.client_secret)
        else:
            data["client_id"] = self.client_id
        return requests.post(self.metadata["token_endpoint"], data=data, auth=auth, timeout=10)


_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def form_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)" name="{name}"', html
    )
    assert found, f"no {name} in the page"
    return unescape(found.group(1))


class Browser:
    """The member's browser, minus the rendering: cookies kept, redirects followed
    within the portal and stopped at the client (the wiki reads what comes back)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()

    def _follow(self, response) -> requests.Response | Redirect:
        while response.is_redirect:
            target = requests.compat.urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.base_url + "/"):
                return Redirect(target)
            response = self.http.get(target, allow_redirects=False, timeout=10)
        return response

    def get(self, url: str):
        return self._follow(self.http.get(url, allow_redirects=False, timeout=10))

    def post_form(self, page: requests.Response, fields: dict, action: str | None = None):
        token = _CSRF.search(page.text)
        assert token, "no CSRF token on the page"
        url = action or page.url
        response = self.http.post(
            url,
            data={"csrfmiddlewaretoken": token.group(1), **fields},
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
        return self._follow(response)

    def log_in(self, email: str, password: str = DEFAULT_PASSWORD, *, totp_secret: str = ""):
        page = self.get(f"{self.base_url}/accounts/login/")
        answer = self.post_form(page, {"login": email, "password": password})
        if totp_secret:
            assert isinstance(answer, requests.Response) and "/2fa/authenticate/" in answer.url
            answer = self.post_form(answer, {"code": totp_code(totp_secret)})
        return answer

    def consent(self, url: str, action: str = "grant") -> Redirect:
        """Open the authorization URL, and on the consent page (if the client has one)
        press Allow (`grant`) or Cancel; where the browser is sent back to."""
        page = self.get(url)
        if isinstance(page, Redirect):
            return page
        assert page.status_code == 200, page.text[:500]
        scopes = re.findall(r'name="scopes" value="([^"]+)"', page.text)
        fields = {"request": form_value(page.text, "request"), "scopes": scopes, "action": action}
        answer = self.post_form(page, fields)
        assert isinstance(answer, Redirect), answer.text[:500]
        return answer


def totp_code(secret: str) -> str:
    """The code an authenticator app shows now; waits out the last seconds of a period,
    so the code is still current when the server checks it."""
    totp = pyotp.TOTP(secret)
    if totp.interval - time.time() % totp.interval < 3:
        time.sleep(totp.interval - time.time() % totp.interval + 0.1)
    return totp.now()


class Callback:
    """The wiki's own web server on another loopback port (another origin than the
    portal's): it answers the browser's arrival at the redirect URI and keeps the URL,
    which the wiki's code then exchanges."""

    def __init__(self):
        self.port = free_port()
        self.arrivals: list[str] = []
        callback = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                callback.arrivals.append(f"{callback.origin}{self.path}")
                body = b"<!doctype html><title>Wiki</title><p>Signed in.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/oidc/callback"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
