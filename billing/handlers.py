"""Handlers for the Stripe event types we act on (dispatched from billing/webhook.py).

Each runs inside the delivery's transaction and audit("webhook"), reads only the
payload (no Stripe API calls, no network) and returns an Outcome.

Lock order, the same for every event so that concurrent ones cannot deadlock: the
event row (billing/webhook.py claims it), the Stripe customer (an advisory lock the
webhook takes before calling a handler, so a checkout and an early subscription event
cannot miss each other), the member row, then subscription rows, then (checkout only)
other events' rows, skipping any that are locked.

Each handler reads and locks its member in one statement (with what the rules need
to know about the member's current subscription), writes each subscription row in
one statement that decides the ordering rules under the row's lock, and writes the
member once: every status key and note of the event in one UPDATE.
"""

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import BigIntegerField, Exists, F, OuterRef, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing import rows, rules
from billing.models import EventState, StripeEvent, Subscription
from billing.rows import Snapshot, SubscriptionRow
from members import shapes
from members.models import (
    BILLING_REF_RE,
    ErasureRequest,
    Member,
    canonical_email,
    stored_email,
)
from members.scaffolding import complete_member

SUBSCRIPTION_CREATED = "customer.subscription.created"
MAX_EPOCH = 253402300799  # 9999-12-31: anything later is not a date Python can hold
NOTE_AUTHOR = "stripe"


@dataclass
class Outcome:
    state: str
    member: Member | None = None
    detail: str = ""
    # Subscriptions whose waiting unmatched events this one applied (checkout).
    settles: list[str] = field(default_factory=list)
    # The member write, made by the webhook in the statement that records the outcome.
    changes: "MemberChanges | None" = None
    # Subscription snapshots: what the row write decided (SubscriptionRow.verdict).
    verdict: str = ""


class DamagedStatus(Exception):
    """The member's status column is not a JSON object; staff must repair it first."""


class LinkedElsewhere(Exception):
    """A subscription was linked to another member while we looked; Stripe retries."""


# The length of every column that holds a Stripe id. Stripe's own ids are far shorter.
MAX_ID_LENGTH = 255


def stripe_id(value) -> str:
    """An id from a field Stripe may send as a string or as an expanded object.

    An id longer than MAX_ID_LENGTH is not a Stripe id: it is treated as absent (""),
    exactly like a missing or non-string one. The event is still stored and handled
    with what else it carries; it cannot fail on a column too short to hold the id,
    which would make it fail again on every redelivery. (The event's own id and its
    data object's id are checked before storing: too long is a 400 there.)
    """
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
        return value
    return ""


def customer_of(payload: dict) -> str:
    """The Stripe customer an event is about ("" when none): the key of its lock."""
    return stripe_id(_dict(_dict(payload.get("data")).get("object")).get("customer"))


def lock_key(customer_id: str) -> str:
    return f"stripe-customer:{customer_id}" if customer_id else ""


# Stripe's payload is not a member column: these read it tolerantly (a missing key
# or a value of the wrong type reads as empty), as members/shapes.py reads columns.
def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _when(epoch) -> datetime | None:
    if isinstance(epoch, int) and not isinstance(epoch, bool) and 0 <= epoch <= MAX_EPOCH:
        return datetime.fromtimestamp(epoch, tz=UTC)
    return None


def _date(moment: datetime | None) -> str | None:
    return timezone.localtime(moment).date().isoformat() if moment else None


# --- the member: one locking read, one write ------------------------------------------

_STATUS_KEYS = frozenset(shapes.keys("status"))


def _status(member: Member) -> shapes.Status:
    reading = shapes.read("status", member.status)
    if reading is None:  # checked by _locked_member; a reading of {} to be safe
        reading = shapes.read("status", {})
    return reading


