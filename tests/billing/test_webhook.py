"""POST /billing/stripe/webhook/: verification, store-once, ordering, rules, linking."""

import datetime
import json
import logging
from functools import partial

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing import webhook
from billing.models import EventState, Plan, StripeEvent, Subscription
from members.models import Member
from tests.billing.stripe_events import (
    T0,
    WEBHOOK_URL,
    checkout_for,
    deliver,
    post_signed,
    signed,
    stripe_event,
    subscribe,
)
from tests.factories import MemberFactory
from tests.threads import run_concurrently, run_in_threads

pytestmark = pytest.mark.django_db


def reload(member):
    return Member.objects.get(pk=member.pk)


def subscribed(membership="active", *, sub_id="sub_Current", customer="cus_Current", **status):
    """A member whose current subscription is `sub_id`, already known to billing."""
    member = MemberFactory(membership=membership)
    sub_status = status.pop("subscription_status", "active")
    member.status.update(
        stripe_customer_id=customer,
        stripe_subscription_id=sub_id,
        subscription_status=sub_status,
        **status,
    )
    member.save()
    Subscription.objects.create(
        stripe_id=sub_id,
        customer_id=customer,
        status=sub_status,
        member=member,
        last_event_created=datetime.datetime.fromtimestamp(T0 - 1000, tz=datetime.UTC),
    )
    return member


def sub_event(name, member=None, *, sub_id="sub_Current", customer="cus_Current", **kw):
    return stripe_event(name, sub_id=sub_id, customer=customer, **kw)


def updated(status, **kw):
    return sub_event("customer.subscription.updated", status=status, **kw)


def notes(member):
    return reload(member).notes or []


# --- verification -----------------------------------------------------------------


def _no_header(payload):
    return json.dumps(payload), None


def _wrong_secret(payload):
    return signed(payload, secret="whsec_not_the_right_one")


def _tampered(payload):
    body, header = signed(payload)
    return body.replace('"status": "past_due"', '"status": "active"'), header


def _stale(payload):
    return signed(payload, timestamp=1_600_000_000)


def _malformed(payload):
    return json.dumps(payload), "this is not a stripe signature"


def _not_json(payload):
    return signed("<html>not json</html>")


def _not_utf8(payload):
    return b"\xff\xfe\xfd", "t=1,v1=00"


def _json_but_not_an_event(payload):
    return signed(json.dumps([payload]))


def _created_beyond_any_date(payload):
    return signed({**payload, "created": 10**15})


def _non_ascii_signature(payload):
    body, header = signed(payload)
    return body, header.split(",v1=")[0] + ",v1=" + "\u00e9" * 64


def _lone_surrogate_in_a_value(payload):
    payload["data"]["object"]["description"] = "broken \ud800 text"
    return signed(payload)


def _lone_surrogate_in_a_key(payload):
    payload["data"]["object"]["metadata"] = {"\udfff": "value"}
    return signed(payload)


def _nested(payload, depth):
    payload["data"]["object"]["metadata"] = "NESTED"
    return signed(json.dumps(payload).replace('"NESTED"', "[" * depth + "]" * depth))


def _not_a_finite_number(payload):
    # Python's json writes (and reads) NaN, which jsonb cannot hold.
    payload["data"]["object"]["quantity"] = float("nan")
    return signed(payload)


def _nested_too_deeply(payload):
    return _nested(payload, 500)


def _nested_beyond_what_json_parses(payload):
    return _nested(payload, 100_000)


@pytest.mark.parametrize(
    "make",
    [
        _no_header,
        _wrong_secret,
        _tampered,
        _stale,
        _malformed,
        _not_json,
        _not_utf8,
        _json_but_not_an_event,
        _created_beyond_any_date,
        _non_ascii_signature,
        _lone_surrogate_in_a_value,
        _lone_surrogate_in_a_key,
        _not_a_finite_number,
        _nested_too_deeply,
        _nested_beyond_what_json_parses,
    ],
)
def test_it_answers_400_to_a_bad_delivery_and_writes_nothing(client, make):
    member = subscribed("active")
    before = (reload(member).status, reload(member).notes, member.events.count())
    body, header = make(updated("past_due"))
    headers = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
    response = client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)
    assert response.status_code == 400
    assert "error" in response.json()
    assert StripeEvent.objects.count() == 0
    assert (reload(member).status, reload(member).notes, member.events.count()) == before


