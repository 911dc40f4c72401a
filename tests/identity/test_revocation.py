"""Losing eligibility ends sessions elsewhere: whatever path changes what a client's
policy reads (the member's status, authorizations, merge mark or login, an erasure, the
policy itself), the member's tokens for that client are deleted in the same transaction
(identity/sql.py's triggers, run as the transaction commits: these tests commit), and
a refresh fails with invalid_grant."""

import pytest
from allauth.idp.oidc.models import Token
from django.db import connection, transaction
from django.utils import timezone

from identity.models import ClientPolicy
from identity.sql import MEMBER_TABLE, MEMBER_UPDATE_TRIGGER
from members.erasure import erasure_request_open, member_erase
from members.merge import member_merge
from members.models import Authorization, ErasureRequest, Member
from tests.factories import MemberFactory, StaffFactory, logged_in
from tests.identity.conftest import register
from tests.identity.flow import issue, refresh, userinfo

pytestmark = pytest.mark.django_db(transaction=True)


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _lapse_by_sql(member):
    _sql(
        "UPDATE members_member SET status = jsonb_set(status, '{membership_status}', '\"lapsed\"')"
        " WHERE id = %s",
        [member.pk],
    )


def _tokens(member, client):
    """The member's access and refresh tokens for `client` (a claimed code is kept a
    minute to catch its reuse)."""
    kinds = (Token.Type.ACCESS_TOKEN, Token.Type.REFRESH_TOKEN)
    return Token.objects.filter(user_id=member.user_id, client=client, type__in=kinds).count()


def _signed_in(name="Wiki", **policy):
    """A member, a client (skipping consent) and the member's tokens for it."""
    client, secret = register(name, skip_consent=True, **policy)
    member = MemberFactory(
        authorizations={"authorizations": ["Laser"], "computer_authorizations": []}
    )
    tokens = issue(logged_in(member.user), client, secret)
    assert _tokens(member, client) == 2
    return member, client, secret, tokens


def _assert_ended(member, client, secret, tokens):
    assert _tokens(member, client) == 0
    answer = refresh(client, secret, tokens["refresh_token"])
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    assert userinfo(tokens["access_token"]).status_code == 401


def test_a_raw_sql_lapse_deletes_the_tokens_and_the_refresh_fails():
    member, client, secret, tokens = _signed_in()
    _lapse_by_sql(member)
    _assert_ended(member, client, secret, tokens)


def test_a_queryset_update_and_a_save_delete_them_too():
    member, client, secret, tokens = _signed_in()
    Member.objects.filter(pk=member.pk).update(status=None)
    _assert_ended(member, client, secret, tokens)

    member, client, secret, tokens = _signed_in("Forum")
    member.status["membership_status"] = "suspended"
    member.save()
    _assert_ended(member, client, secret, tokens)


def test_losing_an_authorization_the_client_requires_deletes_them():
    Authorization.objects.create(name="Laser")
    member, client, secret, tokens = _signed_in(requires=["Laser"])
    _sql(
        "UPDATE members_member SET authorizations = '{\"authorizations\": []}' WHERE id = %s",
        [member.pk],
    )
    _assert_ended(member, client, secret, tokens)


def test_it_keeps_the_tokens_of_a_change_the_policy_does_not_read_or_still_allows():
    member, client, secret, tokens = _signed_in()
    lenient, lenient_secret = register("Forum", skip_consent=True, statuses=["active", "lapsed"])
    forum_tokens = issue(logged_in(member.user), lenient, lenient_secret)
    Member.objects.filter(pk=member.pk).update(notes=[], username="ada2")
    assert _tokens(member, client) == 2

    _lapse_by_sql(member)
    _assert_ended(member, client, secret, tokens)
    assert _tokens(member, lenient) == 2
    assert refresh(lenient, lenient_secret, forum_tokens["refresh_token"]).status_code == 200


def test_an_erasure_deletes_them():
    member, client, secret, tokens = _signed_in()
    request, _ = erasure_request_open(member=member)
    member_erase(request=request, by=StaffFactory())
    _assert_ended(member, client, secret, tokens)


def test_closing_an_erasure_request_by_sql_deletes_them():
    member, client, secret, tokens = _signed_in()
    ErasureRequest.objects.create(member=member, erased_at=timezone.now())
    _assert_ended(member, client, secret, tokens)


def test_a_merge_keeps_the_tokens_with_the_login_it_keeps_while_the_survivor_fits():
    member, client, secret, tokens = _signed_in()
    member.user.last_login = timezone.now()
    member.user.save()
    survivor = MemberFactory(user=None, email="", username="")
    member_merge(survivor=survivor, merged=member, by=StaffFactory())
    assert Member.objects.get(pk=survivor.pk).user_id == member.user_id
    assert _tokens(member, client) == 2
    assert refresh(client, secret, tokens["refresh_token"]).status_code == 200


def test_a_merge_into_a_record_that_does_not_fit_deletes_them():
    member, client, secret, tokens = _signed_in()
    member.user.last_login = timezone.now()
    member.user.save()
    survivor = MemberFactory(user=None, email="", username="", membership="lapsed")
    # Staff keep the survivor's lapsed status (the merge would propose the stronger one).
    member_merge(survivor=survivor, merged=member, choices={"status": survivor}, by=StaffFactory())
    _assert_ended(member, client, secret, tokens)


def test_a_stricter_policy_deletes_the_tokens_of_the_members_it_no_longer_lets_in():
    Authorization.objects.create(name="Wiki editor")
    member, client, secret, tokens = _signed_in()
    editor = MemberFactory(
        authorizations={"authorizations": [], "computer_authorizations": ["Wiki editor"]}
    )
    issue(logged_in(editor.user), client, secret)
    policy = ClientPolicy.objects.get(client=client)
    policy.requires = ["Wiki editor"]
    policy.save()
    _assert_ended(member, client, secret, tokens)
    assert _tokens(editor, client) == 2


def test_the_token_endpoint_refuses_a_refresh_the_policy_refuses_on_its_own():
    member, client, secret, tokens = _signed_in()
    # The lapse made with the trigger off, in one transaction: as if the tokens had been
    # issued just after it (the race the token endpoint's row lock closes).
    with transaction.atomic():
        _sql(f"ALTER TABLE {MEMBER_TABLE} DISABLE TRIGGER {MEMBER_UPDATE_TRIGGER}")
        _lapse_by_sql(member)
        # The update queues the table's other deferred triggers; ALTER TABLE refuses to
        # run with events pending, so they fire now (the revocation trigger is off).
        _sql("SET CONSTRAINTS ALL IMMEDIATE")
        _sql(f"ALTER TABLE {MEMBER_TABLE} ENABLE TRIGGER {MEMBER_UPDATE_TRIGGER}")
    assert _tokens(member, client) == 2
    answer = refresh(client, secret, tokens["refresh_token"])
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    # Refused, the login's tokens for the client are deleted with it.
    assert _tokens(member, client) == 0
    assert userinfo(tokens["access_token"]).status_code == 401