def _locked_member(candidates, *, orphans_of: tuple[str, str] | None = None) -> Member | None:
    """Lock the member that `candidates` (a queryset, or None for none) finds first,
    in one statement that also reads the status of the member's current subscription
    (`current_subscription_status`, None when billing does not know it) and, with
    `orphans_of` (customer, subscription), whether that customer has other
    subscriptions no member is linked to yet (`has_orphans`). A NULL or key-less
    status is completed first, so the rules always have a membership_status."""
    if candidates is None:
        return None
    current = Subscription.objects.filter(
        stripe_id=KeyTextTransform("stripe_subscription_id", OuterRef("status"))
    ).order_by()
    erased = ErasureRequest.objects.filter(member_id=OuterRef("pk"), erased_at__isnull=False)
    query = (
        candidates.select_for_update(of=("self",))
        .only("id", "email", "status")
        .annotate(
            current_subscription_status=Subquery(current.values("status")[:1]),
            is_erased=Exists(erased),
        )
    )
    if orphans_of:
        customer_id, subscription_id = orphans_of
        orphans = Subscription.objects.filter(customer_id=customer_id, member__isnull=True)
        query = query.annotate(has_orphans=Exists(orphans.exclude(stripe_id=subscription_id)))
    member = query.order_by("pk").first()
    if member is None or _erased(member):
        return member  # an erased member is only named (held), never completed or changed
    if _lacks_membership_status(member.status):
        complete_member(member.pk, only=["status"])
        member.refresh_from_db(fields=["status"])
    if not isinstance(member.status, dict):
        raise DamagedStatus(
            f"Member #{member.pk} has a status that is not a JSON object; "
            "repair it in admin, then reprocess this event."
        )
    return member


def _erased(member: Member) -> bool:
    return getattr(member, "is_erased", False)  # annotated by _locked_member


def _held(member: Member) -> Outcome:
    """The outcome of any event that finds an erased member: recorded against them and
    listed for staff (state "erased"), nothing written: no status, subscription row,
    note or mail, so Stripe cannot bring the record back."""
    return Outcome(
        EventState.ERASED,
        member,
        f"Member #{member.pk} was erased; nothing changed. Staff: check the customer in Stripe.",
    )


def _lacks_membership_status(status) -> bool:
    """NULL, or an object whose membership_status is missing or null: what
    complete_member fills. (A value the shape cannot read is staff's to repair.)"""
    if status is None:
        return True
    reading = shapes.read("status", status)
    return (
        reading is not None
        and reading.membership_status is None
        and "membership_status" not in reading.unreadable
    )


def _by_subscription_or_customer(subscription_id: str, customer_id: str):
    """The member linked to the subscription, else the one holding the customer id."""
    found = []
    if subscription_id:
        linked = Subscription.objects.filter(stripe_id=subscription_id).order_by()
        found.append(Subquery(linked.values("member_id")[:1]))
    if customer_id:
        holder = Member.objects.filter(status__stripe_customer_id=customer_id).order_by("pk")
        found.append(Subquery(holder.values("pk")[:1]))
    if not found:
        return None
    target = found[0] if len(found) == 1 else Coalesce(*found, output_field=BigIntegerField())
    return Member.objects.alias(target_id=target).filter(pk=F("target_id"))


class MemberChanges:
    """What one event writes to its locked member: status keys and notes, kept in
    memory (so later decisions see them) and written in one UPDATE at the end, with
    the event's outcome (billing/rows.py, event_finish)."""

    def __init__(self, member: Member):
        self.member = member
        # The status as locked, before this event: what lifecycle mails compare with.
        self.before = copy.deepcopy(member.status)
        self.status: dict = {}
        self.notes: list[dict] = []
        # The status of every subscription row this event wrote, by Stripe id.
        self.subscriptions: dict[str, str] = {}

    def note(self, text: str) -> None:
        self.notes.append(shapes.note_entry(text, author=NOTE_AUTHOR))

    def merge(self, values: dict) -> None:
        unknown = set(values) - _STATUS_KEYS
        if unknown:
            raise ValueError(f"not a status key: {sorted(unknown)}")
        self.status.update(values)
        if isinstance(self.member.status, dict):  # it is: _locked_member checked it
            self.member.status.update(values)  # what the key-level merge makes of it

    def seen(self, sub: SubscriptionRow) -> SubscriptionRow:
        self.subscriptions[sub.stripe_id] = sub.status
        return sub

    @property
    def empty(self) -> bool:
        return not (self.status or self.notes)


