"""billing.rules.membership_transition, row by row against the table in billing/rules.py."""

import pytest

from billing.rules import is_live, membership_transition, payment_problem
from members.models import MemberStatus

# (Stripe status, {member status before: after}) for the member's current subscription.
TABLE = [
    ("active", {"pending": "pending", "active": "active", "lapsed": "active"}),
    ("trialing", {"pending": "pending", "active": "active", "lapsed": "active"}),
    ("past_due", {"pending": "pending", "active": "active", "lapsed": "lapsed"}),
    ("unpaid", {"pending": "pending", "active": "lapsed", "lapsed": "lapsed"}),
    ("canceled", {"pending": "pending", "active": "lapsed", "lapsed": "lapsed"}),
    ("incomplete_expired", {"pending": "pending", "active": "lapsed", "lapsed": "lapsed"}),
    ("paused", {"pending": "pending", "active": "lapsed", "lapsed": "lapsed"}),
    ("incomplete", {"pending": "pending", "active": "active", "lapsed": "lapsed"}),
]
ROWS = [(stripe, before, after) for stripe, effects in TABLE for before, after in effects.items()]


@pytest.mark.parametrize(("stripe_status", "before", "after"), ROWS)
def test_it_applies_each_row_of_the_table_to_the_current_subscription(stripe_status, before, after):
    assert membership_transition(before, stripe_status, is_current=True) == after


@pytest.mark.parametrize("stripe_status", [row[0] for row in TABLE])
@pytest.mark.parametrize("before", ["suspended", "banned"])
def test_it_never_changes_suspended_or_banned(stripe_status, before):
    assert membership_transition(before, stripe_status, is_current=True) == before


@pytest.mark.parametrize("stripe_status", [row[0] for row in TABLE])
@pytest.mark.parametrize("before", MemberStatus.values)
def test_it_changes_nothing_for_a_subscription_that_is_not_current(stripe_status, before):
    assert membership_transition(before, stripe_status, is_current=False) == before


@pytest.mark.parametrize(
    ("before", "stripe_status", "after"),
    [
        ("Lapsed", "active", "active"),
        ("ACTIVE", "Canceled", "lapsed"),
        ("Banned", "active", "banned"),
    ],
)
def test_it_compares_statuses_ignoring_case(before, stripe_status, after):
    assert membership_transition(before, stripe_status, is_current=True) == after


@pytest.mark.parametrize("before", [None, ""])
def test_it_treats_a_missing_status_as_pending(before):
    assert membership_transition(before, "active", is_current=True) == "pending"


def test_it_leaves_a_member_alone_for_an_unknown_stripe_status():
    assert membership_transition("active", "some_future_status", is_current=True) == "active"


@pytest.mark.parametrize(
    ("stripe_status", "expected"),
    [
        ("past_due", True),
        ("unpaid", True),
        ("active", False),
        ("trialing", False),
        ("canceled", False),
        ("incomplete", False),
        ("incomplete_expired", False),
        ("paused", False),
    ],
)
def test_it_flags_a_payment_problem_exactly_for_past_due_and_unpaid(stripe_status, expected):
    assert payment_problem(stripe_status) is expected


@pytest.mark.parametrize(
    ("stripe_status", "expected"),
    [("canceled", False), ("incomplete_expired", False), ("active", True), ("", True)],
)
def test_it_counts_only_canceled_and_incomplete_expired_as_ended_for_good(stripe_status, expected):
    assert is_live(stripe_status) is expected
