"""Stripe reconciliation (README, "Stripe reconciliation"): what the webhook alone cannot guarantee.

Webhooks are at-least-once only while the endpoint works. A run makes three passes,
each read-only at Stripe, with a restricted key (`STRIPE_SECRET_KEY`):

1. Endpoint health: the webhook endpoint for `SITE_URL` + /billing/stripe/webhook/
   exists, is enabled, takes every type the webhook handles, in the pinned API version.
2. Missed events: events of those types since the last complete run's watermark (less
   MARGIN; the first run goes back Stripe's 30 days), oldest first, each put through
   the webhook's own `deliver()`: stored once, applied once, order-safe.
3. Snapshot: every subscription (`status=all`), compared with the subscription table
   and the members; a difference is repaired through the handlers' own subscription
   update, with the page's `Date` header as the snapshot's time, so an event Stripe
   creates after the read still wins (and one created before it loses).

Each difference is a ReconcileFinding, one per (kind, Stripe object), updated by later
runs. A dry run stores findings and changes nothing else.

Stripe is read with the stripe library's own client (`StripeClient.raw_request`, paged
by `starting_after` while `has_more`: see StripeReader.pages for why not its list
objects), its retries of timeouts, connection errors and 5xx (`max_network_retries`),
and a timeout on every request. The library does not retry 429: RateLimitedClient does,
with a capped exponential backoff. What still fails is reported as StripeUnreadable.

A run is bounded: by a deadline for the whole run (STRIPE_RECONCILE_DEADLINE seconds;
no request waits past it and none starts after it, so an API that hangs costs the
deadline, not 60 s x 4 tries per request) and by a number of pages per list
(STRIPE_RECONCILE_MAX_PAGES; an API that always answers `has_more: true` would be paged
forever). Either ends the run as one Stripe cannot be read, with a finding for staff.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import time
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Subquery
from django.utils import timezone

from billing import handlers, rows, rules, webhook
from billing.models import (
    DONE_STATES,
    ENDPOINT_KINDS,
    EventState,
    FindingKind,
    ReconcileFinding,
    ReconcileRun,
    StripeEvent,
    Subscription,
)
from dhportal.db import database_unreachable
from members import shapes
from members.audit import audit
from members.models import Member
from members.notifications import notify_transition

logger = logging.getLogger(__name__)

# What the project is written against: the API version of the pinned stripe library.
PINNED_API_VERSION = stripe.api_version
WEBHOOK_PATH = "/billing/stripe/webhook/"
HANDLED_TYPES = sorted(webhook.HANDLERS)
PAGE_SIZE = 100  # Stripe's largest page
# Stripe keeps events for 30 days: the first run lists them all.
EVENT_RETENTION = timedelta(days=30)
# Events are listed from the last watermark less this: an event can show up in the
# list a little after its `created`, and re-reading one already stored costs nothing.
MARGIN = timedelta(hours=1)
# (connect, read) seconds for each request; the library retries timeouts and 5xx this
# many times, with its own backoff (0.5 s doubling up to 5 s).
TIMEOUT: float | tuple[float, float] = (10, 60)
MAX_NETWORK_RETRIES = 3
# 429: retried by RateLimitedClient this many times, waiting RATE_LIMIT_WAIT seconds
# doubling (with jitter) up to RATE_LIMIT_MAX_WAIT, or what Retry-After asks within it.
RATE_LIMIT_RETRIES = 6
RATE_LIMIT_WAIT = 1.0
RATE_LIMIT_MAX_WAIT = 30.0
# From this many events to apply, they are delivered this many at once (see
# Reconciler._deliver_all): each delivery mostly waits on the database.
PARALLEL_FROM = 100
DELIVERY_THREADS = 4
# A session-level advisory lock: one run at a time (the hourly job and a staff run).
RUN_LOCK = "billing-reconcile-run"


class StripeUnreadable(Exception):
    """Stripe could not be read; the message is one line for the operator."""


class RunCut(Exception):
    """The run reached its deadline or a list its page limit: it stops, reported as a
    finding of `kind` on `stripe_object`. Not a StripeError, so the library's retries
    let it through."""

    def __init__(self, kind: str, stripe_object: str, message: str):
        super().__init__(message)
        self.kind, self.stripe_object = kind, stripe_object

    @property
    def detail(self) -> str:
        message = str(self)
        return message[:1].upper() + message[1:]


def _pair(timeout: float | tuple[float, float]) -> tuple[float, float]:
    return timeout if isinstance(timeout, tuple) else (timeout, timeout)


class RateLimitedClient(stripe.RequestsClient):
    """The library's requests-based HTTP client, retrying 429 (which the library
    leaves to its caller) with a capped exponential backoff, and counting requests."""

    def __init__(
        self, *, timeout: float | tuple[float, float] | None = None, deadline: float | None = None
    ):
        super().__init__(timeout=TIMEOUT if timeout is None else timeout)
        self.timeouts = _pair(TIMEOUT if timeout is None else timeout)
        # time.monotonic() at which the run ends; None: no deadline.
        self.deadline = deadline
        self.requests_made = 0
        self.rate_limited = 0

    def _time_left(self, url: str) -> float | None:
        """Seconds to the deadline; raises RunCut once it has passed. Each request's
        timeouts are cut to it, so a hanging API is left at the deadline."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            seconds = settings.STRIPE_RECONCILE_DEADLINE
            path = urlsplit(url).path
            raise RunCut(
                FindingKind.RUN_DEADLINE,
                "reconciliation run",
                f"the run reached its deadline ({seconds} s, STRIPE_RECONCILE_DEADLINE) "
                f"while reading {path}; it stopped there.",
            )
        connect, read = self.timeouts
        self._timeout = (min(connect, left), min(read, left))
        return left

    # RequestsClient.request's own signature: the library's base class declares a
    # keyword and a content type (str) that its requests-based client does not have.
    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        attempt = 0
        while True:
            self._time_left(url)
            self.requests_made += 1
            content, status, response_headers = super().request(method, url, headers, post_data)
            if status != 429 or attempt >= RATE_LIMIT_RETRIES:
                return content, status, response_headers
            self.rate_limited += 1
            wait = _rate_limit_wait(attempt, response_headers)
            left = self._time_left(url)
            time.sleep(wait if left is None else min(wait, left))
            attempt += 1


