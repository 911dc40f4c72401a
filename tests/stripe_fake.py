"""A loopback fake of the Stripe API, for reconciliation tests and its benchmark.

A threaded `http.server` on 127.0.0.1 speaking what billing/reconcile.py reads:
`GET /v1/webhook_endpoints`, `/v1/events`, `/v1/subscriptions` in Stripe's list shape
(`object: list`, `data`, `has_more`, `url`), newest first, paged with `limit` (10 by
default, at most 100), `starting_after` and `ending_before`, filtered by `created[gte]`
(and gt, lte, lt), `types[]` (events) and `status` (subscriptions: canceled ones only
with `status=all` or `status=canceled`, as Stripe does). Every answer carries a `Date`
header, from `clock` when set. It checks the bearer key and records each request.

Failures are programmed in order with `fail(kind, times=1, path="", skip=0)`: after
`skip` matching requests are answered normally, the next `times` matching ones answer
401, 403, 429, 500, a `timeout` (the answer comes `hang` seconds late), `malformed`
JSON, `not_a_list` (a JSON object of another kind), or `bad_version` (400, Stripe's
answer to an API version it does not know). With `endless` set to a list's path, that
list never ends: every page is full of fresh objects and says `has_more: true`.

    with StripeFake() as fake:
        fake.add_subscription(subscription("sub_1", "cus_1"))
        settings.STRIPE_API_BASE = fake.url
"""

from __future__ import annotations

import copy
import email.utils
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import stripe

API_KEY = "rk_test_reconcile_fake_0123456789"
PINNED = stripe.api_version
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stripe"
HANDLED_TYPES = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.updated",
    "invoice.paid",
    "invoice.payment_failed",
)

_seq = itertools.count(1)


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


_SUBSCRIPTION = _fixture("customer.subscription.updated")["data"]["object"]


def subscription(
    sub_id: str,
    customer: str,
    *,
    status: str = "active",
    period_end: int | None = None,
    product: str | None = None,
    created: int | None = None,
) -> dict:
    """A subscription object as Stripe's API returns it (the fixtures' shape)."""
    obj = copy.deepcopy(_SUBSCRIPTION)
    obj.update(id=sub_id, customer=customer, status=status)
    if created is not None:
        obj["created"] = created
    for item in obj["items"]["data"]:
        item["subscription"] = sub_id
        if period_end is not None:
            item["current_period_end"] = period_end
        if product is not None:
            item["price"]["product"] = product
            item["plan"]["product"] = product
    return obj


def event(
    event_type: str,
    obj: dict,
    *,
    event_id: str | None = None,
    created: int | None = None,
    api_version: str = PINNED,
) -> dict:
    """An event as the events list returns it, carrying `obj`."""
    name = event_type if (FIXTURES / f"{event_type}.json").exists() else "customer.created"
    base = _fixture(name)
    base.update(
        id=event_id or f"evt_fake{next(_seq):08d}",
        type=event_type,
        api_version=api_version,
        created=int(created if created is not None else time.time()),
        data={"object": copy.deepcopy(obj)},
    )
    return base


def subscription_event(event_type: str, sub: dict, **kwargs) -> dict:
    return event(f"customer.subscription.{event_type}", sub, **kwargs)


def endpoint(
    url: str,
    *,
    endpoint_id: str | None = None,
    status: str = "enabled",
    enabled_events=HANDLED_TYPES,
    api_version: str | None = PINNED,
) -> dict:
    return {
        "id": endpoint_id or f"we_fake{next(_seq):08d}",
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": int(time.time()) - 86400,
        "description": None,
        "enabled_events": list(enabled_events),
        "livemode": False,
        "metadata": {},
        "status": status,
        "url": url,
    }


@dataclass
class Failure:
    kind: str
    path: str
    times: int
    skip: int = 0


@dataclass
class Request:
    method: str
    path: str
    params: list[tuple[str, str]]
    version: str | None


ERRORS = {
    "401": (401, "invalid_request_error", "Invalid API Key provided: rk_test_****"),
    "403": (403, "invalid_request_error", "The provided key does not have the permission."),
    "429": (429, "invalid_request_error", "Request rate limit exceeded."),
    "500": (500, "api_error", "An unknown error occurred."),
    "bad_version": (400, "invalid_request_error", "Invalid Stripe API version: {version}"),
}


