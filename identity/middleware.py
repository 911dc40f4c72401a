"""The staff second-factor rule, and the form-action the client flow's pages need."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from allauth.idp.oidc.models import Client
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

# Authenticators that answer a login's second step (recovery codes only back them up).
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


@functools.cache
def _admin_prefix() -> str:
    return reverse("admin:index")


def has_second_factor(user) -> bool:
    return is_mfa_enabled(user, SECOND_FACTORS)


class StaffSecondFactorMiddleware:
    """With STAFF_REQUIRE_MFA, staff without a second factor who open any admin page are
    sent to set one up first. Once they have one, allauth asks for its code at every
    login, the admin's included (the admin login is allauth's, dhportal/urls.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            settings.STAFF_REQUIRE_MFA
            and request.path.startswith(_admin_prefix())
            and request.user.is_authenticated
            and request.user.is_staff
            and not has_second_factor(request.user)
        ):
            messages.warning(
                request,
                "Staff pages need a second factor. Set up an authenticator app to continue.",
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)


# The pages whose forms may end, through redirects, at a client: a browser enforces the
# page's form-action on every redirect after the form is posted (the login, the second
# factor and a client that skips consent; the consent page; the logout page).
FLOW_PAGES = frozenset(
    {
        "account_login",
        "account_reauthenticate",
        "mfa_authenticate",
        "mfa_reauthenticate",
        "idp:oidc:authorization",
        "idp:oidc:logout",
    }
)
_SOURCE = re.compile(r"^([a-z][a-z0-9+.-]*:)(//[A-Za-z0-9.*\[\]:-]+)?$")


def _source(uri: str) -> str | None:
    """The CSP source a redirect URI is reached at: its origin (`https://host:port`,
    a wildcard host kept), or its scheme for an app's own (`com.example.app:`)."""
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    if not scheme:
        return None
    source = f"{scheme}://{parts.netloc}" if scheme in ("http", "https") else f"{scheme}:"
    return source if _SOURCE.match(source) else None


def client_sources() -> list[str]:
    """Where the registered clients send browsers back to, as CSP sources."""
    found: set[str] = set()
    for client in Client.objects.only("redirect_uris", "data"):
        for uri in client.get_redirect_uris() + client.get_post_logout_redirect_uris():
            source = _source(uri)
            if source:
                found.add(source)
    return sorted(found)


class ClientFormActionMiddleware:
    """Adds the registered clients' redirect origins to form-action on the flow's
    pages only (the site's policy allows posting to itself alone), so a real browser
    follows the redirect back to the client."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = request.resolver_match
        if (
            settings.IDP_OIDC_PRIVATE_KEY
            and match is not None
            and match.view_name in FLOW_PAGES
            and response.get("Content-Type", "").startswith("text/html")
        ):
            sources = client_sources()
            if sources:
                update = dict(getattr(response, "_csp_update", None) or {})
                update["form-action"] = [*update.get("form-action", []), *sources]
                response._csp_update = update
        return response
