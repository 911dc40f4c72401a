"""The whole signup in Debian's chromium: email, the mailed link, details, payment."""

import re

import pytest
from django.core import mail

from members.models import Member
from tests.browser import orm
from tests.jobs import send_signup_mails


def continue_link_sent_to(address: str) -> str:
    send_signup_mails()  # step 1's mail is a job: run it here, as a worker would
    message = next(m for m in reversed(mail.outbox) if m.to == [address])
    return re.search(r"https?://\S+/signup/continue/\S+/", message.body).group(0)


@pytest.mark.browser
def test_it_walks_a_visitor_from_email_to_the_pricing_table(
    page, live_server, stripe_settings, settings
):
    settings.SITE_URL = live_server.url  # links in mails sent by jobs
    page.goto(f"{live_server.url}/signup/")
    page.fill("input[name=email]", "Browser.Person@Example.org")
    page.click("button[type=submit]")
    page.wait_for_url("**/signup/sent/")
    assert "Check your inbox" in page.content()

    link = orm(continue_link_sent_to, "browser.person@example.org")
    assert link.startswith(live_server.url)
    page.goto(link)
    assert "browser.person@example.org" in page.content()
    page.fill("#id_first_name", "Brow")
    page.fill("#id_last_name", "Ser")
    page.fill("#id_birthday", "1985-07-14")
    page.fill("#id_username", "browser_1")
    page.wait_for_selector("text=That username is available.")
    page.fill("#id_phone", "+44 20 7946 0000")
    page.fill("#id_password1", "lantern-Harbor-8812")
    page.fill("#id_password2", "lantern-Harbor-8812")
    page.check("#id_accept_terms")
    page.click("button[type=submit]:has-text('Create my account')")
    page.wait_for_url("**/signup/payment/")

    member = orm(Member.objects.get, email="browser.person@example.org")
    table = page.locator("stripe-pricing-table")
    assert table.count() == 1
    assert table.get_attribute("pricing-table-id") == "prctbl_signup"
    assert table.get_attribute("publishable-key") == "pk_test_signup"
    assert table.get_attribute("customer-email") == "browser.person@example.org"
    assert table.get_attribute("client-reference-id") == member.billing_ref
    assert "Welcome! Your account is ready." in page.content()
