"""identity's part of the privacy export and of an erasure: the member's second factors
(never their secrets) and the clients holding their tokens are exported; an erasure
deletes both."""

import json

import pytest
from allauth.idp.oidc.models import Token
from allauth.mfa.models import Authenticator

from members.erasure import erasure_request_open, member_erase
from members.privacy import member_export
from tests.factories import MemberFactory, StaffFactory
from tests.identity.conftest import register
from tests.identity.flow import issue, log_in, set_up_totp

pytestmark = pytest.mark.django_db


def _member_with_a_second_factor_and_a_client():
    member = MemberFactory()
    http, _ = log_in(member.user)
    secret = set_up_totp(http)
    client, client_secret = register(skip_consent=True)
    issue(http, client, client_secret)
    return member, secret, client


def test_the_export_lists_second_factors_and_authorized_clients_but_no_secret():
    member, secret, client = _member_with_a_second_factor_and_a_client()
    export = member_export(member=member)

    assert [a["type"] for a in export["authenticators"]] == ["totp", "recovery_codes"]
    assert all(set(a) == {"type", "created_at", "last_used_at"} for a in export["authenticators"])
    [authorized] = export["authorized_clients"]
    assert (authorized["client"], authorized["client_id"]) == ("Wiki", client.id)
    assert authorized["scopes"] == ["email", "membership", "openid", "profile"]
    text = json.dumps(export)
    codes = Authenticator.objects.get(user=member.user, type="recovery_codes").wrap()
    assert secret not in text
    assert not any(code in text for code in codes.get_unused_codes())


def test_a_member_without_a_login_exports_empty_lists():
    export = member_export(member=MemberFactory(user=None, email="old@example.org"))
    assert (export["authenticators"], export["authorized_clients"]) == ([], [])


def test_an_erasure_deletes_second_factors_and_tokens():
    member, _, _ = _member_with_a_second_factor_and_a_client()
    assert Token.objects.filter(user=member.user).exists()
    request, _ = erasure_request_open(member=member)
    member_erase(request=request, by=StaffFactory())
    assert not Authenticator.objects.filter(user=member.user).exists()
    assert not Token.objects.filter(user=member.user).exists()
