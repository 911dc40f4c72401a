"""An erased, banned member's ban (README, "Privacy") holds for every spelling of their address:
the look-alikes the canonical form folds, and the same mailbox with any `+tag`."""

import pytest
from django.core import mail
from django.test import Client

from members.models import Member
from tests.factories import MemberFactory, erased
from tests.jobs import send_signup_mails

pytestmark = pytest.mark.django_db

SPELLINGS = [
    "zed+x@example.org",
    "ZED+Other@EXAMPLE.ORG",
    "  zed+@example.org  ",
    "ｚｅｄ＋ｘ＠ｅｘａｍｐｌｅ．ｏｒｇ",
    "Zed@Example.org",
]


def signup(email):
    response = Client().post("/signup/", {"email": email})
    assert response.status_code == 302 and response["Location"] == "/signup/sent/"
    send_signup_mails()


def assert_no_continue_link():
    # The existing-account answer, as for any held address: no link to go on with.
    [sent] = mail.outbox
    assert "You already have an account" in sent.body
    assert "/signup/continue/" not in sent.body


@pytest.mark.parametrize("typed", SPELLINGS)
def test_it_refuses_a_sub_address_or_look_alike_of_an_erased_ban(typed):
    erased(MemberFactory(user__email="zed@example.org", membership="banned"))
    members = Member.objects.count()
    signup(typed)
    assert_no_continue_link()
    assert Member.objects.count() == members


@pytest.mark.parametrize("typed", ["ann@example.org", "Ann+Other@example.org"])
def test_it_refuses_the_bare_mailbox_of_a_ban_on_a_tagged_address(typed):
    erased(MemberFactory(user__email="ann+club@example.org", membership="banned"))
    signup(typed)
    assert_no_continue_link()


def test_it_still_sends_a_link_to_another_mailbox_of_the_same_domain():
    erased(MemberFactory(user__email="zed@example.org", membership="banned"))
    signup("zedd+x@example.org")
    [sent] = mail.outbox
    assert sent.to == ["zedd+x@example.org"] and "/signup/continue/" in sent.body
