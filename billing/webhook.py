"""The Stripe webhook: verify, store each event once, dispatch by type.

Every delivery runs in one transaction that first claims the event row: an insert
that, when a row with the event's id exists, falls back to locking that row. The same
event delivered many times at once is so processed exactly once. The claim also takes
the Stripe customer's lock (billing/handlers.py gives the lock order).

A handler that raises has its transaction rolled back whole; the event is then recorded
as failed, error kept, by one more statement, and Stripe is asked to retry (500). (No
savepoint around the handler: it would cost two queries on every event to save one
on the rare failure.)
"""

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from django.db import transaction
from django.utils import timezone

from billing import handlers, rows
from billing.handlers import MAX_EPOCH, MAX_ID_LENGTH
from billing.models import DONE_STATES, EventState, StripeEvent
from dhportal.db import database_unreachable
from members.audit import audit
from members.jsonb import unstorable
from members.notifications import notify_transition

logger = logging.getLogger(__name__)

# The one table of handlers. Any other event type is stored as ignored.
HANDLERS = {
    "checkout.session.completed": handlers.checkout_session_completed,
    "customer.subscription.created": handlers.subscription_changed,
    "customer.subscription.updated": handlers.subscription_changed,
    "customer.subscription.deleted": handlers.subscription_changed,
    "customer.subscription.paused": handlers.subscription_changed,
    "customer.subscription.resumed": handlers.subscription_changed,
    "invoice.paid": handlers.invoice_paid,
    "invoice.payment_failed": handlers.invoice_payment_failed,
}


class BadEvent(Exception):
    """A delivery we refuse with 400: bad signature, stale, or not a Stripe event."""


@dataclass
class Delivery:
    event: StripeEvent
    duplicate: bool

    @property
    def status_code(self) -> int:
        # 500 on failure is what makes Stripe redeliver.
        return 500 if self.event.state == EventState.FAILED else 200