def test_it_answers_500_and_logs_an_error_when_no_secret_is_configured(client, settings, caplog):
    member = subscribed("active")
    settings.STRIPE_WEBHOOK_SECRET = ""
    with caplog.at_level(logging.ERROR, logger="billing"):
        response = deliver(client, updated("past_due"))
    assert response.status_code == 500
    assert any(
        r.levelno == logging.ERROR and "STRIPE_WEBHOOK_SECRET" in r.getMessage()
        for r in caplog.records
    )
    assert StripeEvent.objects.count() == 0
    assert reload(member).status["subscription_status"] == "active"


def test_it_answers_405_to_get_and_changes_nothing(client):
    response = client.get(WEBHOOK_URL)
    assert response.status_code == 405
    assert StripeEvent.objects.count() == 0


def test_it_needs_no_csrf_token(webhook_secret):
    client = Client(enforce_csrf_checks=True)
    response = deliver(client, stripe_event("customer.created"))
    assert response.status_code == 200


# --- store once ---------------------------------------------------------------------


def test_it_stores_an_unhandled_type_as_ignored(client):
    response = deliver(client, stripe_event("customer.created"))
    assert response.status_code == 200
    assert StripeEvent.objects.get().state == EventState.IGNORED


def test_it_records_the_event_with_its_stripe_fields(client):
    member = subscribed("active")
    event = updated("past_due")
    deliver(client, event)
    row = StripeEvent.objects.get()
    assert row.stripe_id == event["id"]
    assert row.type == "customer.subscription.updated"
    assert row.api_version == "2026-10-28.endive"
    assert row.livemode is False
    assert row.created == datetime.datetime.fromtimestamp(event["created"], tz=datetime.UTC)
    assert row.payload == event
    assert row.state == EventState.PROCESSED
    assert row.member == member
    assert row.processed_at is not None


def test_it_processes_the_same_event_once_when_delivered_three_times(client):
    member = subscribed("lapsed", subscription_status="canceled")
    Subscription.objects.filter(stripe_id="sub_Current").update(status="past_due")
    event = updated("active", created=T0)
    first = deliver(client, event)
    history_after_first = member.events.count()
    notes_after_first = notes(member)
    second, third = deliver(client, event), deliver(client, event)
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert [r.json()["duplicate"] for r in (first, second, third)] == [False, True, True]
    assert reload(member).membership_status == "active"
    assert len(notes_after_first) == 1
    assert notes(member) == notes_after_first
    assert member.events.count() == history_after_first
    assert StripeEvent.objects.get().attempts == 1


@pytest.mark.django_db(transaction=True)
def test_it_processes_the_same_event_exactly_once_from_ten_threads(webhook_secret):
    member = subscribed("lapsed", subscription_status="past_due")
    Subscription.objects.filter(stripe_id="sub_Current").update(status="past_due")
    body, header = signed(updated("active", created=T0))

    def send():
        response = post_signed(Client(), body, header)
        return response.status_code, response.json()["duplicate"]

    answers = run_in_threads(send, 10)
    assert sorted(answers) == [(200, False)] + [(200, True)] * 9
    row = StripeEvent.objects.get()
    assert (row.state, row.attempts) == (EventState.PROCESSED, 1)
    assert reload(member).membership_status == "active"
    assert len(notes(member)) == 1


@pytest.mark.django_db(transaction=True)
def test_it_ends_on_the_newest_snapshot_when_ten_arrive_at_once(webhook_secret):
    member = subscribed("active")
    # The newest is the only past_due one; the others are older and active.
    events = [updated("active", created=T0 + i) for i in range(9)]
    events.append(updated("past_due", created=T0 + 9))
    bodies = [signed(event) for event in reversed(events)]

    def send(body, header):
        return post_signed(Client(), body, header).status_code

    codes = run_concurrently(*(partial(send, body, header) for body, header in bodies))
    assert codes == [200] * 10
    status = reload(member).status
    assert (status["subscription_status"], status["payment_problem"]) == ("past_due", True)
    sub = Subscription.objects.get(stripe_id="sub_Current")
    assert (sub.status, int(sub.last_event_created.timestamp())) == ("past_due", T0 + 9)


