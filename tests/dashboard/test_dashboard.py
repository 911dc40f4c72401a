import html
import re

import pytest

from dashboard.views import UNKNOWN
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


def facts(content: str) -> dict[str, str]:
    """The page's <dt>/<dd> pairs as text (tags dropped, whitespace collapsed)."""
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", content, re.S)

    def text(part):
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())

    return {text(dt): text(dd) for dt, dd in pairs}


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
    assert "Hello, Grace</h1>" in content  # the first name
    shown = facts(content)
    assert shown["Membership status"] == "Active"
    assert shown["Plan"] == "Standard"
    assert shown["Subscription"] == "Active"
    assert shown["Renewal date"] == "1 March 2026"


@pytest.mark.django_db
def test_it_shows_unknown_for_a_missing_level_and_an_unparseable_renewal_date(member_client):
    shown = facts(_page(member_client, membership_level=None, renewal_date="next spring"))
    assert shown["Plan"] == UNKNOWN
    assert shown["Renewal date"] == UNKNOWN


@pytest.mark.django_db
def test_it_says_a_pending_member_without_a_renewal_date_has_none_yet(member_client):
    content = _page(
        member_client, membership_status="pending", renewal_date=None, subscription_status=""
    )
    shown = facts(content)
    assert shown["Renewal date"] == "not set yet"
    assert shown["Subscription"] == "No subscription yet"


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
    assert 'href="https://billing.example.org/portal?prefilled_email=' in content


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
    portal = (
        r'<a href="https://billing\.example\.org/portal\?prefilled_email=[^"]+%40example\.org">'
    )
    assert re.search(portal + "Update your payment details</a>", content)


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


# --- the billing card ---------------------------------------------------------------


@pytest.mark.django_db
def test_it_shows_the_plan_name_the_webhook_wrote(member_client):
    content = _page(
        member_client, membership_level="Student membership", stripe_product_id="prod_Student1"
    )
    assert facts(content)["Plan"] == "Student membership"
    assert "prod_Student1" not in content


@pytest.mark.django_db
@pytest.mark.parametrize("level", ["prod_Unnamed1", "prod_other"])
def test_it_never_shows_a_raw_stripe_product_id_as_the_plan(member_client, level):
    content = _page(member_client, membership_level=level, stripe_product_id="prod_Unnamed1")
    assert level not in content
    assert facts(content)["Plan"] == "Membership (plan name not set yet)"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("subscription", "label", "tone"),
    [
        ("active", "Active", "good"),
        ("trialing", "Trial", "good"),
        ("past_due", "Payment overdue", "problem"),
        ("unpaid", "Unpaid", "problem"),
        ("canceled", "Canceled", ""),
        ("something_new", "Something new", ""),
    ],
)
def test_it_names_the_subscription_state(member_client, subscription, label, tone):
    content = _page(member_client, subscription_status=subscription)
    assert facts(content)["Subscription"] == label
    badge = f"badge {tone}" if tone else "badge"
    assert f'<span class="{badge}">{label}</span>' in content


@pytest.mark.django_db
def test_it_says_when_a_canceled_subscription_ended(member_client):
    content = _page(
        member_client,
        membership_status="lapsed",
        subscription_status="canceled",
        renewal_date="2026-02-01",
    )
    assert facts(content)["Ended on"] == "1 February 2026"
    assert "Renewal date" not in facts(content)


@pytest.mark.django_db
def test_it_links_manage_billing_with_the_email_prefilled(member_client, settings):
    settings.STRIPE_CUSTOMER_PORTAL_URL = "https://billing.stripe.com/p/login/test_123"
    member = MemberFactory(email="grace+club@example.org", status=_status())
    content = member_client(member).get("/dashboard/").content.decode()
    link = "https://billing.stripe.com/p/login/test_123?prefilled_email=grace%2Bclub%40example.org"
    assert f'href="{link}">Manage billing</a>' in content


@pytest.mark.django_db
def test_it_offers_no_manage_billing_without_a_portal(member_client, settings):
    settings.STRIPE_CUSTOMER_PORTAL_URL = ""
    assert "Manage billing" not in _page(member_client)


@pytest.mark.django_db
def test_it_shows_payment_received_as_good_news(member_client):
    content = _page(member_client, membership_status="pending", subscription_status="active")
    assert '<p class="notice good">Payment received' in content
    assert '<p class="notice">Payment received' not in content


@pytest.mark.django_db
def test_it_puts_the_payment_problem_notice_on_the_billing_card(member_client, settings):
    settings.STRIPE_CUSTOMER_PORTAL_URL = "https://billing.example.org/portal"
    content = _page(member_client, payment_problem=True, subscription_status="past_due")
    card = content[content.index('<section class="card billing"') :]
    card = card[: card.index("</section>")]
    assert "There is a problem with your last payment." in card
    assert "Update your payment details" in card
    assert "badge problem" in card
