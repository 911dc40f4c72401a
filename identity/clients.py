"""Registering a client, one of the space's systems that log members in through the
portal: allauth's Client with the scopes and grants the portal offers, and its policy
(identity.ClientPolicy). `manage.py oidc_client create` calls it; staff can also add
clients in admin (allauth's client admin, with the policy inline)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from allauth.idp.oidc.adapter import get_adapter
from allauth.idp.oidc.models import Client
from django.db import transaction

from identity.claims import MEMBERSHIP_SCOPE, PROFILE_SCOPE
from identity.models import ClientPolicy
from identity.sql import DEFAULT_STATUSES
from members.models import Authorization
from members.shapes import MemberStatus

SCOPES = ("openid", "email", PROFILE_SCOPE, MEMBERSHIP_SCOPE)
GRANTS = (Client.GrantType.AUTHORIZATION_CODE, Client.GrantType.REFRESH_TOKEN)
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_NAME_MAX = Client._meta.get_field("name").max_length or 100


class ClientRefused(ValueError):
    """The client cannot be registered as asked; the message says why, in one line."""


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a redirect URI, or None. https, plain http on loopback only
    (a program on the member's own computer), or an app's own scheme (`com.example.app:`,
    RFC 8252); never a fragment or a wildcard."""
    parts = urlsplit(uri)
    if not parts.scheme:
        return f"redirect URI {uri!r} is not an absolute URI"
    if parts.fragment or "#" in uri:
        return f"redirect URI {uri!r} has a fragment"
    if "*" in uri:
        return f"redirect URI {uri!r} has a wildcard (allow wildcards in admin instead)"
    if parts.scheme in ("http", "https") and not parts.hostname:
        return f"redirect URI {uri!r} has no host"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        return f"redirect URI {uri!r} is plain http: use https (http only on loopback)"
    if parts.scheme not in ("http", "https") and "." not in parts.scheme:
        return f"redirect URI {uri!r}: an app's own scheme is a reversed domain (org.example.app:)"
    return None


def _statuses(statuses: Iterable[str]) -> list[str]:
    found = []
    for status in statuses:
        status = status.strip().lower()
        if status not in MemberStatus.values:
            known = ", ".join(MemberStatus.values)
            raise ClientRefused(f"unknown membership status {status!r} (known: {known})")
        if status not in found:
            found.append(status)
    return found


def _requires(names: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(name.strip() for name in names))
    known = set(Authorization.objects.filter(name__in=wanted).values_list("name", flat=True))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ClientRefused(
            f"no authorization named {unknown[0]!r} in the catalog (members' Authorizations)"
        )
    return wanted


def _checked(name: str, redirect_uris: Iterable[str]) -> tuple[str, list[str]]:
    name = name.strip()
    if not name or len(name) > _NAME_MAX:
        raise ClientRefused(f"a client's name has 1 to {_NAME_MAX} characters")
    if Client.objects.filter(name__iexact=name).exists():
        raise ClientRefused(f"a client named {name!r} already exists")
    uris = list(dict.fromkeys(uri.strip() for uri in redirect_uris if uri.strip()))
    if not uris:
        raise ClientRefused("give at least one --redirect-uri")
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise ClientRefused(problem)
    return name, uris


def client_create(
    *,
    name: str,
    redirect_uris: Iterable[str],
    public: bool = False,
    skip_consent: bool = False,
    statuses: Iterable[str] = DEFAULT_STATUSES,
    requires: Iterable[str] = (),
) -> tuple[Client, str]:
    """A new client and its policy, in one transaction; returns the client and its
    secret ("" for a public client), which is stored hashed and cannot be read again.
    Raises ClientRefused, writing nothing, when an argument is wrong."""
    name, uris = _checked(name, redirect_uris)
    allowed = _statuses(statuses) or list(DEFAULT_STATUSES)
    required = _requires(requires)
    secret = "" if public else get_adapter().generate_client_secret()
    client = Client(
        name=name,
        type=Client.Type.PUBLIC if public else Client.Type.CONFIDENTIAL,
        skip_consent=skip_consent,
    )
    client.set_redirect_uris(uris)
    client.set_scopes(list(SCOPES))
    client.set_default_scopes(["openid"])
    client.set_grant_types(list(GRANTS))
    client.set_response_types([Client.ResponseType.CODE])
    if secret:
        client.set_secret(secret)
    with transaction.atomic():
        client.save()
        ClientPolicy.objects.create(client=client, statuses=allowed, requires=required)
    return client, secret
