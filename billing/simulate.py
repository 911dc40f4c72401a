"""Realistic, signed Stripe events for people without a Stripe account.

Shared by `manage.py stripe_simulate` and the DEBUG-only "Simulate payment" button.
The payloads have the shape of the API version the stripe library pins (period end on
`items.data[]`, an invoice's subscription under `parent.subscription_details`).
"""

import json
import secrets
import time

import stripe

from billing import webhook
from billing.models import Plan, Subscription
from members.models import Member

DEFAULT_PRODUCT = "prod_simulated_membership"
# Simulated payments name their plan, so the member's level (and the dashboard's
# billing card) reads as a plan name, never a raw product id.
DEFAULT_PLAN_NAME = "Standard membership"
SIMULATED_PLAN_NAME = "Simulated plan"
MONTH = 30 * 24 * 60 * 60


def new_id(prefix: str) -> str:
    return f"{prefix}_sim{secrets.token_hex(10)}"


def default_product() -> str:
    """The first plan's product, or the simulated one (its plan created) when staff
    have named none yet."""
    first = Plan.objects.order_by("pk").values_list("stripe_product_id", flat=True).first()
    if first:
        return first
    Plan.objects.get_or_create(
        stripe_product_id=DEFAULT_PRODUCT, defaults={"name": DEFAULT_PLAN_NAME}
    )
    return DEFAULT_PRODUCT


def plan_for(product_id: str) -> str:
    """`product_id`, with a plan created for it when it has none (named for what it
    is), so a simulated subscription's level is a name."""
    Plan.objects.get_or_create(stripe_product_id=product_id, defaults={"name": SIMULATED_PLAN_NAME})
    return product_id


def event(event_type: str, obj: dict, *, created: int | None = None) -> dict:
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()) if created is None else created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def checkout_session(
    member: Member, *, customer_id: str, subscription_id: str, created: int
) -> dict:
    return {
        "id": new_id("cs_test"),
        "object": "checkout.session",
        "amount_subtotal": 5000,
        "amount_total": 5000,
        "client_reference_id": member.billing_ref,
        "created": created,
        "currency": "usd",
        "customer": customer_id,
        "customer_creation": "always",
        "customer_details": {
            "address": None,
            "email": member.email,
            "name": member.full_name or None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "customer_email": member.email,
        "expires_at": created + 24 * 60 * 60,
        "invoice": new_id("in"),
        "livemode": False,
        "metadata": {},
        "mode": "subscription",
        "payment_status": "paid",
        "status": "complete",
        "subscription": subscription_id,
        "ui_mode": "hosted",
        "url": None,
    }


def subscription(
    *, subscription_id: str, customer_id: str, status: str, product_id: str, created: int
) -> dict:
    period_start = created
    return {
        "id": subscription_id,
        "object": "subscription",
        "billing_cycle_anchor": period_start,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": created if status == "canceled" else None,
        "collection_method": "charge_automatically",
        "created": period_start,
        "currency": "usd",
        "customer": customer_id,
        "ended_at": created if status == "canceled" else None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": new_id("si"),
                    "object": "subscription_item",
                    "created": period_start,
                    "current_period_start": period_start,
                    "current_period_end": period_start + MONTH,
                    "metadata": {},
                    "price": {
                        "id": new_id("price"),
                        "object": "price",
                        "active": True,
                        "currency": "usd",
                        "product": product_id,
                        "recurring": {"interval": "month", "interval_count": 1},
                        "type": "recurring",
                        "unit_amount": 5000,
                    },
                    "quantity": 1,
                    "subscription": subscription_id,
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": new_id("in"),
        "livemode": False,
        "metadata": {},
        "pause_collection": None,
        "start_date": period_start,
        "status": status,
        "trial_end": None,
        "trial_start": None,
    }


def invoice(
    *, subscription_id: str, customer_id: str, email: str, paid: bool, created: int
) -> dict:
    return {
        "id": new_id("in"),
        "object": "invoice",
        "amount_due": 5000,
        "amount_paid": 5000 if paid else 0,
        "amount_remaining": 0 if paid else 5000,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer_id,
        "customer_email": email,
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": new_id("il"),
                    "object": "line_item",
                    "amount": 5000,
                    "currency": "usd",
                    "description": "1 x Membership (at $50.00 / month)",
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "invoice_item": None,
                            "proration": False,
                            "subscription": subscription_id,
                            "subscription_item": new_id("si"),
                        },
                    },
                    "period": {"start": created, "end": created + MONTH},
                    "quantity": 1,
                }
            ],
            "has_more": False,
            "total_count": 1,
        },
        "livemode": False,
        "number": f"SIM-{secrets.token_hex(3).upper()}",
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription_id},
            "type": "subscription_details",
        },
        "period_end": created,
        "period_start": created - MONTH,
        "status": "paid" if paid else "open",
        "total": 5000,
    }


# The steps the command offers, by name, in the order a real payment produces them.
STEPS = (
    "checkout",
    "active",
    "past_due",
    "canceled",
    "invoice_paid",
    "invoice_failed",
)


def build_events(
    member: Member, steps, *, customer_id: str, subscription_id: str, product_id: str
) -> list[dict]:
    """Events for the named steps, `created` one second apart, ending now or just after
    the last event applied to the subscription, so the ordering rules apply them all."""
    start = int(time.time()) - (len(steps) - 1)
    applied = (
        Subscription.objects.filter(stripe_id=subscription_id)
        .values_list("last_event_created", flat=True)
        .first()
    )
    if applied:
        start = max(start, int(applied.timestamp()) + 1)
    events = []
    for index, step in enumerate(steps):
        created = start + index
        ids = {"subscription_id": subscription_id, "customer_id": customer_id}
        if step == "checkout":
            obj = checkout_session(member, created=created, **ids)
            events.append(event("checkout.session.completed", obj, created=created))
        elif step in ("active", "past_due", "canceled"):
            obj = subscription(status=step, product_id=product_id, created=created, **ids)
            kind = {"active": "created", "canceled": "deleted"}.get(step, "updated")
            if kind == "created" and index and steps[index - 1] != "checkout":
                kind = "updated"
            events.append(event(f"customer.subscription.{kind}", obj, created=created))
        elif step in ("invoice_paid", "invoice_failed"):
            paid = step == "invoice_paid"
            obj = invoice(email=member.email, paid=paid, created=created, **ids)
            kind = "invoice.paid" if paid else "invoice.payment_failed"
            events.append(event(kind, obj, created=created))
        else:
            raise ValueError(f"unknown step {step!r}")
    return events


def signed(payload: dict, secret: str) -> tuple[str, str]:
    """The JSON body and its Stripe-Signature header."""
    body = json.dumps(payload)
    return body, stripe.WebhookSignature.generate_signature_header(body, secret)


def simulate_payment(member: Member, *, secret: str) -> list[webhook.Delivery]:
    """Checkout completed and an active subscription for `member`, signed and run
    through the webhook's own verify-store-process path."""
    events = build_events(
        member,
        ["checkout", "active"],
        customer_id=new_id("cus"),
        subscription_id=new_id("sub"),
        product_id=default_product(),
    )
    deliveries = []
    for payload in events:
        body, header = signed(payload, secret)
        deliveries.append(webhook.receive(body.encode(), header, secret))
    return deliveries
