"""Fuzzing POST /billing/stripe/webhook/: unsigned garbage, and correctly signed events
whose JSON is anything at all. No answer is a 5xx (a handler failure is a 500, so a
fuzzed event must never make one fail); a refused delivery writes nothing; an accepted
one stores the event once, whole, and leaves members and subscriptions consistent."""

import json
import time
from decimal import Decimal

import pytest
import stripe
from hypothesis import strategies as st

from billing.models import EventState, StripeEvent, Subscription
from members.models import Member, MemberStatus
from members.subscriptions import SubscriptionStatus
from tests.billing.stripe_events import SECRET, T0, WEBHOOK_URL, signed, stripe_event
from tests.factories import MemberFactory
from tests.fuzz.fuzzing import (
    CONTENT_TYPES,
    Huge,
    assert_not_5xx,
    junk_bytes,
    latin1_text,
    run,
)

pytestmark = pytest.mark.django_db

CUSTOMER, SUBSCRIPTION = "cus_Fuzz", "sub_Fuzz"


@pytest.fixture
def accounts(settings):
    """A paying member whose subscription billing knows, a pending one who has not paid
    yet, and a suspended one: every event below is about one of them."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    paying = MemberFactory(membership="active")
    paying.status.update(
        stripe_customer_id=CUSTOMER,
        stripe_subscription_id=SUBSCRIPTION,
        subscription_status="active",
    )
    paying.save()
    Subscription.objects.create(
        stripe_id=SUBSCRIPTION, customer_id=CUSTOMER, status="active", member=paying
    )
    return [paying, MemberFactory(membership="pending"), MemberFactory(membership="suspended")]


def snapshot(members):
    return {
        "members": [Member.objects.filter(pk=m.pk).values().get() for m in members],
        "subscriptions": list(Subscription.objects.order_by("stripe_id").values()),
        "events": list(StripeEvent.objects.values_list("stripe_id", "state")),
    }


def assert_nothing_written(before, members):
    assert snapshot(members) == before


# --- unsigned garbage -----------------------------------------------------------

hexes = st.text("0123456789abcdef", min_size=0, max_size=70)
timestamps = st.one_of(
    st.integers(-(10**20), 10**20),
    st.just(int(time.time())),
    st.sampled_from(["", "x", "1e3", "nan", "0x10"]),
).map(str)
signature_headers = st.one_of(
    st.none(),
    latin1_text,
    st.builds(lambda t, v: f"t={t},v1={v}", timestamps, hexes),
    st.builds(
        lambda t, vs: ",".join([f"t={t}", *(f"v1={v}" for v in vs)]),
        timestamps,
        st.lists(hexes, max_size=5),
    ),
    st.builds(lambda t, v: f"t={t},v0={v},v1=", timestamps, hexes),
    st.sampled_from(["t=,v1=", ",,,", "v1=" + "a" * 64, "t=1,v1=" + "\u00e9" * 64, "=" * 100]),
)
valid_event_json = st.sampled_from(
    ["customer.subscription.updated", "checkout.session.completed", "invoice.paid"]
).map(lambda name: json.dumps(stripe_event(name, event_id="evt_unsigned")).encode())
bodies = st.one_of(
    junk_bytes,
    valid_event_json,
    st.binary(min_size=1, max_size=50).map(lambda b: b * 30_000),
    st.just(b"{" * 100_000),
    st.just(b""),
)


def _signed_for_another_body(payload, other):
    body, header = signed(payload)
    return other, header


def test_it_refuses_any_unsigned_or_missigned_delivery_and_writes_nothing(client, accounts):
    payload = stripe_event("customer.subscription.updated", event_id="evt_missigned")
    deliveries = st.one_of(
        st.tuples(bodies, signature_headers),
        # Signed, but for another body, with another secret, or long ago.
        bodies.map(lambda b: _signed_for_another_body(payload, b)),
        st.just(signed(payload, secret="whsec_someone_else")),
        # From 1: the signing helper takes a timestamp of 0 to mean "now".
        st.integers(1, int(time.time()) - 400).map(lambda t: signed(payload, timestamp=t)),
    )

    def check(example):
        (body, header), method, content_type = example
        before = snapshot(accounts)
        extra = {} if header is None else {"HTTP_STRIPE_SIGNATURE": header}
        response = client.generic(
            method, WEBHOOK_URL, data=body, content_type=content_type, **extra
        )
        assert_not_5xx(response)
        assert response.status_code == (400 if method == "POST" else 405)
        assert_nothing_written(before, accounts)

    run(
        st.tuples(
            deliveries,
            st.sampled_from(["POST", "POST", "POST", "PUT", "GET"]),
            st.sampled_from(CONTENT_TYPES),
        ),
        check,
    )


# --- signed events with fuzzed JSON ---------------------------------------------

HANDLED = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.created",
]
# Where the handlers look; other paths are found by walking the event.
READ_PATHS = [
    ("id",),
    ("type",),
    ("created",),
    ("object",),
    ("livemode",),
    ("api_version",),
    ("data",),
    ("data", "object"),
    ("data", "object", "id"),
    ("data", "object", "customer"),
    ("data", "object", "subscription"),
    ("data", "object", "status"),
    ("data", "object", "client_reference_id"),
    ("data", "object", "customer_details"),
    ("data", "object", "customer_details", "email"),
    ("data", "object", "customer_email"),
    ("data", "object", "items"),
    ("data", "object", "items", "data"),
    ("data", "object", "items", "data", 0),
    ("data", "object", "items", "data", 0, "price", "product"),
    ("data", "object", "items", "data", 0, "current_period_end"),
    ("data", "object", "parent", "subscription_details", "subscription"),
    ("data", "object", "lines", "data", 0, "period", "end"),
    ("data", "object", "amount_paid"),
    ("data", "object", "amount_due"),
    ("data", "object", "currency"),
    ("data", "object", "number"),
]


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 253402300800, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -0.0, 5e-324, 1.5]),
    st.text(max_size=30),
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=5), st.text(max_size=5)),
    st.builds(Huge, st.text(min_size=1, max_size=3), st.just(0)),
    st.integers(1, 80).map(_nested),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=8,
    ),
    st.sampled_from(["sub_Fuzz", "cus_Fuzz", "active", "canceled", "past_due", "cus_" + "x" * 300]),
)


def _paths(value, prefix=()):
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _apply(event, path, how, value):
    parent = event
    for key in path[:-1]:
        if (
            isinstance(parent, dict)
            and key in parent
            or isinstance(parent, list)
            and isinstance(key, int)
            and key < len(parent)
        ):
            parent = parent[key]
        else:
            return
    key = path[-1]
    if isinstance(parent, dict):
        if how == "drop":
            parent.pop(key, None)
        else:
            parent[key] = value
    elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        if how == "drop":
            del parent[key]
        else:
            parent[key] = value


@st.composite
def fuzzed_events(draw, members):
    paying, pending, _ = members
    name = draw(st.sampled_from(HANDLED))
    event = stripe_event(
        name,
        event_id="evt_fuzz",
        created=draw(st.sampled_from([T0, T0 + 1, T0 - 2000, int(time.time())])),
        sub_id=SUBSCRIPTION,
        customer=CUSTOMER,
    )
    obj = event["data"]["object"]
    if name.startswith("checkout"):
        obj["client_reference_id"] = draw(
            st.sampled_from([pending.billing_ref, paying.billing_ref, "unknown_ref_123456789"])
        )
        obj["customer_details"]["email"] = draw(st.sampled_from([pending.email, "x@example.org"]))
    if name.startswith("customer.subscription"):
        obj["status"] = draw(st.sampled_from([*SubscriptionStatus.values, "", "weird"]))
    paths = sorted(_paths(event), key=repr)
    for _ in range(draw(st.sampled_from([1, 2, 3, 0, 5]))):
        path = draw(st.sampled_from(READ_PATHS) | st.sampled_from(paths))
        how = draw(st.sampled_from(["set", "set", "set", "drop"]))
        _apply(event, path, how, draw(odd_values))
    if draw(st.integers(0, 19)) == 0:
        event = draw(odd_values)  # not an event at all
    return event


def _exact(text):
    return json.loads(text, parse_float=Decimal)


def _status_ok(status):
    return (
        isinstance(status, dict)
        and status.get("membership_status") in MemberStatus.values
        and isinstance(status.get("payment_problem"), bool)
    )


ALLOWED = {
    # What Stripe may do to each membership status (the table in billing/rules.py).
    "active": {"active", "lapsed"},
    "pending": {"pending"},
    "suspended": {"suspended"},
}


def test_it_answers_any_signed_event_without_a_5xx_and_writes_it_whole_or_not(client, accounts):
    accepted = 0

    def check(payload):
        nonlocal accepted
        before = snapshot(accounts)
        body = json.dumps(payload)
        header = stripe.WebhookSignature.generate_signature_header(
            body, SECRET, timestamp=int(time.time())
        )
        response = client.post(
            WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
        assert_not_5xx(response)
        if response.status_code == 400:
            assert_nothing_written(before, accounts)
            return
        assert response.status_code == 200
        accepted += 1
        (event,) = StripeEvent.objects.all()
        # Compared as JSON numbers: jsonb keeps the decimal a float was written as.
        assert _exact(json.dumps(event.payload)) == _exact(body)
        assert event.state in (EventState.PROCESSED, EventState.IGNORED, EventState.UNMATCHED)
        assert response.json() == {"id": event.stripe_id, "state": event.state, "duplicate": False}
        after = snapshot(accounts)
        for member, old, new in zip(accounts, before["members"], after["members"], strict=True):
            assert _status_ok(new["status"]), new["status"]
            was = old["status"]["membership_status"]
            assert new["status"]["membership_status"] in ALLOWED[was]
            for column in ("identity", "connections", "forms", "access", "email", "user_id"):
                assert new[column] == old[column]
            assert new["notes"][: len(old["notes"])] == old["notes"]
            # A subscription the member now names is one billing links to them.
            current = new["status"].get("stripe_subscription_id")
            if current and current != old["status"].get("stripe_subscription_id"):
                assert Subscription.objects.filter(stripe_id=current, member=member).exists()
        # Every subscription row still belongs to no member or to one of them.
        member_ids = {m.pk for m in accounts}
        for sub in Subscription.objects.all():
            assert sub.member_id is None or sub.member_id in member_ids

    run(fuzzed_events(accounts), check, explicit=[stripe_event("customer.created")])
    assert accepted >= 1


def test_it_refuses_a_signed_body_that_is_not_a_json_event_and_writes_nothing(client, accounts):
    texts = st.one_of(
        latin1_text,
        st.text(max_size=50),
        st.sampled_from(["NaN", "[]", "{}", '{"object": "event"}', "null", '"event"', "1" * 5000]),
        st.just("[" * 100_000 + "]" * 100_000),
    )

    def check(text):
        before = snapshot(accounts)
        header = stripe.WebhookSignature.generate_signature_header(
            text, SECRET, timestamp=int(time.time())
        )
        response = client.post(
            WEBHOOK_URL, data=text, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
        assert_not_5xx(response)
        assert response.status_code == 400
        assert_nothing_written(before, accounts)

    run(texts, check)