@dataclass
class StripeFake:
    api_key: str = API_KEY
    endpoints: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    subscriptions: list[dict] = field(default_factory=list)
    # Epoch seconds for the Date header; None: the real time.
    clock: float | None = None
    # How late a `timeout` failure answers.
    hang: float = 2.0
    # A list path answered with full pages and `has_more: true` forever ("": none).
    endless: str = ""
    failures: list[Failure] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- set up -----------------------------------------------------------------------

    def add_endpoint(self, url: str, **kwargs) -> dict:
        self.endpoints.append(item := endpoint(url, **kwargs))
        return item

    def add_event(self, payload: dict) -> dict:
        self.events.append(payload)
        return payload

    def add_subscription(self, obj: dict) -> dict:
        self.subscriptions.append(obj)
        return obj

    def fail(self, kind: str, *, times: int = 1, path: str = "", skip: int = 0) -> None:
        if kind not in (*ERRORS, "timeout", "malformed", "not_a_list"):
            raise ValueError(f"unknown failure {kind!r}")
        with self._lock:
            self.failures.append(Failure(kind, path, times, skip))

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # --- serving ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StripeFake:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StripeFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next_failure(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if path.startswith(failure.path):
                    if failure.skip > 0:
                        failure.skip -= 1
                        return None
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def answer(self, method: str, raw_path: str, headers) -> tuple[int, bytes]:
        parts = urlsplit(raw_path)
        params = parse_qsl(parts.query, keep_blank_values=True)
        version = headers.get("Stripe-Version")
        with self._lock:
            self.requests.append(Request(method, parts.path, params, version))
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(*ERRORS["401"])
        failure = self._next_failure(parts.path)
        if failure is not None:
            if failure.kind == "timeout":
                time.sleep(self.hang)
            elif failure.kind == "malformed":
                return 200, b'{"object": "list", "data": [{"id": '
            elif failure.kind == "not_a_list":
                return 200, b'{"object": "webhook_endpoint", "id": "we_NotAList"}'
            else:
                status, kind, message = ERRORS[failure.kind]
                return _error(status, kind, message.format(version=version))
        sources = {
            "/v1/webhook_endpoints": self.endpoints,
            "/v1/events": self.events,
            "/v1/subscriptions": self.subscriptions,
        }
        if method != "GET" or parts.path not in sources:
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}).")
        if parts.path == self.endless:
            limit = int(dict(params).get("limit", 10))
            page = [{"id": f"obj_endless_{next(_seq)}", "created": 0} for _ in range(limit)]
            body = {"object": "list", "data": page, "has_more": True, "url": parts.path}
            return 200, json.dumps(body).encode()
        try:
            body = _list(parts.path, list(sources[parts.path]), params)
        except ValueError as error:
            return _error(400, "invalid_request_error", str(error))
        return 200, json.dumps(body).encode()


def _error(status: int, kind: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": {"type": kind, "message": message}}).encode()


_CREATED = re.compile(r"^created\[(gte|gt|lte|lt)\]$")
_TYPES = re.compile(r"^types\[\d*\]$")


def _list(path: str, items: list[dict], params: list[tuple[str, str]]) -> dict:
    query = dict(params)
    limit = int(query.get("limit", 10))
    if not 1 <= limit <= 100:
        raise ValueError("limit must be between 1 and 100")
    types = [value for key, value in params if _TYPES.match(key)]
    if types:
        items = [i for i in items if i.get("type") in types]
    for key, value in params:
        if match := _CREATED.match(key):
            bound, op = int(value), match.group(1)
            test = {
                "gte": lambda c, b=bound: c >= b,
                "gt": lambda c, b=bound: c > b,
                "lte": lambda c, b=bound: c <= b,
                "lt": lambda c, b=bound: c < b,
            }[op]
            items = [i for i in items if test(i.get("created", 0))]
    if path == "/v1/subscriptions":
        status = query.get("status")
        if status is None:
            items = [i for i in items if i.get("status") != "canceled"]
        elif status != "all":
            items = [i for i in items if i.get("status") == status]
    # Stripe lists newest first; among equals, the last created first.
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda i: (i.get("created", 0), order[id(i)]), reverse=True)
    ids = [i.get("id") for i in items]
    if after := query.get("starting_after"):
        if after not in ids:
            raise ValueError(f"No such object: '{after}'")
        rest = items[ids.index(after) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif before := query.get("ending_before"):
        if before not in ids:
            raise ValueError(f"No such object: '{before}'")
        rest = items[: ids.index(before)]
        page, has_more = rest[-limit:], len(rest) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": path}


class _Handler(BaseHTTPRequestHandler):
    fake: StripeFake
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._serve("POST")

    def _serve(self, method: str):
        status, body = self.fake.answer(method, self.path, self.headers)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Request-Id", f"req_fake{next(_seq)}")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def date_time_string(self, timestamp=None):
        clock = self.fake.clock
        return email.utils.formatdate(clock if clock is not None else timestamp, usegmt=True)

    def log_message(self, format, *args):
        pass


SITE_URL = "https://members.example.org"
WEBHOOK_URL = SITE_URL + "/billing/stripe/webhook/"


def configure(settings, fake: StripeFake) -> None:
    """Point the project at `fake` (pytest-django's `settings`, or django.conf's)."""
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.SITE_URL = SITE_URL
