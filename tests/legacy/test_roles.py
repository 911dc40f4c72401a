"""Deep Harbor's roles, member_to_role and authorization names, imported: roles become
groups with the rights of their panels (an unknown panel reported, not guessed), the
members holding them staff logins in those groups (counted as `staff S`), and each
authorization name a grant with no grantor."""

import pytest
from django.contrib.auth.models import Group

from members import shapes
from members.models import AuthorizationGrant, Member
from tests.legacy.conftest import run_import
from tests.roles import make_roles

pytestmark = pytest.mark.django_db


def _rights(name):
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def _columns(rights, action):
    return {
        r.removeprefix(f"members.{action}_")
        for r in rights
        if r.startswith(f"members.{action}_") and r.split("_", 1)[1] in shapes.COLUMNS
    }


def test_it_makes_each_role_a_group_with_its_panels_rights(imported):
    board = _rights("Board")
    assert _columns(board, "view") == {"identity", "status", "notes"}
    assert _columns(board, "change") == {"status", "notes"}
    assert {"integrations.view_doorevent", "members.view_member", "members.change_member"} <= board
    authorizer = _rights("Authorizer")
    assert _columns(authorizer, "view") == {"identity", "authorizations", "notes"}
    assert _columns(authorizer, "change") == {"authorizations", "notes"}
    administrator = _rights("Administrator")
    assert len(_columns(administrator, "change")) == 8
    assert {"auth.change_group", "integrations.view_doorevent"} <= administrator


def test_it_reports_an_unknown_panel_and_ignores_it(imported):
    assert "role Keyholder: unknown view panel 'wifi'; ignored" in imported["err"]
    assert _rights("Keyholder") == {"members.view_identity", "members.view_member"}


def test_it_makes_the_members_of_roles_staff_logins_in_their_groups(imported):
    alice, bob = imported[1].user, imported[2].user
    assert alice.is_staff and bob.is_staff
    assert set(alice.groups.values_list("name", flat=True)) == {"Authorizer", "Board"}
    assert list(bob.groups.values_list("name", flat=True)) == ["Administrator"]
    # They claim the login like everyone else: no usable password yet.
    assert not alice.has_usable_password()
    assert "staff 2," in imported["out"]
    assert "member_to_role: member 8 has no login (no email); not made staff" in imported["err"]
    assert "member_to_role: member 99 not imported; no staff login" in imported["err"]
    # Rights come from the groups: Alice may change authorizations, not the status.
    fresh = type(alice).objects.get(pk=alice.pk)
    assert fresh.has_perm("members.change_authorizations")
    assert fresh.has_perm("members.change_status")  # from Board
    assert not fresh.has_perm("members.change_identity")


def test_it_sets_the_panel_rights_of_an_existing_group_and_keeps_its_other_rights(deepharbor):
    make_roles()  # the migration's groups, Board with reports
    run_import("--source", deepharbor)
    board = _rights("Board")
    assert "members.view_reports" in board  # no panel speaks of it: kept
    assert _columns(board, "change") == {"status", "notes"}


def test_it_counts_no_staff_on_a_rerun(deepharbor):
    run_import("--source", deepharbor)
    out, _ = run_import("--source", deepharbor)
    assert "staff 0," in out


def test_it_turns_each_authorization_name_into_a_grant_with_no_grantor(imported):
    alice = imported[1]
    grants = AuthorizationGrant.objects.filter(member=alice)
    assert sorted(grants.values_list("authorization__name", "granted_by", "revoked_at")) == [
        ("Laser Cutter", None, None),
        ("Wiki Admin", None, None),
    ]
    assert Member.objects.get(pk=alice.pk).authorizations == {
        "authorizations": ["Laser Cutter"],
        "computer_authorizations": ["Wiki Admin"],
    }
    assert not AuthorizationGrant.objects.filter(member=imported[2]).exists()
