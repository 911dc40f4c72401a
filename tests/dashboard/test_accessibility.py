"""Every member and signup page in Debian's chromium at 1280 and 390 px: axe-core finds
no serious or critical violation, nothing scrolls sideways, and a screenshot of each is
saved under screenshots/ (git-ignored) for people to look at."""

import pytest

from members.email_change import email_change_token
from signup.tokens import make_token
from tests.browser import orm
from tests.factories import DEFAULT_PASSWORD, MemberFactory
from tests.signup.a11y import check_page


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/**")


def log_out(page, base: str) -> None:
    page.click("header button:has-text('Log out')")
    page.wait_for_url(f"{base}/")


def visit_all(page, base: str, pages: list[tuple[str, str]]) -> list[str]:
    problems = []
    for name, path in pages:
        page.goto(f"{base}{path}")
        problems += check_page(page, name)
    return problems


def members(settings):
    settings.SITE_CONTACT_EMAIL = "hello@space.example.org"
    settings.SITE_ADDRESS = "12 Dock Road, open nights Tuesday 7-10 pm"
    settings.TERMS_URL = "https://space.example.org/terms"
    settings.STRIPE_CUSTOMER_PORTAL_URL = "https://billing.stripe.com/p/login/test_portal"
    active = MemberFactory(
        identity={"first_name": "Ada", "last_name": "Lovelace", "pronouns": "she/her"},
        status={
            "membership_status": "active",
            "membership_level": "Standard membership",
            "stripe_product_id": "prod_Standard",
            "subscription_status": "past_due",
            "payment_problem": True,
            "renewal_date": "2026-03-01",
            "member_since": "2025-01-15",
        },
        access={"rfid_tags": ["0000001234"]},
        authorizations={"authorizations": ["Laser cutter"], "computer_authorizations": []},
    )
    pending = MemberFactory(membership="pending")
    banned = MemberFactory(membership="banned")
    return active, pending, banned


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_visitor_and_signup_page_passes_axe_at_both_widths(page, live_server, settings):
    settings.TERMS_URL = "https://space.example.org/terms"
    settings.SITE_ADDRESS = "12 Dock Road, open nights Tuesday 7-10 pm"
    member = orm(MemberFactory)
    base = live_server.url
    pages = [
        ("home", "/"),
        ("signup-email", "/signup/"),
        ("signup-sent", "/signup/sent/"),
        ("signup-details", f"/signup/continue/{make_token('new.visitor@example.org')}/"),
        ("signup-complete", f"/signup/continue/{make_token(member.email)}/"),
        ("signup-bad-link", "/signup/continue/not-a-token/"),
        ("login", "/accounts/login/"),
        ("password-reset", "/accounts/password/reset/"),
        ("password-reset-done", "/accounts/password/reset/done/"),
    ]
    problems = visit_all(page, base, pages)
    # The details form with every error shown.
    page.goto(f"{base}{pages[3][1]}")
    page.click("button[type=submit]:has-text('Create my account')")
    page.wait_for_load_state()
    problems += check_page(page, "signup-details-all-errors")
    # The login form with its error.
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", member.email)
    page.fill("input[name=password]", "wrong-password")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    problems += check_page(page, "login-error")
    assert problems == [], "\n".join(problems)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_member_page_passes_axe_at_both_widths(page, live_server, settings):
    active, pending, banned = orm(members, settings)
    base = live_server.url
    token = email_change_token(
        member_id=active.pk, old_email=active.email, new_email="ada.new@example.org"
    )
    log_in(page, base, active.email)
    problems = visit_all(
        page,
        base,
        [
            ("dashboard", "/dashboard/"),
            ("profile", "/dashboard/profile/"),
            ("keys", "/dashboard/keys/"),
            ("authorizations", "/dashboard/auths/"),
            ("storage", "/dashboard/storage/"),
            ("floof", "/dashboard/floof/"),
            ("account", "/dashboard/account/"),
            ("email-confirm", f"/dashboard/account/email/{token}/"),
            ("email-link-bad", "/dashboard/account/email/not-a-token/"),
            ("payment-settled", "/signup/payment/"),
            ("home-signed-in", "/"),
        ],
    )
    # The account page's forms with their errors.
    page.goto(f"{base}/dashboard/account/")
    page.fill("input[name=email]", active.email)
    page.click("button:has-text('Send the confirmation link')")
    page.wait_for_load_state()
    page.click("button:has-text('Change my password')")
    page.wait_for_load_state()
    problems += check_page(page, "account-errors")
    log_out(page, base)

    log_in(page, base, pending.email)
    problems += visit_all(
        page, base, [("dashboard-pending", "/dashboard/"), ("payment", "/signup/payment/")]
    )
    log_out(page, base)

    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", banned.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/locked/")
    problems += check_page(page, "locked")
    assert problems == [], "\n".join(problems)