def _rate_limit_wait(attempt: int, headers: Mapping[str, str]) -> float:
    asked = None
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        asked = float(headers.get("retry-after", ""))  # none or junk: ValueError
    if asked is not None and 0 <= asked <= RATE_LIMIT_MAX_WAIT:
        return asked
    wait = min(RATE_LIMIT_WAIT * 2**attempt, RATE_LIMIT_MAX_WAIT)
    return wait * random.uniform(0.5, 1.0)


def _describe(error: Exception) -> str:
    """One line on what went wrong, never the key."""
    if isinstance(error, stripe.AuthenticationError):
        return "Stripe refused the key (401): check STRIPE_SECRET_KEY."
    if isinstance(error, stripe.PermissionError):
        return (
            "the key may not read this (403): it needs read access to webhook endpoints, "
            "events, subscriptions and customers."
        )
    if isinstance(error, stripe.RateLimitError):
        return f"still rate limited (429) after {RATE_LIMIT_RETRIES} retries."
    if isinstance(error, stripe.APIConnectionError):
        return (
            f"no answer from {settings.STRIPE_API_BASE} (timeout or connection error) "
            f"after {MAX_NETWORK_RETRIES} retries."
        )
    if isinstance(error, stripe.StripeError):
        status = error.http_status or "no status"
        message = " ".join(str(error.user_message or "").split())[:200]
        if "Invalid response body" in message:
            return f"Stripe's answer was not JSON ({status})."
        retried = f" after {MAX_NETWORK_RETRIES} retries" if (error.http_status or 0) >= 500 else ""
        return f"Stripe answered {status}{retried}: {message or type(error).__name__}"
    return f"Stripe's answer could not be read ({type(error).__name__})."