def _is_current_replaceable(changes: MemberChanges) -> bool:
    """True when the member has no current subscription or it has ended for good."""
    member = changes.member
    current_id = _status(member).stripe_subscription_id or ""
    if not current_id:
        return True
    status: str | None
    if current_id in changes.subscriptions:
        status = changes.subscriptions[current_id]
    else:
        status = getattr(member, "current_subscription_status", None)  # annotated
    if status is None:
        status = _status(member).subscription_status or ""
    return not rules.is_live(status)


def _apply(changes: MemberChanges, sub: SubscriptionRow) -> str:
    """Make `sub` the member's current subscription and apply its snapshot."""
    values: dict[str, object] = {"stripe_subscription_id": sub.stripe_id}
    if sub.customer_id:
        values["stripe_customer_id"] = sub.customer_id
    text = f"Stripe: subscription {sub.stripe_id}"
    change = ""
    if sub.status:
        reading = _status(changes.member)
        current = reading.membership_status
        # A membership_status the shape cannot read is kept as it is: staff see it.
        keep = "membership_status" in reading.unreadable
        new = rules.membership_transition(current, sub.status, is_current=True)
        values["subscription_status"] = sub.status
        values["payment_problem"] = rules.payment_problem(sub.status)
        level = sub.plan_name or sub.product_id
        if sub.product_id:
            values["stripe_product_id"] = sub.product_id
            values["membership_level"] = level
        if sub.current_period_end:
            values["renewal_date"] = _date(sub.current_period_end)
        if new != current and not keep:
            values["membership_status"] = new
            change = f"; membership {current} -> {new}"
        text += f" is {sub.status}"
        if sub.product_id:
            text += f" (plan {level})"
        text += change
    changes.merge(values)
    if sub.status:  # a bare link is already in the checkout's own note
        changes.note(text + ".")
    return "Applied to the member" + change + "."


def _apply_or_flag(changes: MemberChanges, sub: SubscriptionRow, *, newly_linked: bool) -> str:
    """Apply a subscription to its member if it is (or may become) the current one;
    otherwise leave the member alone, telling staff when a second one first appears."""
    current_id = _status(changes.member).stripe_subscription_id or ""
    if current_id == sub.stripe_id or (
        rules.is_live(sub.status) and _is_current_replaceable(changes)
    ):
        return _apply(changes, sub)
    if newly_linked and rules.is_live(sub.status):
        # Only reached when another live subscription is current: a second one.
        changes.note(
            f"Stripe: another subscription {sub.stripe_id} (customer {sub.customer_id or '?'}) "
            f"was started while {current_id} is current; it was recorded, not swapped in. "
            "Staff: check whether one should be canceled.",
        )
    return f"Not the member's current subscription ({current_id or 'none'}); member unchanged."


# --- checkout --------------------------------------------------------------------------


def _checkout_member(session: dict, email: str, orphans_of) -> Member | None:
    """The member named by client_reference_id (their billing_ref), else by email."""
    ref = session.get("client_reference_id")
    member = None
    if isinstance(ref, str) and BILLING_REF_RE.match(ref):
        member = _locked_member(Member.objects.filter(billing_ref=ref), orphans_of=orphans_of)
    if member is None and email:
        found = Member.objects.by_email(email)
        if found is not None:
            member = _locked_member(Member.objects.filter(pk=found.pk), orphans_of=orphans_of)
    return member