def verify(body: bytes, signature: str | None, secret: str) -> dict:
    """Check the Stripe-Signature header and return the parsed event, or raise BadEvent."""
    # Stripe's header is plain ASCII; the library's comparison raises TypeError on
    # anything else, so such a header is refused here as a bad signature.
    if signature is not None and not signature.isascii():
        raise BadEvent("Invalid Stripe signature: the header is not ASCII.")
    try:
        stripe.WebhookSignature.verify_header(
            body, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        raise BadEvent(f"Invalid Stripe signature: {exc.user_message or exc}") from None
    except ValueError:  # a body that is not UTF-8
        raise BadEvent("The body is not a JSON Stripe event.") from None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested beyond what json parses
        raise BadEvent("The body is not a JSON Stripe event.") from None
    return check_shape(payload)


def check_shape(payload) -> dict:
    if not isinstance(payload, dict) or payload.get("object") != "event":
        raise BadEvent("The body is not a Stripe event object.")
    # The event could not be stored, so it is refused like a body that is not JSON.
    if problem := unstorable(payload):
        raise BadEvent(f"The event {problem}.")
    event_id, event_type, created = payload.get("id"), payload.get("type"), payload.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH:
        raise BadEvent("The event has no usable id.")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise BadEvent("The event has no usable type.")
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created <= MAX_EPOCH:
        raise BadEvent("The event has no usable created time.")
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise BadEvent("The event has no data object.")
    object_id = data["object"].get("id")
    if not isinstance(object_id, str) or not 0 < len(object_id) <= MAX_ID_LENGTH:
        raise BadEvent("The event's data object has no usable id.")
    return payload


def receive(body: bytes, signature: str | None, secret: str) -> Delivery:
    """The whole webhook: verify, then store once and process. Raises BadEvent."""
    return deliver(verify(body, signature, secret))


class _HandlerFailed(Exception):
    def __init__(self, event: StripeEvent):
        super().__init__(event.error)
        self.event = event


def deliver(payload: dict, *, source: str = "webhook") -> Delivery:
    """Store a verified event once and process it unless that is already done.
    `source` labels the member's history: "reconcile" for an event billing/reconcile.py
    listed from Stripe's API because the webhook never got it."""
    try:
        with transaction.atomic():
            event, claimed = _claim(payload)
            if not claimed:
                if event.state in DONE_STATES:
                    return Delivery(event, duplicate=True)
                _lock_customer(event)
            if claimed and event.state == EventState.IGNORED:
                return Delivery(event, duplicate=False)
            _process(event, source=source)
    except _HandlerFailed as failed:
        return Delivery(_record_failure(failed.event), duplicate=False)
    return Delivery(event, duplicate=False)


def reprocess(event_pk: int) -> tuple[StripeEvent, bool]:
    """Run a stored failed or unmatched event again; returns (event, whether it ran)."""
    try:
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().get(pk=event_pk)
            if event.state in DONE_STATES:
                return event, False
            _lock_customer(event)
            _process(event)
    except _HandlerFailed as failed:
        return _record_failure(failed.event), True
    return event, True


def _new_row(payload: dict) -> StripeEvent:
    obj = payload["data"]["object"]
    details = obj.get("customer_details") if isinstance(obj.get("customer_details"), dict) else {}
    email = details.get("email") or obj.get("customer_email") or ""
    now = timezone.now()
    row = StripeEvent(
        stripe_id=payload["id"],
        type=payload["type"],
        api_version=str(payload.get("api_version") or "")[:50],
        livemode=payload.get("livemode") is True,
        created=datetime.fromtimestamp(payload["created"], tz=UTC),
        payload=payload,
        object_id=handlers.stripe_id(obj.get("id")),
        customer_id=handlers.stripe_id(obj.get("customer")),  # "" when too long
        email=email[:320] if isinstance(email, str) else "",
        state=EventState.FAILED,
        error="Not processed yet.",
        received_at=now,
    )
    if row.type not in HANDLERS:
        # Nothing to run: stored in its final state by the claim itself.
        row.state, row.detail, row.error = EventState.IGNORED, "Type not handled.", ""
        row.attempts, row.processed_at = 1, now
    return row


def _claim(payload: dict) -> tuple[StripeEvent, bool]:
    """The event's row, locked, and whether this delivery inserted it."""
    row = _new_row(payload)
    key = handlers.lock_key(handlers.customer_of(payload)) if row.type in HANDLERS else ""
    row.pk = rows.event_claim(row, lock_key=key)
    if row.pk is not None:
        return row, True
    # A concurrent delivery of the same id committed first: wait for and lock its row.
    return StripeEvent.objects.select_for_update().get(stripe_id=payload["id"]), False


def _lock_customer(event: StripeEvent) -> None:
    """The customer lock for an event whose row this delivery did not insert."""
    key = handlers.lock_key(handlers.customer_of(event.payload))
    if key and event.type in HANDLERS:
        rows.lock(key)


def _process(event: StripeEvent, *, source: str = "webhook") -> None:
    event.attempts += 1
    event.processed_at = timezone.now()
    handler = HANDLERS.get(event.type)
    if handler is None:
        event.state, event.detail, event.error = EventState.IGNORED, "Type not handled.", ""
        event.save(update_fields=_RESULT_FIELDS)
        return
    try:
        with audit(source):
            outcome = handler(event)
            event.state, event.detail, event.error = outcome.state, outcome.detail, ""
            event.member = outcome.member
            if outcome.settles and outcome.member is not None:
                rows.events_settle(
                    subscription_ids=outcome.settles,
                    member_id=outcome.member.pk,
                    detail=f"Applied when checkout event {event.stripe_id} linked the customer.",
                    exclude=event.pk,
                )
            # The member's changes and the event's outcome: one statement.
            changes = outcome.changes
            if changes is None or changes.empty or outcome.member is None:
                event.save(update_fields=_RESULT_FIELDS)
            else:
                rows.event_finish(
                    event, member_id=outcome.member.pk, status=changes.status, notes=changes.notes
                )
                # The mail a flip is due (payment received, payment problem, lapsed,
                # reactivated), once per event, under the member lock taken above.
                notify_transition(
                    member=outcome.member,
                    before=changes.before,
                    after=outcome.member.status,
                    key=event.stripe_id,
                    through_stripe=True,
                )
    except Exception as exc:
        if database_unreachable(exc):
            # Nothing can be recorded; the 503 makes Stripe deliver the event again.
            raise
        logger.exception("Stripe event %s (%s) failed", event.stripe_id, event.type)
        event.state, event.error = EventState.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        raise _HandlerFailed(event) from exc


_RESULT_FIELDS = ["state", "detail", "error", "member", "attempts", "processed_at"]


def _record_failure(event: StripeEvent) -> StripeEvent:
    """After the rollback: store the event as failed with its error (one statement)."""
    recorded = rows.event_failed(event)
    if recorded is None:
        # Processed by a redelivery in the meantime: answer as it ended.
        return StripeEvent.objects.get(stripe_id=event.stripe_id)
    event.pk, event.attempts = recorded
    return event
