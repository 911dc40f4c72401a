"""The claims by scope (identity/claims.py): the profile from the member's record,
never the login's placeholder name; membership from its status and authorizations."""

import pytest

from members.validators import placeholder_username
from tests.factories import MemberFactory, UserFactory, logged_in
from tests.identity.conftest import register
from tests.identity.flow import issue, userinfo

pytestmark = pytest.mark.django_db


def _userinfo(member, scope):
    client, secret = register(skip_consent=True)
    tokens = issue(logged_in(member.user), client, secret, scope=scope)
    return userinfo(tokens["access_token"]).json()


def test_a_member_without_a_username_gets_no_preferred_username():
    member = MemberFactory(username="", user=UserFactory(username="placeholder"))
    member.user.username = placeholder_username(member.pk)
    member.user.save()
    info = _userinfo(member, "openid profile")
    assert info == {
        "sub": str(member.user_id),
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
    }


def test_the_membership_scope_gives_the_number_status_and_each_authorization_once():
    member = MemberFactory(
        authorizations={
            "authorizations": ["Laser", 7, "Lathe"],
            "computer_authorizations": ["Laser", "Wiki admin"],
        }
    )
    info = _userinfo(member, "openid membership")
    assert info == {
        "sub": str(member.user_id),
        "member_number": member.pk,
        "membership_status": "active",
        "groups": ["Laser", "Lathe", "Wiki admin"],
    }