# --- ordering -----------------------------------------------------------------------


def test_it_keeps_a_member_lapsed_when_an_older_active_snapshot_arrives_late(client):
    member = subscribed("active")
    deliver(client, sub_event("customer.subscription.deleted", created=T0 + 60))
    late = deliver(client, updated("active", created=T0))
    assert late.status_code == 200
    status = reload(member).status
    assert status["membership_status"] == "lapsed"
    assert status["subscription_status"] == "canceled"
    assert Subscription.objects.get(stripe_id="sub_Current").status == "canceled"
    assert "not applied" in StripeEvent.objects.get(stripe_id=late.json()["id"]).detail


def test_it_ignores_an_older_snapshot_that_arrives_after_a_newer_one(client):
    member = subscribed("active")
    deliver(client, updated("past_due", created=T0 + 60))
    deliver(client, updated("active", created=T0))
    status = reload(member).status
    assert (status["subscription_status"], status["payment_problem"]) == ("past_due", True)
    assert Subscription.objects.get(stripe_id="sub_Current").status == "past_due"


@pytest.mark.parametrize("deleted_first", [True, False])
def test_it_ends_canceled_when_updated_and_deleted_share_a_second(client, deleted_first):
    member = subscribed("active")
    events = [updated("active", created=T0), sub_event("customer.subscription.deleted", created=T0)]
    for event in reversed(events) if deleted_first else events:
        assert deliver(client, event).status_code == 200
    assert reload(member).status["subscription_status"] == "canceled"
    assert reload(member).membership_status == "lapsed"


def test_it_skips_a_created_event_for_a_known_subscription_at_the_same_second(client):
    member = subscribed("lapsed", subscription_status="past_due")
    deliver(client, updated("past_due", created=T0))
    created = sub_event("customer.subscription.created", created=T0)
    assert deliver(client, created).status_code == 200
    assert reload(member).status["subscription_status"] == "past_due"
    assert reload(member).membership_status == "lapsed"


def test_it_never_revives_a_canceled_subscription(client):
    member = subscribed("active")
    deliver(client, sub_event("customer.subscription.deleted", created=T0))
    deliver(
        client,
        stripe_event(
            "customer.subscription.resumed",
            sub_id="sub_Current",
            customer="cus_Current",
            created=T0 + 600,
        ),
    )
    assert reload(member).membership_status == "lapsed"
    assert Subscription.objects.get(stripe_id="sub_Current").status == "canceled"


# --- the rules table through the view -----------------------------------------------

RULE_ROWS = [
    ("active", "pending", "pending"),
    ("active", "lapsed", "active"),
    ("active", "active", "active"),
    ("trialing", "lapsed", "active"),
    ("trialing", "pending", "pending"),
    ("past_due", "active", "active"),
    ("past_due", "lapsed", "lapsed"),
    ("unpaid", "active", "lapsed"),
    ("unpaid", "pending", "pending"),
    ("canceled", "active", "lapsed"),
    ("canceled", "pending", "pending"),
    ("incomplete_expired", "active", "lapsed"),
    ("paused", "active", "lapsed"),
    ("incomplete", "active", "active"),
    ("incomplete", "lapsed", "lapsed"),
]


@pytest.mark.parametrize(("stripe_status", "before", "after"), RULE_ROWS)
def test_it_applies_the_rules_table_to_the_current_subscription(
    client, stripe_status, before, after
):
    member = subscribed(before, subscription_status="incomplete")
    Subscription.objects.filter(stripe_id="sub_Current").update(status="incomplete")
    response = deliver(client, updated(stripe_status, created=T0))
    assert response.status_code == 200
    status = reload(member).status
    assert status["membership_status"] == after
    assert status["subscription_status"] == stripe_status
    assert status["payment_problem"] is (stripe_status in ("past_due", "unpaid"))