def _date_header(headers: Mapping[str, str] | None) -> datetime | None:
    """The `Date` of a response: Stripe's clock at the read."""
    value = headers.get("date") if headers is not None else None
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class StripeReader:
    """Read-only access to the few lists reconciliation needs."""

    def __init__(self, api_key: str, *, timeout=None, deadline: float | None = None):
        self.http = RateLimitedClient(timeout=timeout, deadline=deadline)
        self.max_pages = settings.STRIPE_RECONCILE_MAX_PAGES
        self.client = stripe.StripeClient(
            api_key,
            stripe_version=PINNED_API_VERSION,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=self.http,
        )

    @property
    def requests_made(self) -> int:
        return self.http.requests_made

    def _get(self, path: str, params: dict):
        try:
            return self.client.raw_request("get", path, **params)
        except (stripe.StripeError, ValueError, TypeError, AttributeError, KeyError) as error:
            raise StripeUnreadable(_describe(error)) from error

    def pages(self, path: str, params: dict) -> Iterator[tuple[list[dict], datetime | None]]:
        """Each page of a list, oldest request first: its objects as Stripe sent them
        (plain JSON) and the time of its response.

        The library's client makes each request (key, API version, base address,
        timeouts, retries, errors), but its list objects are not used: turning each
        object into a StripeObject costs several milliseconds (a subscription holds
        dozens of nested objects), 15 to 30 s for 5,000 subscriptions, where reading
        the JSON costs well under one. The paging is the library's own rule:
        `starting_after` the last object's id while `has_more`.
        """
        cursor = None
        for _page in range(self.max_pages):
            query = {**params, "limit": PAGE_SIZE}
            if cursor is not None:
                query["starting_after"] = cursor
            response = self._get(path, query)
            raw = response.data
            if not isinstance(raw, dict) or raw.get("object") != "list":
                raise StripeUnreadable("Stripe answered a list request with something else.")
            items = raw.get("data")
            if not isinstance(items, list):
                raise StripeUnreadable("Stripe answered a list without data.")
            yield [item for item in items if isinstance(item, dict)], _date_header(response.headers)
            if not (raw.get("has_more") is True and items):
                return
            cursor = items[-1].get("id") if isinstance(items[-1], dict) else None
            if not isinstance(cursor, str) or not cursor:
                raise StripeUnreadable("Stripe answered a page whose last object has no id.")
        raise RunCut(
            FindingKind.PAGE_LIMIT,
            path,
            f"{path} still had more after {self.max_pages} pages of {PAGE_SIZE} "
            "(STRIPE_RECONCILE_MAX_PAGES); the run stopped there.",
        )

    def webhook_endpoints(self):
        return self.pages("/v1/webhook_endpoints", {})

    def events(self, since: datetime):
        params = {"types": HANDLED_TYPES, "created": {"gte": int(since.timestamp())}}
        return self.pages("/v1/events", params)

    def subscriptions(self):
        return self.pages("/v1/subscriptions", {"status": "all"})


@dataclass
class Result:
    endpoint_ok: bool = True
    events_applied: int = 0
    subscriptions_checked: int = 0
    findings: int = 0
    fixed: int = 0
    orphans: int = 0
    requests: int = 0
    error: str = ""
    busy: bool = False

    @property
    def readable(self) -> bool:
        return not self.error

    def summary(self) -> str:
        endpoint = "ok" if self.endpoint_ok and self.readable else "problem"
        return (
            f"endpoint {endpoint}, events applied {self.events_applied}, "
            f"subscriptions checked {self.subscriptions_checked}, "
            f"findings {self.findings}, fixed {self.fixed}"
        )


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).date().isoformat() if moment else "none"


def _what(payload: dict) -> str:
    return f"{payload['type']} of {_when(datetime.fromtimestamp(payload['created'], UTC))}"


def _created(event: dict) -> int:
    created = event.get("created")
    return created if isinstance(created, int) else 0


def _same_url(a, b: str) -> bool:
    if not isinstance(a, str):
        return False
    x, y = urlsplit(a.strip()), urlsplit(b)
    # Scheme and host are case-insensitive; the path is not (and a missing slash would
    # make Django redirect, which Stripe does not follow).
    return (x.scheme.lower(), x.netloc.lower(), x.path) == (
        y.scheme.lower(),
        y.netloc.lower(),
        y.path,
    )


