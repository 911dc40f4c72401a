import pytest

from identity.clients import client_create
from tests.identity.rp import Browser, RelyingParty

WIKI_CALLBACK = "https://wiki.example.org/oidc/callback"


@pytest.fixture
def portal(live_server, settings):
    """The portal served on loopback, its public address that of the live server."""
    settings.SITE_URL = live_server.url
    return live_server.url


def register(name="Wiki", *, redirect_uri=WIKI_CALLBACK, **policy):
    """A client as `oidc_client create` makes it: (client, secret)."""
    return client_create(name=name, redirect_uris=[redirect_uri], **policy)


@pytest.fixture
def wiki(portal):
    """The space's wiki as a confidential client (active members, no authorization
    required), with its relying party."""
    client, secret = register()
    return RelyingParty(portal, client.id, secret, redirect_uri=WIKI_CALLBACK)


@pytest.fixture
def browser(portal):
    return Browser(portal)
