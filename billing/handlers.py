"""Handlers for the Stripe event types we act on (dispatched from billing/webhook.py).

Each runs inside the delivery's transaction and audit("webhook"), reads only the
payload (no Stripe API calls, no network) and returns an Outcome. Locks are taken in
one order everywhere, so concurrent events cannot deadlock each other: the Stripe
customer (an advisory lock), then the member row, then subscription rows.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone

from billing import rules
from billing.models import EventState, Plan, StripeEvent, Subscription
from members.models import Member, normalize_email
from members.scaffolding import complete_member, missing_columns

SUBSCRIPTION_CREATED = "customer.subscription.created"
MAX_EPOCH = 253402300799  # 9999-12-31: anything later is not a date Python can hold


@dataclass
class Outcome:
    state: str
    member: Member | None = None
    detail: str = ""


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


def _lock_customer(customer_id: str) -> None:
    """Serialise everything about one Stripe customer, so a checkout and an early
    subscription event cannot miss each other."""
    if customer_id:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"stripe-customer:{customer_id}"],
            )


def _lock_member(member_id: int) -> Member:
    """Lock the member row for this transaction, completing a NULL or key-less status
    first so the rules always have a membership_status to work from."""
    member = Member.objects.select_for_update().get(pk=member_id)
    if {"status", "membership_status"} & set(missing_columns(member)):
        complete_member(member.pk, only=["status"])
        member.refresh_from_db(fields=["status"])
    if not isinstance(member.status, dict):
        raise DamagedStatus(
            f"Member #{member.pk} has a status that is not a JSON object; "
            "repair it in admin, then reprocess this event."
        )
    return member


def _member_by_customer(customer_id: str) -> int | None:
    if not customer_id:
        return None
    return (
        Member.objects.filter(status__stripe_customer_id=customer_id)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def _subscription_for_update(subscription_id: str, customer_id: str) -> Subscription:
    """The subscription row, created if new, locked for this transaction."""
    Subscription.objects.bulk_create(
        [Subscription(stripe_id=subscription_id, customer_id=customer_id)], ignore_conflicts=True
    )
    sub = Subscription.objects.select_for_update().get(stripe_id=subscription_id)
    if customer_id and not sub.customer_id:
        sub.customer_id = customer_id
    return sub


def plan_name(product_id: str) -> str:
    name = Plan.objects.filter(stripe_product_id=product_id).values_list("name", flat=True).first()
    return name or product_id


def _note(member: Member, text: str) -> None:
    Member.objects.filter(pk=member.pk).append_note(text, author="stripe")


def _is_current_replaceable(member: Member) -> bool:
    """True when the member has no current subscription or it has ended for good."""
    current_id = member.status.get("stripe_subscription_id") or ""
    if not current_id:
        return True
    status = (
        Subscription.objects.filter(stripe_id=current_id).values_list("status", flat=True).first()
    )
    if status is None:
        status = member.status.get("subscription_status") or ""
    return not rules.is_live(status)


def _apply(member: Member, sub: Subscription) -> str:
    """Make `sub` the member's current subscription and apply its snapshot."""
    values = {"stripe_subscription_id": sub.stripe_id}
    if sub.customer_id:
        values["stripe_customer_id"] = sub.customer_id
    text = f"Stripe: subscription {sub.stripe_id}"
    change = ""
    if sub.status:
        current = member.membership_status
        new = rules.membership_transition(current, sub.status, is_current=True)
        values["subscription_status"] = sub.status
        values["payment_problem"] = rules.payment_problem(sub.status)
        if sub.product_id:
            values["stripe_product_id"] = sub.product_id
            values["membership_level"] = plan_name(sub.product_id)
        if sub.current_period_end:
            values["renewal_date"] = _date(sub.current_period_end)
        if new != current:
            values["membership_status"] = new
            change = f"; membership {current} -> {new}"
        text += f" is {sub.status}"
        if sub.product_id:
            text += f" (plan {values['membership_level']})"
        text += change
    Member.objects.filter(pk=member.pk).merge_json("status", values)
    if sub.status:  # a bare link is already in the checkout's own note
        _note(member, text + ".")
    member.refresh_from_db(fields=["status"])
    return "Applied to the member" + change + "."


