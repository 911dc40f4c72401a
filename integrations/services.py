"""The feed's service functions: pump events into deliveries, send one delivery, replay
dead ones, send every current snapshot to an endpoint, and the access keys.

Ordering (README, "Telling the door and the directory", Promises): per member and
endpoint, a snapshot older than one already sent is never sent. Sending one delivery
is three steps, and no transaction or lock is held across the network call:

1. claim, in a short transaction under an advisory lock on the (endpoint, member)
   pair: the delivery is `superseded` instead when a newer one of the pair was sent
   already (delivered or not: a receiver that stored it and answered late has it), and
   it waits (DeliveryBusy, retried) while another one of the pair is on the wire;
   otherwise it is marked sent (`attempts`, `last_attempt_at`) and on the wire until
   `sending_until`, the request's deadline, which no crash can extend;
2. the POST, with one deadline from connect to the last byte (integrations/outbound.py);
3. settle, in another short transaction: the answer is recorded, the wire freed, and on
   a 2xx it is delivered and every older pending or dead one of the pair superseded.

Nothing waits for an older delivery: a receiver that refuses one snapshot for a day
still gets the next, and a dead delivery never blocks the rest.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.db.models.functions import Now
from django.utils import timezone
from procrastinate import jobs

from dhportal.jobs import defer_many, will_retry
from integrations import outbound
from integrations.models import (
    DEFAULT_SCOPES,
    AccessKey,
    Delivery,
    DeliveryState,
    Endpoint,
    FeedEvent,
    Scope,
)
from integrations.snapshot import backfill_sql, payload

logger = logging.getLogger(__name__)

# How long a receiver has to answer (connect, send, answer), in seconds.
DEFAULT_TIMEOUT = 10
# A claimed delivery counts as on the wire this much longer than the request's
# deadline (the claim's and the settle's commits).
WIRE_MARGIN_SECONDS = 5
PUMP_BATCH = 500
KEY_PREFIX = "dhak_"
# The job that sends one delivery (integrations/tasks.py), deferred by name.
SEND_TASK = "integrations.tasks.send_delivery"


def delivery_timeout() -> float:
    return float(getattr(settings, "INTEGRATIONS_DELIVERY_TIMEOUT", DEFAULT_TIMEOUT))


# --- the pump ----------------------------------------------------------------------


def _defer_sends(delivery_ids: list[int]) -> None:
    """Queue one send job per delivery, in this transaction (one statement)."""
    defer_many(SEND_TASK, ({"delivery_id": pk} for pk in delivery_ids))


def feed_pump(*, batch: int = PUMP_BATCH) -> int:
    """Turn committed events not yet pumped into deliveries (one per enabled endpoint
    that wants the event) and their send jobs; return the number of events pumped.
    Each batch is one transaction: its deliveries, jobs and `pumped` marks commit
    together. SKIP LOCKED lets a second pump (another worker) take other events."""
    total = 0
    while True:
        with transaction.atomic():
            events = list(
                FeedEvent.objects.filter(pumped=False)
                .order_by("id")
                .select_for_update(skip_locked=True)
                .only("id", "member_id", "sequence", "changed")[:batch]
            )
            if not events:
                return total
            endpoints = list(Endpoint.objects.filter(enabled=True))
            deliveries = [
                Delivery(
                    endpoint=endpoint,
                    event=event,
                    member_id=event.member_id,
                    sequence=event.sequence,
                )
                for event in events
                for endpoint in endpoints
                if endpoint.wants(event.changed)
            ]
            made = Delivery.objects.bulk_create(deliveries, ignore_conflicts=False)
            _defer_sends([d.pk for d in made])
            FeedEvent.objects.filter(pk__in=[e.pk for e in events]).update(pumped=True)
            total += len(events)
        if len(events) < batch:
            return total


# --- sending -----------------------------------------------------------------------


_LOCK_PAIR = """
    SELECT pg_advisory_xact_lock(
        hashtextextended('integrations.delivery:' || endpoint_id || ':' || member_id, 0))
    FROM integrations_delivery WHERE id = %s