def checkout_session_completed(event: StripeEvent) -> Outcome:
    session = _dict(event.payload["data"]["object"])
    customer_id = stripe_id(session.get("customer"))
    subscription_id = stripe_id(session.get("subscription"))
    email = _dict(session.get("customer_details")).get("email") or session.get("customer_email")
    # Stripe's address, in its canonical form; "" when it has none (never raises).
    email = canonical_email(email)
    orphans_of = (customer_id, subscription_id) if customer_id else None
    member = _checkout_member(session, email, orphans_of)
    if member is not None and _erased(member):
        return _held(member)
    if member is None:
        if subscription_id:
            rows.subscription_write(
                subscription_id, customer_id=customer_id, member_id=None, expect_new=True
            )
        return Outcome(EventState.UNMATCHED, detail="No member with this reference or email.")

    changes = MemberChanges(member)
    session_label = stripe_id(session.get("id")) or event.stripe_id
    changes.note(
        f"Stripe: checkout {session_label} completed "
        f"(customer {customer_id or '-'}, subscription {subscription_id or '-'}).",
    )
    if email and email != stored_email(member.email):
        changes.note(
            f"Stripe: checkout {session_label} was paid with email {email}, not the "
            "member's own. Staff: check it belongs to this member.",
        )
    details = []
    settles = []
    if subscription_id:
        sub = changes.seen(
            rows.subscription_write(
                subscription_id, customer_id=customer_id, member_id=member.pk, expect_new=True
            )
        )
        if sub.previous_member_id not in (None, member.pk):
            changes.note(
                f"Stripe: checkout {session_label} names subscription {sub.stripe_id}, "
                f"which belongs to member #{sub.previous_member_id}; not linked. Staff: check.",
            )
            details.append(f"{sub.stripe_id} belongs to member #{sub.previous_member_id}.")
        else:
            newly = sub.previous_member_id is None
            if sub.existed:  # only a row stored before can have events waiting for it
                settles.append(sub.stripe_id)
            details.append(_apply_or_flag(changes, sub, newly_linked=newly))
    elif customer_id and not _status(member).stripe_customer_id:
        changes.merge({"stripe_customer_id": customer_id})

    # Subscription events that arrived before this checkout are applied now.
    if customer_id and getattr(member, "has_orphans", False):  # annotated
        for orphan in rows.subscriptions_link_orphans(customer_id, member.pk):
            changes.seen(orphan)
            settles.append(orphan.stripe_id)
            details.append(_apply_or_flag(changes, orphan, newly_linked=True))
    detail = " ".join(details) or "Checkout recorded."
    return Outcome(EventState.PROCESSED, member, detail, settles=settles, changes=changes)


# --- subscriptions -----------------------------------------------------------------------


def subscription_changed(event: StripeEvent) -> Outcome:
    return subscription_snapshot(
        _dict(event.payload["data"]["object"]),
        created=event.created,
        is_created_event=event.type == SUBSCRIPTION_CREATED,
    )


def subscription_snapshot(obj: dict, *, created: datetime, is_created_event: bool) -> Outcome:
    """Apply a subscription object as it stood at `created`: an event's object at the
    event's `created`, or (billing/reconcile.py) one read from Stripe's API at the time
    of the response, under the same ordering rules, so whichever is newer wins."""
    subscription_id = stripe_id(obj.get("id"))
    if not subscription_id:
        raise ValueError("subscription event without a subscription id")
    customer_id = stripe_id(obj.get("customer"))
    member = _locked_member(_by_subscription_or_customer(subscription_id, customer_id))
    if member is not None and _erased(member):
        return _held(member)
    snapshot = snapshot_of(obj, created=created, is_created_event=is_created_event)
    sub = rows.subscription_write(
        subscription_id,
        customer_id=customer_id,
        member_id=member.pk if member else None,
        snapshot=snapshot,
    )
    if member is not None and sub.previous_member_id not in (None, member.pk):
        raise LinkedElsewhere(f"{subscription_id} was linked to member #{sub.previous_member_id}")
    verdict = sub.verdict
    if verdict == "older":
        return Outcome(
            EventState.PROCESSED,
            member,
            "Older than the last snapshot applied; not applied.",
            verdict=verdict,
        )
    if verdict == "final":
        return Outcome(
            EventState.PROCESSED,
            member,
            f"Subscription already {sub.status}; not applied.",
            verdict=verdict,
        )
    if member is None:
        return Outcome(
            EventState.UNMATCHED,
            detail=f"Stored; applied when a checkout links customer {customer_id or '?'}.",
            verdict=verdict,
        )
    changes = MemberChanges(member)
    changes.seen(sub)
    detail = _apply_or_flag(changes, sub, newly_linked=sub.previous_member_id is None)
    return Outcome(EventState.PROCESSED, member, detail, changes=changes, verdict=verdict)


