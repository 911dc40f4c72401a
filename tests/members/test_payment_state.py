import pytest

from members.models import Member


@pytest.mark.parametrize(
    "status, configured, state",
    [
        ({"membership_status": "pending", "subscription_status": "active"}, True, "paid"),
        ({"membership_status": "Pending ", "subscription_status": "trialing"}, False, "paid"),
        ({"membership_status": "pending", "subscription_status": ""}, True, "pay"),
        ({"membership_status": "pending"}, False, "not_configured"),
        ({"membership_status": "lapsed", "subscription_status": "canceled"}, True, "pay"),
        (None, True, "pay"),
        ({}, True, "pay"),
        ({"membership_status": None}, False, "not_configured"),
        ({"membership_status": "active"}, True, "settled"),
        ({"membership_status": "suspended"}, True, "settled"),
        ({"membership_status": "banned"}, True, "settled"),
        ({"membership_status": "pending", "subscription_status": 5}, True, "pay"),
    ],
)
def test_it_decides_what_the_payment_page_offers(status, configured, state):
    assert Member(status=status).payment_state(stripe_configured=configured) == state