"""


def _lock_pair(delivery_id: int) -> bool:
    """Take the (endpoint, member) pair's lock for this transaction, found from the
    delivery in the same statement; False when the delivery is gone."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_PAIR, [delivery_id])
        return cursor.fetchone() is not None


def _newer_sent():
    """A newer delivery of the same pair was put on the wire (whatever came of it)."""
    return Exists(
        Delivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"),
            member_id=OuterRef("member_id"),
            sequence__gt=OuterRef("sequence"),
            attempts__gt=0,
        )
    )


def _pair_on_wire():
    """A delivery of the same pair (this one included) is on the wire now. The
    database's clock, which set `sending_until`, is the one every worker reads."""
    return Exists(
        Delivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"),
            member_id=OuterRef("member_id"),
            sending_until__gt=Now(),
        )
    )


@dataclass(frozen=True)
class SendResult:
    outcome: str  # delivered, failed, busy, superseded, not pending, gone, disabled
    answer: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "busy")


@dataclass(frozen=True)
class _Claim:
    delivery: Delivery
    url: str
    secret: str
    body: bytes
    timeout: float


def _delivery_claim(delivery_id: int) -> _Claim | SendResult:
    """Step 1: what to send, with the delivery marked sent and on the wire; or why
    nothing is sent."""
    with transaction.atomic():
        if not _lock_pair(delivery_id):
            return SendResult("gone")
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .annotate(newer_sent=_newer_sent(), on_wire=_pair_on_wire())
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return SendResult("gone")
        if delivery.state != DeliveryState.PENDING:
            return SendResult("not pending")
        if delivery.newer_sent:
            Delivery.objects.filter(pk=delivery_id).update(state=DeliveryState.SUPERSEDED)
            return SendResult("superseded")
        endpoint = delivery.endpoint
        if not endpoint.enabled:
            # Kept pending: re-enabling the endpoint and replaying sends it.
            return SendResult("disabled", "The endpoint is disabled.")
        if delivery.on_wire:
            return SendResult("busy", "Waiting for this member's previous delivery.")
        timeout = delivery_timeout()
        Delivery.objects.filter(pk=delivery_id).update(
            attempts=F("attempts") + 1,
            last_attempt_at=Now(),
            sending_until=Now() + timedelta(seconds=timeout + WIRE_MARGIN_SECONDS),
        )
        body = outbound.body_of(payload(delivery.event.snapshot, endpoint.fields))
        return _Claim(delivery, endpoint.url, endpoint.secret, body, timeout)


# Delivered, and the older pending or dead ones of its pair superseded: one statement,
# so one round trip and no transaction block.
_SETTLE_DELIVERED = """
    WITH settled AS (
        UPDATE integrations_delivery
        SET last_answer = %(answer)s, sending_until = NULL, state = %(delivered)s,
            delivered_at = now()
        WHERE id = %(id)s
        RETURNING endpoint_id, member_id, sequence
    )
    UPDATE integrations_delivery older SET state = %(superseded)s
    FROM settled
    WHERE older.endpoint_id = settled.endpoint_id AND older.member_id = settled.member_id
      AND older.sequence < settled.sequence AND older.state IN (%(pending)s, %(dead)s)
"""


def _delivery_settle(delivery: Delivery, answer: outbound.Answer) -> None:
    """Step 3: the answer recorded and the wire freed; on a 2xx, delivered, and the
    older ones of the pair superseded."""
    if not answer.ok:
        Delivery.objects.filter(pk=delivery.pk).update(last_answer=answer.text, sending_until=None)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _SETTLE_DELIVERED,
            {
                "id": delivery.pk,
                "answer": answer.text,
                "delivered": DeliveryState.DELIVERED.value,
                "superseded": DeliveryState.SUPERSEDED.value,
                "pending": DeliveryState.PENDING.value,
                "dead": DeliveryState.DEAD.value,
            },
        )


