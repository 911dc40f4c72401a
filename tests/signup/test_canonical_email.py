"""Signup under every spelling of an address (docs/shapes.md, canonical email): each is either
the existing member's address (the existing-account mail, no second member, and a banned
member cannot register again) or refused with a message."""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail, signing
from django.test import Client

from members.models import Member, User
from signup.tokens import SALT
from tests.factories import MemberFactory
from tests.jobs import send_signup_mails
from tests.signup.conftest import continue_url, valid_details

# Spellings of bo@example.org and of bo@xn--exmple-cua.org, each with its holder's address.
SAME_ADDRESS = [
    ("Bo@ＥＸＡＭＰＬＥ.org", "bo@example.org"),
    ("  bo@example.org  ", "bo@example.org"),
    ("BO@EXAMPLE.ORG", "bo@example.org"),
    ("Ｂｏ＠ｅｘａｍｐｌｅ．ｏｒｇ", "bo@example.org"),
    ("bo@exämple.org", "bo@xn--exmple-cua.org"),
    ("BO@EXÄMPLE.ORG", "bo@xn--exmple-cua.org"),
]
SAME_ADDRESS_REVERSED = [
    # The member signed up with the Unicode domain; a visitor types its ASCII form.
    ("bo@xn--exmple-cua.org", "bo@exämple.org"),
    ("Bo@XN--EXMPLE-CUA.ORG", "bo@exämple.org"),
]
REFUSED = [
    ("bo@example.org\u200b", "ZERO WIDTH SPACE"),
    ('"bo"@example.org', "Quoting"),
    ("bö@example.org", "Internationalized characters"),
]


def post_email(email, client=None):
    response = (client or Client()).post("/signup/", {"email": email})
    send_signup_mails()  # step 1's mail is a job: run it here, as a worker would
    return response


def assert_existing_account_mail_to(address):
    [sent] = mail.outbox
    assert sent.to == [address]
    assert "You already have an account" in sent.body
    assert "/signup/continue/" not in sent.body


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "held"), SAME_ADDRESS)
def test_it_mails_the_existing_member_under_any_spelling_and_creates_nobody(typed, held):
    member = MemberFactory(user__email=held)
    response = post_email(typed)
    assert response.status_code == 302
    assert response["Location"] == "/signup/sent/"
    assert_existing_account_mail_to(member.email)
    assert Member.objects.count() == User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "held"), SAME_ADDRESS_REVERSED)
def test_it_finds_a_member_who_typed_the_unicode_domain_by_its_ascii_form(typed, held):
    member = MemberFactory(user__email=held)
    assert member.email == "bo@xn--exmple-cua.org"
    post_email(typed)
    assert_existing_account_mail_to("bo@xn--exmple-cua.org")


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "held"), SAME_ADDRESS + SAME_ADDRESS_REVERSED)
def test_a_banned_member_cannot_register_again_under_a_look_alike(typed, held):
    banned = MemberFactory(user__email=held, membership="banned")
    post_email(typed)
    # No continue link is ever mailed for the address...
    assert_existing_account_mail_to(banned.email)
    # ...and a link signed for a look-alike (as tokens were before the canonical form)
    # finds the member too.
    token = signing.dumps({"email": typed.strip().lower()}, salt=SALT)
    client = Client()
    page = client.get(f"/signup/continue/{token}/")
    assert "Signup is complete" in page.content.decode()
    submitted = client.post(f"/signup/continue/{token}/", valid_details())
    assert "Signup is complete" in submitted.content.decode()
    assert Member.objects.count() == User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "reason"), REFUSED)
def test_it_refuses_an_address_without_a_canonical_form_with_the_reason(typed, reason):
    MemberFactory(user__email="bo@example.org")
    response = post_email(typed)
    assert response.status_code == 200
    [error] = response.context["form"].errors["email"]
    assert reason in error
    assert reason in response.content.decode()
    assert mail.outbox == []


@pytest.mark.django_db
def test_it_signs_up_a_new_address_in_its_canonical_form():
    post_email(" Grace@ＢÜＣＨＥＲ.example ")
    [sent] = mail.outbox
    assert sent.to == ["grace@xn--bcher-kva.example"]
    client = Client()
    response = client.post(continue_url("grace@xn--bcher-kva.example"), valid_details())
    assert response.status_code == 302
    member = Member.objects.get()
    assert member.email == member.user.email == "grace@xn--bcher-kva.example"
    assert EmailAddress.objects.get(user=member.user).email == "grace@xn--bcher-kva.example"


@pytest.mark.django_db
def test_it_counts_the_per_email_limit_across_spellings(settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_email": "2/3600"}
    spellings = ["bo@example.org", "BO@ＥＸＡＭＰＬＥ.org", " Bo@Example.Org "]
    answers = [post_email(spelling).status_code for spelling in spellings]
    assert answers == [302, 302, 429]