def snapshot_of(obj: dict, *, created: datetime, is_created_event: bool) -> Snapshot:
    """What a subscription object says, ready to store."""
    status = obj.get("status")
    product_id, period_end = product_and_period_end(obj)
    return Snapshot(
        created=created,
        is_created_event=is_created_event,
        status=status[:20] if isinstance(status, str) else "",
        product_id=product_id,
        current_period_end=period_end,
        data=obj,
    )


def product_and_period_end(obj: dict) -> tuple[str, datetime | None]:
    """The product and latest period end the items name ("" and None when none)."""
    product, period_end = "", None
    for item in _list(_dict(obj.get("items")).get("data")):
        item = _dict(item)
        product = product or stripe_id(_dict(item.get("price")).get("product"))
        end = _when(item.get("current_period_end"))
        if end and (period_end is None or end > period_end):
            period_end = end
    return product, period_end


# --- invoices ------------------------------------------------------------------------------


def _invoice_member(event: StripeEvent) -> tuple[dict, Member | None]:
    invoice = _dict(event.payload["data"]["object"])
    subscription_id = stripe_id(
        _dict(_dict(invoice.get("parent")).get("subscription_details")).get("subscription")
    )
    customer_id = stripe_id(invoice.get("customer"))
    return invoice, _locked_member(_by_subscription_or_customer(subscription_id, customer_id))


def _amount(invoice: dict, key: str) -> str:
    """An amount in the currency's minor unit, shown exactly for any integer (a float
    would overflow, or round, for the huge ones)."""
    amount, currency = invoice.get(key), invoice.get("currency")
    if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str):
        units, cents = divmod(abs(amount), 100)
        sign = "-" if amount < 0 else ""
        return f" ({sign}{units}.{cents:02d} {currency.upper()})"
    return ""


def _noted(member: Member, text: str) -> Outcome:
    # Invoices only add a note: the subscription events carry the status and dates.
    changes = MemberChanges(member)
    changes.note(text)
    return Outcome(EventState.PROCESSED, member, "Noted on the member.", changes=changes)


def invoice_paid(event: StripeEvent) -> Outcome:
    invoice, member = _invoice_member(event)
    if member is None:
        return Outcome(EventState.UNMATCHED, detail="No member for this invoice.")
    if _erased(member):
        return _held(member)
    period_end = None
    for line in _list(_dict(invoice.get("lines")).get("data")):
        end = _when(_dict(_dict(line).get("period")).get("end"))
        if end and (period_end is None or end > period_end):
            period_end = end
    label = invoice.get("number") or stripe_id(invoice.get("id"))
    text = f"Stripe: invoice {label} paid{_amount(invoice, 'amount_paid')}"
    if period_end:
        text += f"; paid through {_date(period_end)}"
    return _noted(member, text + ".")


def invoice_payment_failed(event: StripeEvent) -> Outcome:
    invoice, member = _invoice_member(event)
    if member is None:
        return Outcome(EventState.UNMATCHED, detail="No member for this invoice.")
    if _erased(member):
        return _held(member)
    label = invoice.get("number") or stripe_id(invoice.get("id"))
    return _noted(
        member, f"Stripe: payment failed for invoice {label}{_amount(invoice, 'amount_due')}."
    )