class _Findings:
    """The findings of one run, written in batches (one upsert each)."""

    def __init__(self, now: datetime, *, dry_run: bool):
        self.now = now
        self.dry_run = dry_run
        self.pending: dict[tuple[str, str], ReconcileFinding] = {}
        self.seen: dict[str, set[str]] = {}
        self.count = 0
        self.fixed = 0

    def add(self, kind: str, stripe_object: str, detail: str, *, member_id=None, fixed=False):
        stripe_object = stripe_object[:255]
        if stripe_object in self.seen.setdefault(kind, set()):
            return
        self.seen[kind].add(stripe_object)
        self.count += 1
        fixed = fixed and not self.dry_run
        self.fixed += fixed
        self.pending[(kind, stripe_object)] = ReconcileFinding(
            kind=kind,
            stripe_object=stripe_object,
            member_id=member_id,
            detail=detail,
            found=self.now,
            last_seen=self.now,
            fixed=self.now if fixed else None,
        )

    def flush(self) -> None:
        if not self.pending:
            return
        # An existing finding keeps `found`; a later run updates the rest (a fixed one
        # found again is open again).
        ReconcileFinding.objects.bulk_create(
            list(self.pending.values()),
            update_conflicts=True,
            unique_fields=["kind", "stripe_object"],
            update_fields=["member", "detail", "last_seen", "fixed"],
        )
        self.pending.clear()

    def resolve(self, kinds, *, queryset=None) -> None:
        """Mark fixed the open findings of `kinds` this run did not find again (the
        pass that looks for them ran whole). A dry run fixes nothing."""
        if self.dry_run:
            return
        self.flush()
        for kind in kinds:
            stale = queryset if queryset is not None else ReconcileFinding.objects.all()
            stale = stale.filter(kind=kind, fixed__isnull=True)
            stale = stale.exclude(stripe_object__in=self.seen.get(kind, ()))
            self.fixed += stale.update(fixed=self.now)


def default_since(now: datetime) -> datetime:
    """Where events are listed from: the last complete run's watermark less MARGIN,
    and never before Stripe's 30 days."""
    floor = now - EVENT_RETENTION
    last = (
        ReconcileRun.objects.filter(watermark__isnull=False)
        .order_by("-watermark")
        .values_list("watermark", flat=True)
        .first()
    )
    return max(last - MARGIN, floor) if last else floor


