import pytest

from members.views import UNKNOWN
from tests.dashboard.conftest import (
    assert_sends_a_banned_member_to_locked,
    assert_sends_to_login,
)
from tests.factories import MemberFactory


def _status(**values):
    return {
        "membership_status": "active",
        "membership_level": "Standard",
        "member_since": "2026-01-15",
        "renewal_date": "2026-03-01",
        "subscription_status": "active",
        "payment_problem": False,
        **values,
    }


def _page(member_client, **status):
    member = MemberFactory(status=_status(**status))
    response = member_client(member).get("/dashboard/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_it_shows_name_status_level_and_renewal_date(member_client):
    member = MemberFactory(
        identity={"first_name": "Grace", "last_name": "Hopper"}, status=_status()
    )
    content = member_client(member).get("/dashboard/").content.decode()
    assert "Hello, Grace Hopper" in content
    assert "Membership status</dt><dd>Active" in content
    assert "Membership level</dt><dd>Standard" in content
    assert "Renewal date</dt><dd>1 March 2026" in content


@pytest.mark.django_db
def test_it_shows_unknown_for_a_missing_level_and_an_unparseable_renewal_date(member_client):
    content = _page(member_client, membership_level=None, renewal_date="next spring")
    assert f"Membership level</dt><dd>{UNKNOWN}" in content
    assert f"Renewal date</dt><dd>{UNKNOWN}" in content


@pytest.mark.django_db
def test_it_says_a_pending_member_without_a_renewal_date_has_none_yet(member_client):
    content = _page(
        member_client, membership_status="pending", renewal_date=None, subscription_status=""
    )
    assert "Renewal date</dt><dd>not set yet" in content


@pytest.mark.django_db
def test_it_asks_an_unpaid_pending_member_to_finish_paying(member_client):
    content = _page(member_client, membership_status="pending", subscription_status="")
    assert 'href="/signup/payment/">finish paying' in content
    assert "Payment received" not in content


@pytest.mark.django_db
@pytest.mark.parametrize("subscription", ["active", "trialing", "TRIALING"])
def test_it_tells_a_paid_pending_member_that_staff_will_activate_them(member_client, subscription):
    content = _page(member_client, membership_status="pending", subscription_status=subscription)
    assert "Payment received, staff will activate you" in content
    assert "/signup/payment/" not in content


@pytest.mark.django_db
def test_it_tells_a_lapsed_member_how_to_renew(member_client, settings):
    settings.STRIPE_CUSTOMER_PORTAL_URL = "https://billing.example.org/portal"
    content = _page(member_client, membership_status="lapsed", subscription_status="canceled")
    assert "Your membership has lapsed. To renew" in content
    assert 'href="/signup/payment/"' in content
    assert 'href="https://billing.example.org/portal"' in content


@pytest.mark.django_db
def test_it_tells_a_suspended_member_to_contact_staff(member_client):
    content = _page(member_client, membership_status="suspended")
    assert "Your membership is suspended. Please contact staff." in content


@pytest.mark.django_db
def test_it_shows_no_notice_to_an_active_member_in_good_standing(member_client):
    content = _page(member_client)
    assert 'class="notice"' not in content


@pytest.mark.django_db
def test_it_links_a_payment_problem_to_the_customer_portal(member_client, settings):
    settings.STRIPE_CUSTOMER_PORTAL_URL = "https://billing.example.org/portal"
    content = _page(member_client, payment_problem=True, subscription_status="past_due")
    assert "There is a problem with your last payment." in content
    assert '<a href="https://billing.example.org/portal">Update your payment details</a>' in content


@pytest.mark.django_db
def test_it_asks_to_contact_staff_about_a_payment_problem_without_a_portal(member_client, settings):
    settings.STRIPE_CUSTOMER_PORTAL_URL = ""
    content = _page(member_client, payment_problem=True)
    assert "There is a problem with your last payment." in content
    assert "Please contact staff." in content


@pytest.mark.django_db
def test_it_links_tiles_to_every_other_dashboard_page(member_client):
    content = _page(member_client)
    for url in ("profile", "keys", "auths", "storage", "floof"):
        assert f'class="tile" href="/dashboard/{url}/"' in content


@pytest.mark.django_db
def test_it_refuses_a_post(member_client):
    response = member_client(MemberFactory()).post("/dashboard/")
    assert response.status_code == 405


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page(member_client):
    assert_sends_a_banned_member_to_locked(member_client, "/dashboard/")


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, "/dashboard/")