def _apply_or_flag(member: Member, sub: Subscription, *, newly_linked: bool) -> str:
    """Apply a subscription to its member if it is (or may become) the current one;
    otherwise leave the member alone, telling staff when a second one first appears."""
    current_id = member.status.get("stripe_subscription_id") or ""
    if current_id == sub.stripe_id or (
        rules.is_live(sub.status) and _is_current_replaceable(member)
    ):
        return _apply(member, sub)
    if newly_linked and rules.is_live(sub.status):
        # Only reached when another live subscription is current: a second one.
        _note(
            member,
            f"Stripe: another subscription {sub.stripe_id} (customer {sub.customer_id or '?'}) "
            f"was started while {current_id} is current; it was recorded, not swapped in. "
            "Staff: check whether one should be canceled.",
        )
    return f"Not the member's current subscription ({current_id or 'none'}); member unchanged."


def checkout_session_completed(event: StripeEvent) -> Outcome:
    session = _dict(event.payload["data"]["object"])
    customer_id = stripe_id(session.get("customer"))
    subscription_id = stripe_id(session.get("subscription"))
    email = _dict(session.get("customer_details")).get("email") or session.get("customer_email")
    email = normalize_email(email) if isinstance(email, str) else ""
    _lock_customer(customer_id)
    found = Member.objects.by_billing_ref(session.get("client_reference_id"))
    found = found or Member.objects.by_email(email)
    sub = None
    if subscription_id:
        sub = _subscription_for_update(subscription_id, customer_id)
        sub.save()
    if found is None:
        return Outcome(EventState.UNMATCHED, detail="No member with this reference or email.")

    member = _lock_member(found.pk)
    session_label = stripe_id(session.get("id")) or event.stripe_id
    _note(
        member,
        f"Stripe: checkout {session_label} completed "
        f"(customer {customer_id or '-'}, subscription {subscription_id or '-'}).",
    )
    if email and email != normalize_email(member.email):
        _note(
            member,
            f"Stripe: checkout {session_label} was paid with email {email}, not the "
            "member's own. Staff: check it belongs to this member.",
        )
    details = []
    linked = []
    if sub is not None:
        if sub.member_id not in (None, member.pk):
            _note(
                member,
                f"Stripe: checkout {session_label} names subscription {sub.stripe_id}, "
                f"which belongs to member #{sub.member_id}; not linked. Staff: check.",
            )
            details.append(f"{sub.stripe_id} belongs to member #{sub.member_id}.")
        else:
            newly = sub.member_id is None
            sub.member = member
            sub.save()
            linked.append(sub.stripe_id)
            details.append(_apply_or_flag(member, sub, newly_linked=newly))
    elif customer_id and not member.status.get("stripe_customer_id"):
        Member.objects.filter(pk=member.pk).merge_json(
            "status", {"stripe_customer_id": customer_id}
        )

    # Subscription events that arrived before this checkout are applied now.
    if customer_id:
        orphans = Subscription.objects.select_for_update().filter(
            customer_id=customer_id, member__isnull=True
        )
        for orphan in orphans.order_by("last_event_created", "pk"):
            orphan.member = member
            orphan.save()
            linked.append(orphan.stripe_id)
            details.append(_apply_or_flag(member, orphan, newly_linked=True))
    if linked:
        # Their snapshots are applied; skip any being redelivered right now (that
        # delivery will find the member itself) rather than wait on its lock.
        waiting = list(
            StripeEvent.objects.select_for_update(skip_locked=True)
            .filter(state=EventState.UNMATCHED, object_id__in=linked)
            .exclude(pk=event.pk)
            .values_list("pk", flat=True)
        )
        StripeEvent.objects.filter(pk__in=waiting).update(
            state=EventState.PROCESSED,
            member=member,
            detail=f"Applied when checkout event {event.stripe_id} linked the customer.",
        )
    return Outcome(EventState.PROCESSED, member, " ".join(details) or "Checkout recorded.")