@pytest.mark.parametrize("before", ["suspended", "banned"])
@pytest.mark.parametrize("stripe_status", ["active", "canceled", "unpaid", "paused"])
def test_it_never_changes_suspended_or_banned_members(client, before, stripe_status):
    member = subscribed(before, subscription_status="incomplete")
    Subscription.objects.filter(stripe_id="sub_Current").update(status="incomplete")
    deliver(client, updated(stripe_status, created=T0))
    assert reload(member).status["membership_status"] == before
    assert reload(member).status["subscription_status"] == stripe_status


def test_it_keeps_a_new_member_pending_and_stores_the_stripe_ids(client):
    Plan.objects.create(stripe_product_id="prod_TestStandard0001", name="Standard")
    member = MemberFactory(membership="pending")
    subscribe(client, member, customer="cus_New", sub_id="sub_New")
    status = reload(member).status
    assert status["membership_status"] == "pending"
    assert status["stripe_customer_id"] == "cus_New"
    assert status["stripe_subscription_id"] == "sub_New"
    assert status["stripe_product_id"] == "prod_TestStandard0001"
    assert status["membership_level"] == "Standard"
    assert status["renewal_date"] == "2026-11-25"
    assert status["member_since"] == "2026-01-15"  # other keys kept


def test_it_uses_the_product_id_as_level_when_the_plan_is_unknown(client):
    member = subscribed("active")
    deliver(client, updated("active", created=T0, product="prod_Unlisted"))
    assert reload(member).status["membership_level"] == "prod_Unlisted"


def test_it_returns_a_lapsed_member_to_active(client):
    member = subscribed("lapsed", subscription_status="unpaid")
    Subscription.objects.filter(stripe_id="sub_Current").update(status="unpaid")
    deliver(client, updated("active", created=T0))
    assert reload(member).membership_status == "active"
    assert reload(member).status["payment_problem"] is False


def test_it_sets_payment_problem_on_past_due_and_clears_it_on_active(client):
    member = subscribed("active")
    deliver(client, updated("past_due", created=T0))
    assert reload(member).status["payment_problem"] is True
    assert reload(member).membership_status == "active"
    deliver(client, updated("active", created=T0 + 60))
    assert reload(member).status["payment_problem"] is False


@pytest.mark.parametrize("name", ["customer.subscription.deleted", "customer.subscription.updated"])
def test_it_changes_nothing_on_the_member_for_a_non_current_subscription(client, name):
    member = subscribed("active")
    Subscription.objects.create(
        stripe_id="sub_Other", customer_id="cus_Current", status="active", member=member
    )
    before = reload(member)
    response = deliver(client, sub_event(name, sub_id="sub_Other", status="canceled", created=T0))
    assert response.status_code == 200
    after = reload(member)
    assert (after.status, after.notes) == (before.status, before.notes)
    assert Subscription.objects.get(stripe_id="sub_Other").status == "canceled"


@pytest.mark.parametrize("name", ["invoice.paid", "invoice.payment_failed"])
def test_it_only_adds_a_note_for_invoice_events(client, name):
    member = subscribed("active", subscription_status="past_due", payment_problem=True)
    before = reload(member).status
    response = deliver(client, stripe_event(name, sub_id="sub_Current", customer="cus_Current"))
    assert response.status_code == 200
    assert reload(member).status == before
    assert len(notes(member)) == 1
    assert "DHTEST-0001" in notes(member)[0]["note"]
    assert notes(member)[0]["from"] == "stripe"


def test_it_notes_the_paid_period_end_of_a_paid_invoice(client):
    member = subscribed("active")
    deliver(client, stripe_event("invoice.paid", sub_id="sub_Current", customer="cus_Current"))
    assert "paid through 2026-11-25" in notes(member)[0]["note"]