class Reconciler:
    def __init__(self, reader: StripeReader, *, dry_run: bool, progress=None):
        self.reader = reader
        self.dry_run = dry_run
        self.now = timezone.now()
        self.findings = _Findings(self.now, dry_run=dry_run)
        self.result = Result()
        self.watermark: datetime | None = None
        self.progress = progress or (lambda what, n: None)

    # --- 1. endpoint health -----------------------------------------------------------

    def endpoints(self) -> None:
        expected = settings.SITE_URL + WEBHOOK_PATH
        matching = []
        for items, _ in self.reader.webhook_endpoints():
            matching += [item for item in items if _same_url(item.get("url"), expected)]
        add = self.findings.add
        if not matching:
            add(
                FindingKind.ENDPOINT_MISSING,
                expected,
                f"No webhook endpoint delivers to {expected}: the portal gets no events. "
                "Add it in Stripe's dashboard (see the README, Stripe reconciliation).",
            )
        for endpoint in matching:
            endpoint_id = handlers.stripe_id(endpoint.get("id")) or expected
            status = endpoint.get("status")
            if status != "enabled":
                add(
                    FindingKind.ENDPOINT_DISABLED,
                    endpoint_id,
                    f"Endpoint {endpoint_id} is {status or 'not enabled'}: Stripe sends it "
                    "nothing (Stripe disables an endpoint after days of failed deliveries). "
                    "Enable it again once the site answers.",
                )
            enabled = endpoint.get("enabled_events")
            enabled = set(enabled) if isinstance(enabled, list) else set()
            missing = [] if "*" in enabled else [t for t in HANDLED_TYPES if t not in enabled]
            if missing:
                add(
                    FindingKind.ENDPOINT_EVENTS,
                    endpoint_id,
                    f"Endpoint {endpoint_id} is not sent: {', '.join(missing)}.",
                )
            version = endpoint.get("api_version")
            if version != PINNED_API_VERSION:
                add(
                    FindingKind.ENDPOINT_VERSION,
                    endpoint_id,
                    f"Endpoint {endpoint_id} renders events in API version "
                    f"{version or 'of the account'}, not {PINNED_API_VERSION} as the "
                    "portal is written for. Events are still read defensively.",
                )
        self.findings.resolve(
            [
                FindingKind.ENDPOINT_MISSING,
                FindingKind.ENDPOINT_DISABLED,
                FindingKind.ENDPOINT_EVENTS,
                FindingKind.ENDPOINT_VERSION,
            ]
        )

    # --- 2. missed events ------------------------------------------------------------

    def events(self, since: datetime) -> None:
        listed: list[dict] = []
        for items, date in self.reader.events(since):
            if self.watermark is None:
                self.watermark = date or self.now
            listed += items
            self.progress("events listed", len(items))
        # Stripe lists newest first; applied oldest first (the order Stripe created them).
        listed.reverse()
        listed.sort(key=_created)
        versions: dict[str, list[str]] = {}
        todo: list[tuple[dict, str | None]] = []
        for start in range(0, len(listed), 1000):
            todo += self._not_done(listed[start : start + 1000], versions)
        if self.dry_run:
            for payload, state in todo:
                if state is None:
                    self.findings.add(
                        FindingKind.MISSED_EVENT,
                        payload["id"],
                        f"{_what(payload)}: the webhook never got it. Not applied (dry run).",
                    )
        else:
            for payload, state, delivery in self._deliver_all(todo):
                self._delivered(payload, state, delivery)
        self.findings.flush()
        for version, ids in versions.items():
            self.findings.add(
                FindingKind.EVENT_VERSION,
                version,
                f"{len(ids)} events listed in API version {version}, not "
                f"{PINNED_API_VERSION} (e.g. {ids[0]}): Stripe renders listed events in the "
                "account's version at their creation. Applied through handlers that read "
                "payloads defensively; upgrade the account's API version.",
            )
        if listed:
            self.findings.resolve([FindingKind.EVENT_VERSION])
        # Missed events a dry run reported that are stored and done by now.
        done = StripeEvent.objects.filter(state__in=DONE_STATES).values("stripe_id")
        self.findings.resolve(
            [FindingKind.MISSED_EVENT],
            queryset=ReconcileFinding.objects.filter(stripe_object__in=Subquery(done)),
        )

    def _not_done(self, batch: list[dict], versions) -> list[tuple[dict, str | None]]:
        """The usable events of `batch` not processed or ignored yet, with their
        stored state (None: never stored, the webhook never got them); one query."""
        ids = [e.get("id") for e in batch if isinstance(e.get("id"), str)]
        stored = dict(
            StripeEvent.objects.filter(stripe_id__in=ids).values_list("stripe_id", "state")
        )
        todo = []
        for payload in batch:
            try:
                payload = webhook.check_shape(payload)
            except webhook.BadEvent as error:
                logger.warning("Reconcile: an event listed by Stripe was skipped: %s", error)
                continue
            version = payload.get("api_version")
            if version != PINNED_API_VERSION:
                versions.setdefault(str(version or "none")[:100], []).append(payload["id"])
            state = stored.get(payload["id"])
            if state not in DONE_STATES:
                todo.append((payload, state))
        return todo

    def _deliver_all(self, todo):
        """Each event through the webhook's deliver(), yielding (payload, state before,
        delivery). Many events are delivered in DELIVERY_THREADS lanes at once, each
        customer's events in one lane, oldest first (the order across customers does
        not matter: every handler locks its customer, and events about different
        customers touch different rows). Inside a transaction of the caller's (which
        other connections cannot see into), they are delivered here, one by one."""
        if len(todo) < PARALLEL_FROM or DELIVERY_THREADS < 2 or connection.in_atomic_block:
            for payload, state in todo:
                yield payload, state, webhook.deliver(payload, source="reconcile")
                self.progress("events applied", 1)
            return
        lanes: list[list[tuple[dict, str | None]]] = [[] for _ in range(DELIVERY_THREADS)]
        for payload, state in todo:
            key = handlers.customer_of(payload) or payload["id"]
            lanes[zlib.crc32(key.encode()) % DELIVERY_THREADS].append((payload, state))
        with ThreadPoolExecutor(DELIVERY_THREADS, thread_name_prefix="reconcile") as pool:
            for lane in pool.map(self._deliver_lane, [lane for lane in lanes if lane]):
                yield from lane

    def _deliver_lane(self, lane):
        """One lane, on a database connection of this thread's own."""
        try:
            with _commits_not_waiting_for_disk():
                delivered = []
                for payload, state in lane:
                    delivered.append((payload, state, webhook.deliver(payload, source="reconcile")))
                    self.progress("events applied", 1)
                return delivered
        finally:
            connection.close()

    def _delivered(self, payload: dict, state: str | None, delivery) -> None:
        event = delivery.event
        if not delivery.duplicate and event.state == EventState.PROCESSED:
            self.result.events_applied += 1
        # Not stored before, and not by a webhook delivery in the meantime either.
        if state is None and not delivery.duplicate:
            self.findings.add(
                FindingKind.MISSED_EVENT,
                payload["id"],
                f"{_what(payload)}: the webhook never got it; now {event.state}: "
                f"{event.detail or event.error}",
                member_id=event.member_id,
                fixed=event.state != EventState.FAILED,
            )

    # --- 3. snapshot ------------------------------------------------------------------

    def snapshot(self) -> None:
        for items, taken in self.reader.subscriptions():
            self._check_page(items, taken)
            self.findings.flush()
            self.result.subscriptions_checked += len(items)
            self.progress("subscriptions checked", len(items))
        self.findings.resolve([FindingKind.SUBSCRIPTION, FindingKind.CUSTOMER])

    def _check_page(self, items: list[dict], taken: datetime | None) -> None:
        subs = [s for s in items if handlers.stripe_id(s.get("id"))]
        ids = [handlers.stripe_id(s.get("id")) for s in subs]
        local = {
            row.stripe_id: row
            for row in Subscription.objects.filter(stripe_id__in=ids)
            .select_related("member")
            .only(
                "stripe_id",
                "customer_id",
                "status",
                "current_period_end",
                "member__id",
                "member__status",
            )
        }
        customers = {handlers.stripe_id(s.get("customer")) for s in subs} - {""}
        holders: dict[str, Member] = {}
        if customers:
            found = Member.objects.filter(status__stripe_customer_id__in=sorted(customers))
            for member in found.only("id", "status").order_by("-pk"):
                holders[member.status["stripe_customer_id"]] = member  # the lowest pk wins
        new_orphans: list[dict] = []
        for obj in subs:
            self._check(obj, local.get(obj["id"]), holders, taken, new_orphans)
        if new_orphans and taken is not None:
            self._store_orphans(new_orphans, taken)

    def _check(self, obj: dict, row, holders, taken: datetime | None, new_orphans) -> None:
        sub_id = obj["id"]
        customer = handlers.stripe_id(obj.get("customer"))
        status = obj.get("status") if isinstance(obj.get("status"), str) else ""
        _, period_end = handlers.product_and_period_end(obj)
        member = row.member if row is not None and row.member_id else holders.get(customer)
        same_row = (
            row is not None
            and row.status == status
            and (period_end is None or row.current_period_end == period_end)
        )
        if member is None:
            # A customer the portal does not know: kept for the checkout that may come.
            if row is None:
                new_orphans.append(obj)
            elif not same_row and not self.dry_run and taken is not None:
                self._apply(obj, taken)
            return
        if row is not None and row.customer_id and customer and row.customer_id != customer:
            self.findings.add(
                FindingKind.CUSTOMER,
                sub_id,
                f"Subscription {sub_id} belongs to customer {customer} at Stripe, to "
                f"{row.customer_id} here. Not repaired: staff, check which member it is.",
                member_id=member.pk,
            )
            return
        differences = self._differences(obj, row, member, status, period_end)
        if not differences:
            return
        text = f"Subscription {sub_id}: " + "; ".join(differences) + "."
        if self.dry_run:
            self.findings.add(FindingKind.SUBSCRIPTION, sub_id, text, member_id=member.pk)
            return
        if taken is None:
            text += " Not repaired: Stripe's answer had no Date to order it by."
            self.findings.add(FindingKind.SUBSCRIPTION, sub_id, text, member_id=member.pk)
            return
        outcome, error = self._apply(obj, taken)
        fixed = outcome is not None and outcome.verdict == "applied"
        if error:
            text += f" Not repaired: {error}"
        elif not fixed:
            text += f" Not repaired: {outcome.detail if outcome else ''}"
        else:
            text += " Repaired from Stripe's snapshot."
        member_id = outcome.member.pk if outcome and outcome.member else member.pk
        self.findings.add(FindingKind.SUBSCRIPTION, sub_id, text, member_id=member_id, fixed=fixed)

    def _differences(self, obj, row, member, status, period_end) -> list[str]:
        sub_id = obj["id"]
        differences = []
        if row is None:
            differences.append(f"missing here (customer of member #{member.pk})")
        else:
            if row.member_id is None:
                differences.append(f"not linked to member #{member.pk}, who holds its customer")
            if row.status != status:
                differences.append(f"{row.status or 'no status'} here, {status} at Stripe")
            if period_end is not None and row.current_period_end != period_end:
                differences.append(
                    f"period ends {_when(row.current_period_end)} here, "
                    f"{_when(period_end)} at Stripe"
                )
        reading = shapes.read("status", member.status)
        if reading is None or reading.stripe_subscription_id != sub_id:
            return differences  # not the member's current subscription: the row is all
        if (reading.subscription_status or "") != status:
            differences.append(
                f"member #{member.pk} shows {reading.subscription_status or 'no status'}"
            )
        if period_end is not None and reading.renewal_date != timezone.localtime(period_end).date():
            differences.append(
                f"member #{member.pk} renews {reading.renewal_date or 'never'}, "
                f"Stripe {_when(period_end)}"
            )
        if bool(reading.payment_problem) != rules.payment_problem(status):
            flag = "set" if reading.payment_problem else "not set"
            differences.append(f"member #{member.pk} has payment_problem {flag}")
        membership = str(reading.membership_status or "")
        expected = rules.membership_transition(membership, status, is_current=True)
        if "membership_status" not in reading.unreadable and expected != membership.lower():
            differences.append(f"member #{member.pk} is {membership or 'without status'}")
        return differences

    def _store_orphans(self, objs: list[dict], taken: datetime) -> None:
        """New rows for the subscriptions of customers no member holds, a page at a
        time: under those customers' locks (so no checkout links one meanwhile), in one
        statement. One whose customer a member took since the page was read, or whose
        row appeared meanwhile, goes through the usual update instead."""
        if self.dry_run:
            return
        customers = sorted({handlers.stripe_id(o.get("customer")) for o in objs} - {""})
        with transaction.atomic():
            rows.lock_all([handlers.lock_key(c) for c in customers])
            held = set(
                Member.objects.filter(status__stripe_customer_id__in=customers).values_list(
                    "status__stripe_customer_id", flat=True
                )
            )
            entries = [
                (
                    o["id"],
                    handlers.stripe_id(o.get("customer")),
                    handlers.snapshot_of(o, created=taken, is_created_event=False),
                )
                for o in objs
                if handlers.stripe_id(o.get("customer")) not in held
            ]
            inserted = rows.subscriptions_insert_new(entries)
        self.result.orphans += len(inserted)
        for obj in objs:
            if obj["id"] not in inserted:
                self._apply(obj, taken)

    def _apply(self, obj: dict, taken: datetime):
        """The handlers' own subscription update, as if an event created at `taken`
        carried `obj`: under the customer's lock (the webhook's lock order, with no event
        row), the member written once. Returns (outcome, error)."""
        try:
            with transaction.atomic():
                key = handlers.lock_key(handlers.stripe_id(obj.get("customer")))
                if key:
                    rows.lock(key)
                with audit("reconcile"):
                    outcome = handlers.subscription_snapshot(
                        obj, created=taken, is_created_event=False
                    )
                    changes = outcome.changes
                    if changes is not None and not changes.empty and outcome.member is not None:
                        rows.member_write(
                            member_id=outcome.member.pk, status=changes.status, notes=changes.notes
                        )
                        # The mail the flip is due, as the webhook sends it for an event.
                        notify_transition(
                            member=outcome.member,
                            before=changes.before,
                            after=outcome.member.status,
                            key=f"reconcile:{obj['id']}:{int(taken.timestamp())}",
                            through_stripe=True,
                        )
            return outcome, ""
        except Exception as error:
            if database_unreachable(error):
                raise
            logger.exception("Reconcile: subscription %s could not be repaired", obj.get("id"))
            return None, f"{type(error).__name__}: {error}"[:500]


