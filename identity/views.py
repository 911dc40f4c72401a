"""The provider's pages: allauth's own (allauth.idp.oidc), with each client's policy
asked where an authorization is decided and where a token is issued, and every page
off (404) while no signing key is set.

allauth decides an authorization in its AuthorizationView and checks only that the
login is active when a refresh token is used; the policy (identity/policy.py) is asked
there too. An ineligible member is sent back to the client with `access_denied` (and its
`state`) before any consent page or code; at the token endpoint, the code or refresh
token of a login that no longer fits is refused with `invalid_grant`, and the login's
tokens for that client are deleted."""

from __future__ import annotations

import functools

from allauth.idp.oidc import views as oidc
from allauth.idp.oidc.internal.oauthlib.server import get_server
from allauth.idp.oidc.internal.oauthlib.utils import convert_response, extract_params
from allauth.idp.oidc.models import Token
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from oauthlib.oauth2.rfc6749 import errors

from identity import policy


def provider_on(view):
    """`view`, answering 404 while IDP_OIDC_PRIVATE_KEY is unset (the provider is off)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.IDP_OIDC_PRIVATE_KEY:
            raise Http404("The identity provider is off.")
        return view(request, *args, **kwargs)

    return wrapper


class AuthorizationView(oidc.AuthorizationView):
    def get(self, request, *args, **kwargs):
        return self._refusal(request) or super().get(request, *args, **kwargs)

    def form_valid(self, form):
        # The consent page's "Authorize" and a client that skips consent both end here.
        if not policy.may_use(user=self.request.user, client_id=self._request_info["client_id"]):
            return self._respond_with_access_denied()
        return super().form_valid(form)

    def _refusal(self, request):
        """The redirect back with access_denied for a logged-in member the client's
        policy refuses; None to let allauth answer (a bad request is shown here, never
        sent to an unchecked redirect URI; a visitor not logged in logs in first)."""
        prompts = request.GET.get("prompt", "").split()
        if not request.user.is_authenticated or "login" in prompts:
            return None
        try:
            _scopes, info = get_server().validate_authorization_request(*extract_params(request))
        except (errors.FatalClientError, ValidationError):
            return None
        except errors.OAuth2Error as error:
            # A request allauth would send back with another error (prompt=none without
            # an earlier grant, a scope the client may not ask for): the client and its
            # redirect URI are checked by then, and a refused member hears access_denied.
            if not error.redirect_uri:
                return None
            info = {"client_id": error.client_id, "redirect_uri": error.redirect_uri}
            info["state"] = error.state
        if policy.may_use(user=request.user, client_id=info["client_id"]):
            return None
        self._request_info = info
        return self._respond_with_access_denied()


def _refuse_unfit(orequest) -> None:
    """An oauthlib token validator: the login behind a code or refresh token must still
    fit the client's policy. The member row stays share-locked until the tokens are
    saved, so a concurrent change that makes the member ineligible deletes them."""
    user, client = getattr(orequest, "user", None), getattr(orequest, "client", None)
    if user is None or client is None:
        return
    if not policy.may_use(user=user, client_id=client.id, lock=True):
        Token.objects.filter(user=user, client=client).delete()
        raise errors.InvalidGrantError(
            description="The member may no longer log in to this client.", request=orequest
        )


class TokenView(oidc.TokenView):
    def _create_token_response(self, request, *, user=None, data=None):
        # allauth's own, with the policy asked after each grant's own checks.
        server = get_server(pre_token=[lambda orequest: self._pre_token(orequest, user, data)])
        grants = (
            server.auth_grant,
            server.openid_connect_auth,
            server.refresh_grant,
            server.device_code_grant,
        )
        validators = {
            id(g.custom_validators.post_token): g.custom_validators.post_token for g in grants
        }
        for post_token in validators.values():
            post_token.append(_refuse_unfit)
        return convert_response(*server.create_token_response(*extract_params(request)))


authorization = AuthorizationView.as_view()
token = TokenView.as_view()
