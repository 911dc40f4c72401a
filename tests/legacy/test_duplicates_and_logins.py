"""Duplicates at import (README, "Moving from Deep Harbor"), and the login an imported
member gets to claim."""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from legacy.models import ImportedRow
from members.models import Member, User
from tests.factories import MemberFactory, StaffFactory, UserFactory
from tests.legacy.conftest import run_import

pytestmark = pytest.mark.django_db


def fixes(legacy_id):
    """The ledger's fixes of a row, but for the columns completed at import."""
    detail = ImportedRow.objects.get(legacy_id=legacy_id).detail
    return [fix for fix in detail if fix["kind"] != "completed"]


def test_it_leaves_a_later_same_email_empty_and_points_it_at_the_holder(imported):
    alice, alicia = imported[1], imported[5]
    assert alicia.email == ""
    assert alicia.username == "alicia"
    assert alicia.duplicate_of == alice
    # The address is kept where Deep Harbor had it, in its canonical form.
    assert alicia.identity["emails"] == [{"type": "primary", "email_address": "alice@example.org"}]
    assert fixes(5) == [
        {
            "field": "email",
            "value": "alice@example.org",
            "fix": f"held by member #{alice.pk}; left empty",
            "kind": "duplicate",
        }
    ]


def test_it_leaves_a_later_same_username_in_another_case_empty(imported):
    other = imported[6]
    assert other.username == ""
    assert other.email == "alice.other@example.org"
    assert other.duplicate_of == imported[1]
    assert other.identity["active_directory_username"] == "ALICE"
    assert [f["kind"] for f in fixes(6)] == ["duplicate"]


def test_it_counts_a_member_already_in_the_portal_as_the_first_holder(deepharbor):
    signed_up = MemberFactory(user=UserFactory(username="bob", email="BOB@example.org"))

    out, _ = run_import("--source", deepharbor)

    bob = Member.objects.get(legacy_id=2)
    assert (bob.email, bob.username, bob.duplicate_of) == ("", "", signed_up)
    assert bob.user is None
    assert "duplicates 3," in out


def test_it_gives_members_with_an_email_an_unusable_login_with_an_unverified_address(imported):
    alice = imported[1]
    user = alice.user
    assert (user.username, user.email) == ("alice", "alice@example.org")
    assert (user.first_name, user.last_name) == ("Alice", "Archer")
    assert not user.has_usable_password()
    assert user.is_active
    assert list(
        EmailAddress.objects.filter(user=user).values_list("email", "verified", "primary")
    ) == [("alice@example.org", False, True)]
    assert mail.outbox == []


def test_it_names_a_login_without_a_valid_username_member_id(imported):
    for legacy_id in (6, 7):  # a duplicate username; a username breaking the rule
        member = imported[legacy_id]
        assert member.username == ""
        assert member.user.username == f"member-{member.pk}"
        assert member.user.email == member.email
        assert not member.user.has_usable_password()


def test_it_gives_no_login_to_a_member_without_an_email(imported):
    for legacy_id in (5, 8, 18):  # a duplicate email, no email, no valid address
        assert imported[legacy_id].email == ""
        assert imported[legacy_id].user is None
    assert User.objects.count() == 16


def test_it_gives_no_login_where_another_login_holds_the_email(deepharbor):
    StaffFactory(username="admin", email="heidi@example.org")

    run_import("--source", deepharbor)

    heidi = Member.objects.get(legacy_id=10)
    assert heidi.email == "heidi@example.org"
    assert heidi.user is None
    assert {
        "field": "login",
        "value": "heidi@example.org",
        "fix": "another login uses this email; no login made",
        "kind": "login",
    } in fixes(10)


def test_it_names_the_login_member_id_where_another_login_has_the_username(deepharbor):
    StaffFactory(username="Grace", email="staff@example.org")

    run_import("--source", deepharbor)

    grace = Member.objects.get(legacy_id=9)
    assert grace.username == "grace"
    assert grace.user.username == f"member-{grace.pk}"
