"""Helpers for the door tests: requests to the running server (pytest-django's
live_server: a real socket, the whole request cycle), as a door controller with a key
or as a logged-in user, and batches of events."""

from __future__ import annotations

import datetime
import json
from urllib.parse import urlsplit

from django.test import Client

from integrations.services import access_key_create
from tests.server import Reply, Visitor

EVENTS = "/api/v1/door-events/"
ACCESS = "/api/v1/access/"


def port_of(live_server) -> int:
    port = urlsplit(live_server.url).port
    assert port is not None
    return port


def new_key(name: str = "front door", *scopes: str) -> str:
    return access_key_create(name=name, scopes=list(scopes) or None)[1]


def door_key(name: str = "front door") -> str:
    return new_key(name, "door-events:write")


def call(live_server, method: str, path: str, *, key=None, body=None, headers=None) -> Reply:
    headers = dict(headers or {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None and not isinstance(body, bytes | str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    return Visitor(port_of(live_server)).request(method, path, body, headers)


def post_events(live_server, key, events) -> Reply:
    return call(live_server, "POST", EVENTS, key=key, body={"events": events})


def event(n: int = 1, *, tag: str = "0000012345", door: str = "front", at=None, granted=True):
    at = at or datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=n)
    return {"id": f"ev-{n}", "door": door, "tag": tag, "at": at.isoformat(), "granted": granted}


def batch(count: int, *, first: int = 1, **kwargs) -> list[dict]:
    return [event(n, **kwargs) for n in range(first, first + count)]


def visitor_as(live_server, user) -> Visitor:
    """A visitor holding `user`'s session cookie."""
    client = Client()
    client.force_login(user)
    visitor = Visitor(port_of(live_server))
    visitor.cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    return visitor
