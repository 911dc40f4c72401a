"""The whole signup in Debian's chromium: email, the mailed link, details, payment
(the real pricing table's attributes, then the DEBUG "Simulate payment" button), and
the dashboard's billing card showing the plan by name."""

import re

import pytest
from django.core import mail

from members.models import Member
from tests.browser import orm
from tests.jobs import clear_queue, send_signup_mails
from tests.signup.a11y import check_page

PASSWORD = "lantern-Harbor-8812"  # noqa: S105 - test data


def continue_link_sent_to(address: str) -> str:
    send_signup_mails()  # step 1's mail is a job: run it here, as a worker would
    message = next(m for m in reversed(mail.outbox) if m.to == [address])
    return re.search(r"https?://\S+/signup/continue/\S+/", message.body).group(0)


def current_step(page) -> str:
    return " ".join(page.text_content("[aria-current=step]").split())


@pytest.fixture
def empty_queue(transactional_db):
    orm(clear_queue)
    yield
    orm(clear_queue)


@pytest.fixture
def site_url(settings, live_server):
    settings.SITE_URL = live_server.url  # links in mails sent by jobs
    return live_server.url


def fill_details(page, username: str) -> None:
    page.fill("#id_first_name", "Brow")
    page.fill("#id_last_name", "Ser")
    page.fill("#id_birthday", "1985-07-14")
    page.fill("#id_username", username)
    page.wait_for_selector("#username-availability.available")
    page.fill("#id_phone", "+44 20 7946 0000")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.check("#id_accept_terms")


@pytest.mark.browser
def test_it_walks_a_visitor_from_email_to_the_pricing_table(
    page, live_server, site_url, stripe_settings, empty_queue
):
    page.goto(f"{live_server.url}/signup/")
    assert current_step(page) == "1 Email"
    page.fill("input[name=email]", "Browser.Person@Example.org")
    page.click("main button[type=submit]")
    page.wait_for_url("**/signup/sent/")
    assert "Check your inbox" in page.content()

    link = orm(continue_link_sent_to, "browser.person@example.org")
    assert link.startswith(live_server.url)
    page.goto(link)
    assert current_step(page) == "2 Details"
    assert "browser.person@example.org" in page.content()
    fill_details(page, "browser_1")
    # The availability message sits right under the username field.
    message = page.locator("#field-username #username-availability")
    assert message.text_content() == "That username is available."
    page.click("button[type=submit]:has-text('Create my account')")
    page.wait_for_url("**/signup/payment/")
    assert current_step(page) == "3 Payment"

    member = orm(Member.objects.get, email="browser.person@example.org")
    table = page.locator("stripe-pricing-table")
    assert table.count() == 1
    assert table.get_attribute("pricing-table-id") == "prctbl_signup"
    assert table.get_attribute("publishable-key") == "pk_test_signup"
    assert table.get_attribute("customer-email") == "browser.person@example.org"
    assert table.get_attribute("client-reference-id") == member.billing_ref
    assert "Welcome! Your account is ready." in page.content()


@pytest.mark.browser
def test_it_reports_the_taken_username_with_the_other_errors_by_its_field(
    page, live_server, site_url, empty_queue
):
    from tests.factories import MemberFactory

    orm(MemberFactory, username="taken_name")
    page.goto(f"{live_server.url}/signup/")
    page.fill("input[name=email]", "second@example.org")
    page.click("main button[type=submit]")
    page.wait_for_url("**/signup/sent/")
    page.goto(orm(continue_link_sent_to, "second@example.org"))
    page.fill("#id_username", "Taken_Name")
    page.wait_for_selector("#field-username #username-availability.taken")
    page.fill("#id_phone", "not a phone")
    page.click("button[type=submit]:has-text('Create my account')")
    page.wait_for_load_state()
    assert "That username is already taken." in page.text_content("#field-username")
    assert "Use up to 20 digits" in page.text_content("#field-phone")
    assert "This field is required." in page.text_content("#field-first_name")
    assert "This field is required." in page.text_content("#field-accept_terms")
    assert orm(lambda: Member.objects.filter(email="second@example.org").exists()) is False
    assert check_page(page, "signup-details-errors") == []


@pytest.mark.browser
def test_it_signs_up_pays_by_simulation_and_shows_the_plan_on_the_billing_card(
    page, live_server, site_url, settings, empty_queue
):
    settings.DEBUG = True  # the "Simulate payment" button (billing/simulate.py)
    settings.STRIPE_WEBHOOK_SECRET = "whsec_browser_test"
    settings.STRIPE_CUSTOMER_PORTAL_URL = "https://billing.stripe.com/p/login/test_portal"
    page.goto(f"{live_server.url}/")
    page.click("main a:has-text('Sign up')")
    page.wait_for_url("**/signup/")
    page.fill("input[name=email]", "payer@example.org")
    page.click("main button[type=submit]")
    page.wait_for_url("**/signup/sent/")
    page.goto(orm(continue_link_sent_to, "payer@example.org"))
    fill_details(page, "payer")
    page.click("button[type=submit]:has-text('Create my account')")
    page.wait_for_url("**/signup/payment/")
    assert current_step(page) == "3 Payment"
    assert "Payments are not configured yet" in page.content()

    page.click("button:has-text('Simulate payment')")
    page.wait_for_url("**/signup/payment/")
    assert "Simulated payment received" in page.content()
    assert "Payment received, thank you." in page.text_content(".notice.good")
    page.click("main a:has-text('Go to your dashboard')")
    page.wait_for_url(f"{live_server.url}/dashboard/")

    card = page.locator("section.card.billing")
    facts = dict(
        zip(
            [" ".join(t.split()) for t in card.locator("dt").all_text_contents()],
            [" ".join(t.split()) for t in card.locator("dd").all_text_contents()],
            strict=True,
        )
    )
    assert facts["Plan"] == "Standard membership"
    assert facts["Subscription"] == "Active"
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", facts["Renewal date"])
    assert "prod_" not in card.text_content()
    manage = card.locator("a:has-text('Manage billing')")
    assert manage.get_attribute("href") == (
        "https://billing.stripe.com/p/login/test_portal?prefilled_email=payer%40example.org"
    )
    # Paid and waiting for staff: good news, shown as such.
    assert "Payment received" in page.text_content("p.notice.good")
    assert check_page(page, "dashboard-after-payment") == []
