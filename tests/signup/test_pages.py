"""What a visitor sees around signup: the site's own name, the step indicator, the
details form's errors all at once next to their fields, the terms link, and a login
page whose "sign up" leads to /signup/ (allauth's closed signup page never linked)."""

import re

import pytest
from django.core import mail

from members.models import Member
from tests.factories import MemberFactory
from tests.signup.conftest import continue_url, valid_details

STEP_PAGES = {"/signup/": 1, "/signup/sent/": 1}


def current_step(content: str) -> str:
    [step] = re.findall(r'<li class="current" aria-current="step">\s*(.*?)</li>', content, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", step).split())


def field_block(content: str, name: str) -> str:
    """The details form's block for one field (label, input, help and errors)."""
    start = content.index(f'id="field-{name}"')
    end = content.find('<div class="field', start + 1)
    return content[start : end if end != -1 else None]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "step"), [("/signup/", "1 Email"), ("/signup/sent/", "1 Email")])
def test_it_shows_step_one_on_the_email_pages(client, url, step):
    assert current_step(client.get(url).content.decode()) == step


@pytest.mark.django_db
def test_it_shows_step_two_on_the_details_form(client):
    content = client.get(continue_url("new@example.org")).content.decode()
    assert current_step(content) == "2 Details"
    assert "1 Email (done)" in " ".join(re.sub(r"<[^>]+>", " ", content).split())


@pytest.mark.django_db
def test_it_shows_step_three_on_the_payment_page(client, stripe_settings):
    member = MemberFactory(membership="pending", status={"membership_status": "pending"})
    client.force_login(member.user)
    assert current_step(client.get("/signup/payment/").content.decode()) == "3 Payment"


@pytest.mark.django_db
def test_it_shows_no_steps_to_an_active_member_on_the_payment_page(client):
    client.force_login(MemberFactory().user)
    assert 'aria-current="step"' not in client.get("/signup/payment/").content.decode()


@pytest.mark.django_db
def test_it_reports_every_error_at_once_the_taken_username_included(client):
    MemberFactory(username="ghopper")
    bad = valid_details(
        username="GHopper",  # taken, ignoring case
        first_name="",
        phone="call me",
        birthday="2020-01-01",
        password2="something-else-42",
        accept_terms="",
    )
    response = client.post(continue_url("new@example.org"), bad)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {
        "username",
        "first_name",
        "phone",
        "birthday",
        "password2",
        "accept_terms",
    }
    assert errors["username"] == ["That username is already taken."]
    content = response.content.decode()
    # Each message sits in its own field's block, after that field's input.
    for name, message in [
        ("username", "That username is already taken."),
        ("first_name", "This field is required."),
        ("birthday", "You must be 18 or older to become a member."),
        ("password2", "The two passwords do not match."),
    ]:
        block = field_block(content, name)
        assert message in block, name
        assert block.index(f'name="{name}"') < block.index(message), name
    assert "Please correct the 6 fields marked below." in content
    assert not Member.objects.filter(email="new@example.org").exists()


@pytest.mark.django_db
def test_it_puts_the_username_check_message_by_the_username_field(client):
    content = client.get(continue_url("new@example.org")).content.decode()
    assert 'id="username-availability"' in field_block(content, "username")


@pytest.mark.django_db
def test_it_links_the_terms_of_use(client, settings):
    settings.TERMS_URL = "https://space.example.org/terms"
    content = client.get(continue_url("new@example.org")).content.decode()
    block = field_block(content, "accept_terms")
    assert 'href="https://space.example.org/terms"' in block
    assert "terms of use</a>" in block


@pytest.mark.django_db
def test_it_names_the_terms_without_a_link_when_none_is_set(client, settings):
    settings.TERMS_URL = ""
    content = client.get(continue_url("new@example.org")).content.decode()
    block = field_block(content, "accept_terms")
    assert "terms of use" in block
    assert "<a " not in block


@pytest.mark.django_db
def test_it_still_creates_the_member_after_the_form_passes(client):
    response = client.post(continue_url("new@example.org"), valid_details())
    assert response.status_code == 302
    assert Member.objects.filter(email="new@example.org", username="ghopper").exists()


@pytest.mark.django_db
def test_the_login_pages_sign_up_link_goes_to_signup(client):
    content = client.get("/accounts/login/").content.decode()
    assert re.search(r'<main id="main">.*href="/signup/">Sign up</a>', content, re.S)
    assert "/accounts/signup/" not in content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/signup/",
        "/signup/sent/",
        "/accounts/login/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
        "/accounts/signup/",
    ],
)
def test_no_page_links_allauths_closed_signup_page_or_says_dhportal(client, url):
    content = client.get(url).content.decode()
    assert "/accounts/signup/" not in content
    assert "dhportal" not in content


@pytest.mark.django_db
def test_pages_carry_the_site_name_contact_and_address(client, settings):
    settings.SITE_NAME = "Harbor Makers"
    settings.SITE_CONTACT_EMAIL = "hello@harbor.example.org"
    settings.SITE_ADDRESS = "12 Dock Road; open nights Tue 7-10pm"
    content = client.get("/signup/").content.decode()
    assert "<title>Sign up · Harbor Makers</title>" in content
    assert 'class="brand" href="/">Harbor Makers</a>' in content
    footer = content[content.index('<footer class="site-footer">') :]
    assert 'href="mailto:hello@harbor.example.org"' in footer
    assert "12 Dock Road; open nights Tue 7-10pm" in footer


@pytest.mark.django_db
def test_allauths_password_reset_mail_carries_the_site_name(client, settings):
    member = MemberFactory()
    client.post("/accounts/password/reset/", {"email": member.email})
    [message] = mail.outbox
    assert message.subject.startswith("[Hackerspace] ")
    assert message.body.startswith("Hello Ada,")  # the member's first name
    assert "Thank you for being part of Hackerspace." in message.body
    assert "testserver" not in message.subject


@pytest.mark.django_db
def test_the_unknown_account_mail_points_to_signup_not_allauths_signup(client):
    client.post("/accounts/password/reset/", {"email": "nobody@example.org"})
    [message] = mail.outbox
    assert "http://testserver/signup/" in message.body
    assert "/accounts/signup/" not in message.body