@contextlib.contextmanager
def _one_run_at_a_time():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [RUN_LOCK])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [RUN_LOCK])


@contextlib.contextmanager
def _commits_not_waiting_for_disk():
    """A run commits thousands of small transactions; each waiting for its WAL flush
    cost more than the rest of the run. Without the wait, a crash can lose the last
    few hundred milliseconds of commits, and nothing after them: the run's own record,
    written last, goes with them, so the watermark stays and the next run lists and
    applies those events again (deliver() is idempotent, the snapshot order-safe).
    Other sessions (the webhook) keep their durable commits."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def reconcile(*, since: datetime | None = None, dry_run: bool = False, progress=None) -> Result:
    """One run of the three passes; the Result's summary() is the line to print."""
    if not settings.STRIPE_SECRET_KEY:
        return Result(error="STRIPE_SECRET_KEY is not set.")
    with _one_run_at_a_time() as acquired:
        if not acquired:
            return Result(busy=True)
        with _commits_not_waiting_for_disk():
            return _run(since=since, dry_run=dry_run, progress=progress)


# The findings a run's bounds file: a run that ends whole marks them fixed.
_BOUND_KINDS = [FindingKind.RUN_DEADLINE, FindingKind.PAGE_LIMIT]


def _run(*, since: datetime | None, dry_run: bool, progress) -> Result:
    deadline = time.monotonic() + settings.STRIPE_RECONCILE_DEADLINE
    reader = StripeReader(settings.STRIPE_SECRET_KEY, deadline=deadline)
    reconciler = Reconciler(reader, dry_run=dry_run, progress=progress)
    result = reconciler.result
    usual = default_since(reconciler.now)
    since = since or usual
    run = ReconcileRun.objects.create(started=reconciler.now, dry_run=dry_run, since=since)
    try:
        reconciler.endpoints()
        reconciler.events(since)
        reconciler.snapshot()
        reconciler.findings.resolve(_BOUND_KINDS)
    except StripeUnreadable as error:
        result.error = str(error)
    except RunCut as cut:
        result.error = str(cut)
        reconciler.findings.add(cut.kind, cut.stripe_object, cut.detail)
    finally:
        # What was found before a failure is kept.
        reconciler.findings.flush()
        result.findings = reconciler.findings.count
        result.fixed = reconciler.findings.fixed
        result.requests = reader.requests_made
        found = reconciler.findings.seen
        result.endpoint_ok = not any(found.get(kind) for kind in ENDPOINT_KINDS)
        run.finished = timezone.now()
        run.summary = result.summary()
        run.error = result.error
        # Only a whole run that covered everything since the last watermark moves it.
        if result.readable and not dry_run and since <= usual:
            run.watermark = reconciler.watermark or reconciler.now
        run.save(update_fields=["finished", "summary", "error", "watermark"])
    return result