def test_it_records_member_changes_in_the_audit_history_as_webhook(client):
    member = subscribed("active")
    deliver(client, updated("past_due", created=T0))
    latest = member.events.order_by("-pgh_id").first()
    assert latest.pgh_context.metadata["source"] == "webhook"
    assert latest.status["subscription_status"] == "past_due"


def test_it_stores_an_invoice_for_an_unknown_customer_as_unmatched(client):
    response = deliver(client, stripe_event("invoice.paid", sub_id="sub_X", customer="cus_X"))
    assert response.status_code == 200
    assert StripeEvent.objects.get().state == EventState.UNMATCHED


# --- linking ------------------------------------------------------------------------


def test_it_finds_the_member_by_email_when_the_reference_is_malformed(client):
    member = MemberFactory(membership="pending")
    checkout = checkout_for(
        member,
        client_reference_id="<script>not a ref</script>",
        email=member.email.upper(),
        customer="cus_ByEmail",
        sub_id="sub_ByEmail",
    )
    assert deliver(client, checkout).status_code == 200
    assert reload(member).status["stripe_subscription_id"] == "sub_ByEmail"


def test_it_keeps_the_current_subscription_when_another_members_ref_comes_with_a_new_email(
    client,
):
    member = subscribed("active")
    buyer = MemberFactory(membership="pending")
    checkout = checkout_for(member, email=buyer.email, customer="cus_Buyer", sub_id="sub_Buyer")
    assert deliver(client, checkout).status_code == 200
    status = reload(member).status
    assert status["stripe_subscription_id"] == "sub_Current"
    assert status["stripe_customer_id"] == "cus_Current"
    text = " ".join(n["note"] for n in notes(member))
    assert buyer.email in text and "Staff" in text
    assert "sub_Buyer" in text
    assert Subscription.objects.get(stripe_id="sub_Buyer").member == member
    assert reload(buyer).status == buyer.status


def test_it_never_swaps_in_a_second_subscription_for_a_subscribed_member(client):
    member = subscribed("active")
    subscribe(client, member, customer="cus_Current", sub_id="sub_Second")
    status = reload(member).status
    assert status["stripe_subscription_id"] == "sub_Current"
    assert status["subscription_status"] == "active"
    assert any("sub_Second" in n["note"] and "Staff" in n["note"] for n in notes(member))


def test_it_adopts_a_new_subscription_once_the_current_one_has_ended(client):
    member = subscribed("lapsed", subscription_status="canceled")
    Subscription.objects.filter(stripe_id="sub_Current").update(status="canceled")
    subscribe(client, member, customer="cus_Current", sub_id="sub_Again")
    status = reload(member).status
    assert status["stripe_subscription_id"] == "sub_Again"
    assert status["membership_status"] == "active"


@pytest.mark.parametrize("status", [None, {"membership_level": "New Member"}])
def test_it_completes_a_null_or_keyless_status_and_applies_the_rules(client, status):
    member = MemberFactory(status=status)
    subscribe(client, member, customer="cus_Legacy", sub_id="sub_Legacy")
    after = reload(member).status
    assert after["membership_status"] == "pending"
    assert after["subscription_status"] == "active"
    assert after["stripe_subscription_id"] == "sub_Legacy"
    if status:
        assert after["membership_level"] == "prod_TestStandard0001"


def test_it_applies_subscription_events_that_arrive_before_their_checkout(client):
    member = subscribed(
        "lapsed", sub_id="sub_Old", customer="cus_Old", subscription_status="canceled"
    )
    Subscription.objects.filter(stripe_id="sub_Old").update(status="canceled")
    early = stripe_event(
        "customer.subscription.created", sub_id="sub_Early", customer="cus_Early", created=T0
    )
    response = deliver(client, early)
    assert response.status_code == 200
    assert StripeEvent.objects.get(stripe_id=early["id"]).state == EventState.UNMATCHED
    stored = Subscription.objects.get(stripe_id="sub_Early")
    assert (stored.member, stored.status) == (None, "active")
    assert reload(member).membership_status == "lapsed"

    checkout = checkout_for(member, customer="cus_Early", sub_id="sub_Early")
    assert deliver(client, checkout).status_code == 200
    status = reload(member).status
    assert status["membership_status"] == "active"
    assert status["stripe_subscription_id"] == "sub_Early"
    assert status["subscription_status"] == "active"
    assert status["renewal_date"] == "2026-11-25"
    assert Subscription.objects.get(stripe_id="sub_Early").member == member
    waited = StripeEvent.objects.get(stripe_id=early["id"])
    assert (waited.state, waited.member) == (EventState.PROCESSED, reload(member))


