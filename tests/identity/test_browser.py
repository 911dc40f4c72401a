"""The provider and the second factor in Debian's chromium (tests/browser.py): the
consent page posts back to the client under the site's Content Security Policy (a real
browser applies form-action to the redirect that follows the post), a client that skips
consent is reached straight from the login form, and staff set up and use their second
factor. axe-core checks the pages members meet."""

import pytest

from tests.browser import orm
from tests.factories import DEFAULT_PASSWORD, MemberFactory, StaffFactory
from tests.identity.conftest import register
from tests.identity.rp import Callback, Redirect, RelyingParty, totp_code
from tests.signup.a11y import check_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def callback():
    server = Callback()
    yield server
    server.close()


def _csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return errors


def _log_in(page, email, password=DEFAULT_PASSWORD):
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")


def _relying_party(portal, callback, **policy):
    client, secret = orm(register, "Wiki", redirect_uri=callback.url, **policy)
    return orm(RelyingParty, portal, client.id, secret, redirect_uri=callback.url)


def test_a_member_allows_the_wiki_on_the_consent_page_and_lands_back_on_it(page, portal, callback):
    member = orm(MemberFactory)
    wiki = _relying_party(portal, callback)
    errors = _csp_errors(page)

    page.goto(wiki.authorization_url())
    page.wait_for_url(f"{portal}/accounts/login/**")
    _log_in(page, member.email)
    page.wait_for_url(f"{portal}/identity/o/authorize**")
    assert page.locator("h1").inner_text() == "Log in to Wiki"
    problems = check_page(page, "identity-consent")
    page.click("button[name=action][value=grant]")
    page.wait_for_url(f"{callback.url}?**")

    assert errors == [] and problems == []
    token = orm(wiki.fetch_token, Redirect(callback.arrivals[-1]))
    assert orm(wiki.id_token_claims, token)["sub"] == str(member.user_id)


def test_a_client_that_skips_consent_is_reached_from_the_login_form(page, portal, callback):
    member = orm(MemberFactory)
    wiki = _relying_party(portal, callback, skip_consent=True)
    errors = _csp_errors(page)

    page.goto(wiki.authorization_url())
    _log_in(page, member.email)
    page.wait_for_url(f"{callback.url}?**")
    assert errors == []
    assert Redirect(callback.arrivals[-1]).params["state"] == wiki.state


def test_an_ineligible_member_is_sent_back_with_access_denied(page, portal, callback):
    member = orm(MemberFactory, membership="lapsed")
    wiki = _relying_party(portal, callback)
    page.goto(wiki.authorization_url())
    _log_in(page, member.email)
    page.wait_for_url(f"{callback.url}?**")
    assert Redirect(callback.arrivals[-1]).params == {"error": "access_denied", "state": wiki.state}


def test_staff_set_up_their_second_factor_before_the_admin_and_use_it_at_each_login(
    page, portal, settings
):
    settings.STAFF_REQUIRE_MFA = True
    staff = orm(StaffFactory)
    page.goto(f"{portal}/admin/")
    page.wait_for_url(f"{portal}/accounts/login/**")
    _log_in(page, staff.email)
    # Sent to set one up; allauth asks for the password once more first.
    page.wait_for_url(f"{portal}/accounts/reauthenticate/**")
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{portal}/accounts/2fa/totp/activate/")
    problems = check_page(page, "identity-totp-setup")
    secret = page.locator("#authenticator_secret").inner_text()
    page.fill("input[name=code]", totp_code(secret))
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{portal}/accounts/2fa/recovery-codes/")
    problems += check_page(page, "identity-recovery-codes")
    page.click("text=Go to the staff pages")
    page.wait_for_url(f"{portal}/admin/")

    page.context.clear_cookies()
    page.goto(f"{portal}/admin/")
    _log_in(page, staff.email)
    page.wait_for_url(f"{portal}/accounts/2fa/authenticate/")
    problems += check_page(page, "identity-code")
    page.fill("input[name=code]", totp_code(secret))
    page.click("main form button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{portal}/admin/")
    assert problems == []