def subscription_changed(event: StripeEvent) -> Outcome:
    obj = _dict(event.payload["data"]["object"])
    subscription_id = stripe_id(obj.get("id"))
    if not subscription_id:
        raise ValueError("subscription event without a subscription id")
    customer_id = stripe_id(obj.get("customer"))
    _lock_customer(customer_id)
    member_id = (
        Subscription.objects.filter(stripe_id=subscription_id)
        .values_list("member_id", flat=True)
        .first()
    ) or _member_by_customer(customer_id)
    member = _lock_member(member_id) if member_id else None
    sub = _subscription_for_update(subscription_id, customer_id)
    newly_linked = False
    if member is not None:
        if sub.member_id is None:
            sub.member, newly_linked = member, True
        elif sub.member_id != member.pk:
            raise LinkedElsewhere(f"{subscription_id} was linked to member #{sub.member_id}")

    high_water = sub.last_event_created
    if high_water and (
        event.created < high_water
        or (event.created == high_water and event.type == SUBSCRIPTION_CREATED)
    ):
        sub.save()
        return Outcome(
            EventState.PROCESSED, member, "Older than the last snapshot applied; not applied."
        )
    if sub.status in rules.FINAL:
        sub.save()
        return Outcome(
            EventState.PROCESSED, member, f"Subscription already {sub.status}; not applied."
        )

    status = obj.get("status")
    sub.status = status[:20] if isinstance(status, str) else ""
    sub.product_id, sub.current_period_end = _product_and_period_end(obj, sub)
    sub.last_event_created = event.created
    sub.snapshot = obj
    sub.save()
    if member is None:
        return Outcome(
            EventState.UNMATCHED,
            detail=f"Stored; applied when a checkout links customer {customer_id or '?'}.",
        )
    detail = _apply_or_flag(member, sub, newly_linked=newly_linked)
    return Outcome(EventState.PROCESSED, member, detail)


def _product_and_period_end(obj: dict, sub: Subscription) -> tuple[str, datetime | None]:
    product, period_end = "", None
    for item in _list(_dict(obj.get("items")).get("data")):
        item = _dict(item)
        product = product or stripe_id(_dict(item.get("price")).get("product"))
        end = _when(item.get("current_period_end"))
        if end and (period_end is None or end > period_end):
            period_end = end
    return product or sub.product_id, period_end or sub.current_period_end


def _invoice_member(event: StripeEvent) -> tuple[dict, str, Member | None]:
    invoice = _dict(event.payload["data"]["object"])
    subscription_id = stripe_id(
        _dict(_dict(invoice.get("parent")).get("subscription_details")).get("subscription")
    )
    customer_id = stripe_id(invoice.get("customer"))
    _lock_customer(customer_id)
    member_id = None
    if subscription_id:
        member_id = (
            Subscription.objects.filter(stripe_id=subscription_id)
            .values_list("member_id", flat=True)
            .first()
        )
    member_id = member_id or _member_by_customer(customer_id)
    return invoice, subscription_id, (_lock_member(member_id) if member_id else None)


def _amount(invoice: dict, key: str) -> str:
    """An amount in the currency's minor unit, shown exactly for any integer (a float
    would overflow, or round, for the huge ones)."""
    amount, currency = invoice.get(key), invoice.get("currency")
    if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str):
        units, cents = divmod(abs(amount), 100)
        sign = "-" if amount < 0 else ""
        return f" ({sign}{units}.{cents:02d} {currency.upper()})"
    return ""


def invoice_paid(event: StripeEvent) -> Outcome:
    invoice, _subscription_id, member = _invoice_member(event)
    if member is None:
        return Outcome(EventState.UNMATCHED, detail="No member for this invoice.")
    period_end = None
    for line in _list(_dict(invoice.get("lines")).get("data")):
        end = _when(_dict(_dict(line).get("period")).get("end"))
        if end and (period_end is None or end > period_end):
            period_end = end
    label = invoice.get("number") or stripe_id(invoice.get("id"))
    text = f"Stripe: invoice {label} paid{_amount(invoice, 'amount_paid')}"
    if period_end:
        text += f"; paid through {_date(period_end)}"
    # Invoices only add a note: the subscription events carry the status and dates.
    _note(member, text + ".")
    return Outcome(EventState.PROCESSED, member, "Noted on the member.")


def invoice_payment_failed(event: StripeEvent) -> Outcome:
    invoice, _subscription_id, member = _invoice_member(event)
    if member is None:
        return Outcome(EventState.UNMATCHED, detail="No member for this invoice.")
    label = invoice.get("number") or stripe_id(invoice.get("id"))
    _note(member, f"Stripe: payment failed for invoice {label}{_amount(invoice, 'amount_due')}.")
    return Outcome(EventState.PROCESSED, member, "Noted on the member.")