def test_it_stores_an_unmatched_checkout_and_links_it_on_redelivery(client):
    checkout = stripe_event(
        "checkout.session.completed",
        client_reference_id=None,
        email="Newcomer@Example.org",
        customer="cus_Newcomer",
        sub_id="sub_Newcomer",
    )
    response = deliver(client, checkout)
    assert response.status_code == 200
    assert response.json()["state"] == "unmatched"
    assert StripeEvent.objects.get().state == EventState.UNMATCHED

    member = MemberFactory(membership="pending", user__email="newcomer@example.org")
    again = deliver(client, checkout)
    assert again.status_code == 200
    assert StripeEvent.objects.get().state == EventState.PROCESSED
    assert reload(member).status["stripe_subscription_id"] == "sub_Newcomer"
    assert Subscription.objects.get(stripe_id="sub_Newcomer").member == member


# --- failures -----------------------------------------------------------------------


def test_it_answers_500_for_a_damaged_member_and_succeeds_once_repaired(client):
    member = subscribed("active")
    Member.objects.filter(pk=member.pk).update(status=["not", "an", "object"])
    event = updated("past_due", created=T0)
    response = deliver(client, event)
    assert response.status_code == 500
    row = StripeEvent.objects.get()
    assert row.state == EventState.FAILED
    assert "not a JSON object" in row.error
    Member.objects.filter(pk=member.pk).update(status=member.status)
    assert deliver(client, event).status_code == 200
    assert reload(member).status["subscription_status"] == "past_due"


def test_it_rolls_back_a_failing_handler_and_applies_once_on_redelivery(client, monkeypatch):
    member = subscribed("active")
    real = webhook.HANDLERS["customer.subscription.updated"]

    def fails_after_writing(event):
        real(event)
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(webhook.HANDLERS, "customer.subscription.updated", fails_after_writing)
    event = updated("past_due", created=T0)
    response = deliver(client, event)
    assert response.status_code == 500
    row = StripeEvent.objects.get()
    assert (row.state, row.error) == (EventState.FAILED, "RuntimeError: disk on fire")
    assert reload(member).status["subscription_status"] == "active"
    assert notes(member) == []

    monkeypatch.setitem(webhook.HANDLERS, "customer.subscription.updated", real)
    assert deliver(client, event).status_code == 200
    assert deliver(client, event).json()["duplicate"] is True
    assert reload(member).status["subscription_status"] == "past_due"
    assert len(notes(member)) == 1
    row.refresh_from_db()
    assert (row.state, row.attempts, row.error) == (EventState.PROCESSED, 2, "")


# --- odd payloads -------------------------------------------------------------------

# Longer than any id column (255), and integers far beyond a float's range.
LONG_TEXT = st.text(min_size=256, max_size=600)
HUGE_INTEGERS = st.integers(min_value=10**300, max_value=10**1000) | st.integers(
    min_value=-(10**1000), max_value=-(10**300)
)
LONE_SURROGATES = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | HUGE_INTEGERS
    | st.text(max_size=300)
    | LONG_TEXT
    | LONE_SURROGATES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=10) | LONE_SURROGATES, children, max_size=3)
    ),
    max_leaves=6,
)
ODD_KEYS = [
    "id",
    "customer",
    "subscription",
    "client_reference_id",
    "customer_details",
    "customer_email",
    "items",
    "status",
    "parent",
    "lines",
    "amount_paid",
    "currency",
    "number",
]
HANDLED = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "invoice.paid",
    "invoice.payment_failed",
]


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(HANDLED), key=st.sampled_from(ODD_KEYS), value=JSON_VALUES)
@example(name="checkout.session.completed", key="customer", value="cus_" + "x" * 300)
@example(name="checkout.session.completed", key="subscription", value="sub_" + "x" * 300)
@example(name="customer.subscription.updated", key="customer", value="cus_" + "x" * 300)
@example(name="invoice.paid", key="customer", value={"id": "cus_" + "x" * 300})
@example(name="invoice.paid", key="amount_paid", value=10**400)
@example(name="invoice.payment_failed", key="amount_due", value=-(10**400))
@example(name="checkout.session.completed", key="customer_email", value="\ud800")
def test_it_never_answers_500_to_a_signed_event_with_odd_field_values(name, key, value):
    member = MemberFactory(membership="active")
    event = stripe_event(
        name, sub_id="sub_Odd", customer="cus_Odd", client_reference_id=member.billing_ref
    )
    event["data"]["object"][key] = value
    response = deliver(Client(), event)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert not StripeEvent.objects.filter(stripe_id=event["id"]).exists()