def delivery_send(delivery_id: int) -> SendResult:
    """Send one delivery unless it is no longer pending or a newer snapshot of its
    member was already sent to the endpoint. Records the attempt and the answer; on a
    2xx marks it delivered and supersedes the older ones of its pair. A failed attempt
    leaves it pending (the caller decides whether it is dead). No transaction is open
    while the receiver is asked."""
    claim = _delivery_claim(delivery_id)
    if isinstance(claim, SendResult):
        return claim
    answer = outbound.post(claim.url, body=claim.body, secret=claim.secret, timeout=claim.timeout)
    _delivery_settle(claim.delivery, answer)
    return SendResult("delivered" if answer.ok else "failed", answer.text)


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx; the job is retried (or the delivery dies)."""


def delivery_attempt(delivery_id: int, *, job: jobs.Job) -> str:
    """What the send job does: delivery_send, and on a failed POST raise DeliveryFailed
    for the retry policy, the delivery dead first when no retry follows."""
    result = delivery_send(delivery_id)
    if not result.failed:
        return result.outcome
    error = DeliveryFailed(result.answer)
    if not will_retry(job, error):
        delivery_kill(delivery_id)
        logger.warning("Delivery %s is dead: %s", delivery_id, result.answer[:200])
    raise error


def delivery_kill(delivery_id: int) -> None:
    """No retry follows: the delivery is dead, for staff to replay."""
    Delivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING).update(
        state=DeliveryState.DEAD
    )


def deliveries_replay(*, queryset) -> int:
    """Send dead (or stuck pending) deliveries again, each with a fresh day of
    retries; returns how many were queued. A delivery whose member has since had a
    newer snapshot delivered is superseded when its job runs, never sent."""
    with transaction.atomic():
        ids = list(
            queryset.filter(state__in=(DeliveryState.DEAD, DeliveryState.PENDING))
            .order_by("sequence", "id")
            .values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=ids).update(state=DeliveryState.PENDING)
        _defer_sends(ids)
    return len(ids)


def endpoint_resync(*, endpoint_id: int) -> int:
    """Send every member's current snapshot (their latest event) to the endpoint; for
    a new endpoint. Events it already has a delivery for are not sent twice. Returns
    the number of deliveries queued."""
    with transaction.atomic():
        endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
        if endpoint is None:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(backfill_sql())
        latest = FeedEvent.objects.filter(member_id=OuterRef("member_id")).order_by("-sequence")
        events = (
            FeedEvent.objects.filter(pk=Subquery(latest.values("pk")[:1]))
            .exclude(deliveries__endpoint=endpoint)
            .values_list("pk", "member_id", "sequence")
        )
        made = Delivery.objects.bulk_create(
            [
                Delivery(endpoint=endpoint, event_id=pk, member_id=member_id, sequence=sequence)
                for pk, member_id, sequence in events
            ],
            batch_size=1000,
        )
        _defer_sends([d.pk for d in made])
    return len(made)


# --- access keys -------------------------------------------------------------------


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_access_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class AccessKeyError(ValueError):
    pass


def _clean_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise AccessKeyError("A key needs a name.")
    if len(name) > 100 or not name.isprintable():
        raise AccessKeyError("A key's name is at most 100 printable characters.")
    return name


def clean_scopes(scopes) -> list[str]:
    """The scopes asked for, each once, in the vocabulary's order; none: access:read."""
    scopes = list(scopes or DEFAULT_SCOPES)
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown:
        raise AccessKeyError(f'Unknown scope "{unknown[0]}" (scopes: {", ".join(Scope.values)}).')
    return [s for s in Scope.values if s in scopes]


def access_key_create(*, name: str, scopes=None) -> tuple[AccessKey, str]:
    """A new key: (the row, the key itself, to be shown once and never kept)."""
    name = _clean_name(name)
    scopes = clean_scopes(scopes)
    key = new_access_key()
    with transaction.atomic():
        if AccessKey.objects.filter(name=name).exists():
            raise AccessKeyError(f'A key named "{name}" already exists.')
        row = AccessKey.objects.create(name=name, key_hash=key_hash(key), scopes=scopes)
    return row, key


def access_key_revoke(*, name: str) -> AccessKey:
    name = _clean_name(name)
    with transaction.atomic():
        row = AccessKey.objects.select_for_update().filter(name=name).first()
        if row is None:
            raise AccessKeyError(f'No key is named "{name}".')
        if row.revoked_at is None:
            row.revoked_at = timezone.now()
            row.save(update_fields=["revoked_at"])
    return row


def access_keys_revoke(*, queryset) -> int:
    return queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
