"""How the portal adapts allauth's identity provider: the public issuer, the claims of
identity/claims.py and the `membership` scope."""

from __future__ import annotations

from allauth.idp.oidc.adapter import DefaultOIDCAdapter
from django.conf import settings

from identity.claims import CLAIMS_SUPPORTED, MEMBERSHIP_SCOPE, PROFILE_SCOPE, member_claims
from members.models import Member


class OIDCAdapter(DefaultOIDCAdapter):
    scope_display = {
        "openid": "Know that it is you (an id that stays the same)",
        "email": "See your email address",
        PROFILE_SCOPE: "See your name and username",
        MEMBERSHIP_SCOPE: "See your member number, membership status and authorizations",
    }

    def get_issuer(self) -> str:
        # Behind a proxy the request may say http and an inner host name; the issuer is
        # the public address relying parties were told.
        return settings.SITE_URL

    def get_claims(self, purpose, user, client, scopes, email=None, **kwargs):
        claims = super().get_claims(purpose, user, client, scopes, email=email, **kwargs)
        # allauth's profile claims read the login, whose name is a placeholder for
        # members without a username: the member's own record says it.
        for key in ("name", "given_name", "family_name", "preferred_username"):
            claims.pop(key, None)
        member = Member.objects.filter(user=user).first()
        claims.update(member_claims(member, scopes))
        return claims

    def populate_server_metadata(self, data) -> None:
        data["scopes_supported"] = [*data["scopes_supported"], MEMBERSHIP_SCOPE]
        data["claims_supported"] = list(CLAIMS_SUPPORTED)
        # Every endpoint at the public address too, as the issuer is.
        here = self.request.build_absolute_uri("/").rstrip("/")
        for key, value in data.items():
            if isinstance(value, str) and value.startswith(here + "/"):
                data[key] = settings.SITE_URL + value[len(here) :]
