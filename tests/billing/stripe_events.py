"""Stripe event fixtures (API version 2026-10-28) and signed delivery helpers."""

import itertools
import json
from pathlib import Path

import stripe

SECRET = "whsec_billing_tests_0123456789abcdef"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
WEBHOOK_URL = "/billing/stripe/webhook/"
T0 = 1793000000  # the fixtures' `created`

_ids = itertools.count(1)


def stripe_event(
    name,
    *,
    event_id=None,
    created=None,
    sub_id=None,
    customer=None,
    product=None,
    period_end=None,
    email=None,
    **fields,
):
    """A fixture event with a fresh id, adjusted for the test. `sub_id` lands where
    the event type keeps the subscription id; other keywords set top-level fields of
    data.object."""
    event = json.loads((FIXTURES / f"{name}.json").read_text())
    event["id"] = event_id or f"{event['id']}_{next(_ids)}"
    if created is not None:
        event["created"] = created
    obj = event["data"]["object"]
    if sub_id is not None:
        _set_subscription_id(obj, sub_id)
    if customer is not None:
        obj["customer"] = customer
    _set_items(obj, product=product, period_end=period_end)
    if email is not None:
        obj["customer_details"]["email"] = email
    obj.update(fields)
    return event


def _set_subscription_id(obj, sub_id):
    """Where each kind of object keeps the subscription id."""
    kind = obj["object"]
    if kind == "subscription":
        obj["id"] = sub_id
        for item in obj["items"]["data"]:
            item["subscription"] = sub_id
    elif kind == "checkout.session":
        obj["subscription"] = sub_id
    elif kind == "invoice":
        obj["parent"]["subscription_details"]["subscription"] = sub_id
        for line in obj["lines"]["data"]:
            line["parent"]["subscription_item_details"]["subscription"] = sub_id


def _set_items(obj, *, product, period_end):
    """A subscription's items: their product and period end."""
    if product is not None:
        for item in obj["items"]["data"]:
            item["price"]["product"] = product
            item["plan"]["product"] = product
    if period_end is not None:
        for item in obj["items"]["data"]:
            item["current_period_end"] = period_end


def signed(payload, *, secret=SECRET, timestamp=None):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    # The stripe helper itself signs with the current time when no timestamp is given;
    # 0 is a timestamp (a very stale one), not "now".
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body, header


def post_signed(client, body, header):
    """POST an already signed body to the webhook."""
    return client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def deliver(client, payload, *, secret=SECRET):
    return post_signed(client, *signed(payload, secret=secret))


def checkout_for(member, *, customer, sub_id, **fields):
    """A `checkout.session.completed` for `member`: its billing ref as the client
    reference and its email as the buyer's; `fields` override either, or anything
    else `stripe_event` takes."""
    fields.setdefault("client_reference_id", member.billing_ref)
    fields.setdefault("email", member.email)
    return stripe_event("checkout.session.completed", customer=customer, sub_id=sub_id, **fields)


def subscribe(client, member, *, customer, sub_id, created=T0):
    """Deliver `member`'s checkout, then the `customer.subscription.created` snapshot
    for the same customer and subscription, asserting each is answered 200."""
    checkout = checkout_for(member, customer=customer, sub_id=sub_id)
    assert deliver(client, checkout).status_code == 200
    snapshot = stripe_event(
        "customer.subscription.created", sub_id=sub_id, customer=customer, created=created
    )
    assert deliver(client, snapshot).status_code == 200