LONG_CUSTOMER = "cus_" + "x" * 300
LONG_SUBSCRIPTION = "sub_" + "x" * 300


def test_it_treats_an_over_long_customer_id_in_a_checkout_as_absent(client):
    member = MemberFactory(membership="pending")
    checkout = checkout_for(member, customer=LONG_CUSTOMER, sub_id="sub_Fine")
    response = deliver(client, checkout)
    assert response.status_code == 200
    row = StripeEvent.objects.get()
    assert (row.state, row.member, row.customer_id) == (EventState.PROCESSED, member, "")
    assert Subscription.objects.get(stripe_id="sub_Fine").customer_id == ""
    status = reload(member).status
    assert status["stripe_subscription_id"] == "sub_Fine"
    assert status["stripe_customer_id"] == ""


def test_it_treats_an_over_long_subscription_id_in_a_checkout_as_absent(client):
    member = MemberFactory(membership="pending")
    checkout = checkout_for(member, customer="cus_Fine", sub_id=LONG_SUBSCRIPTION)
    response = deliver(client, checkout)
    assert response.status_code == 200
    assert StripeEvent.objects.get().state == EventState.PROCESSED
    assert not Subscription.objects.exists()
    status = reload(member).status
    assert (status["stripe_customer_id"], status["stripe_subscription_id"]) == ("cus_Fine", "")


@pytest.mark.parametrize(
    "name",
    ["customer.subscription.updated", "invoice.paid", "invoice.payment_failed"],
)
@pytest.mark.parametrize("customer", [LONG_CUSTOMER, {"id": LONG_CUSTOMER}])
def test_it_stores_an_event_with_an_over_long_customer_id_without_failing(client, name, customer):
    response = deliver(client, stripe_event(name, sub_id=LONG_SUBSCRIPTION[:40], customer=customer))
    assert response.status_code == 200
    row = StripeEvent.objects.get()
    assert row.state == EventState.UNMATCHED
    assert row.customer_id == ""


def test_it_answers_400_to_a_subscription_event_whose_own_id_is_over_long(client):
    response = deliver(client, updated("active", sub_id=LONG_SUBSCRIPTION))
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize(
    ("name", "key", "amount", "shown"),
    [
        ("invoice.paid", "amount_paid", 10**400, "1" + "0" * 398 + ".00 USD"),
        ("invoice.payment_failed", "amount_due", 10**400 + 5, "1" + "0" * 398 + ".05 USD"),
        ("invoice.paid", "amount_paid", -1234, "-12.34 USD"),
        ("invoice.paid", "amount_paid", 7, "0.07 USD"),
    ],
    ids=["huge-paid", "huge-due", "negative", "cents"],
)
def test_it_notes_any_integer_invoice_amount_exactly(client, name, key, amount, shown):
    member = subscribed("active")
    event = stripe_event(name, sub_id="sub_Current", customer="cus_Current", **{key: amount})
    response = deliver(client, event)
    assert response.status_code == 200
    assert StripeEvent.objects.get().state == EventState.PROCESSED
    assert f"({shown})" in notes(member)[0]["note"]
