"""Two trainers grant, or revoke, the same tool for the same member at the same moment
(real threads, each with its own connection): one wins, the other is refused with the
reason, and the grants and the column agree."""

import pytest

from members.grants import GrantRefused, authorization_grant, authorization_revoke
from members.models import Authorization, AuthorizationGrant, Member
from tests.factories import MemberFactory
from tests.roles import make_roles, staff_in
from tests.threads import run_concurrently


def _attempt(action):
    def run():
        try:
            return ("done", action())
        except GrantRefused as refused:
            return ("refused", refused.reason)

    return run


def _column_names(member):
    column = Member.objects.values_list("authorizations", flat=True).get(pk=member.pk)
    return column["authorizations"]


@pytest.mark.django_db(transaction=True)
def test_it_makes_one_grant_when_two_trainers_grant_the_same_tool_at_once():
    roles = make_roles()
    first, second = staff_in(roles["Authorizer"]), staff_in(roles["Authorizer"])
    laser = Authorization.objects.create(name="Laser cutter")
    laser.trainers.add(first, second)
    member = MemberFactory()
    for _round in range(5):
        results = run_concurrently(
            *(
                _attempt(
                    lambda by=by: authorization_grant(
                        member_id=member.pk, authorization=laser, by=by
                    )
                )
                for by in (first, second)
            )
        )
        outcomes = sorted(outcome for outcome, _ in results)
        assert outcomes == ["done", "refused"], results
        assert "already holds Laser cutter" in next(r for o, r in results if o == "refused")
        live = AuthorizationGrant.objects.filter(member=member, revoked_at__isnull=True)
        assert live.count() == 1
        assert _column_names(member) == ["Laser cutter"]

        # And both revoke that grant at once: one revocation, the column empty.
        grant = live.get()
        results = run_concurrently(
            *(
                _attempt(
                    lambda by=by, grant_id=grant.pk: authorization_revoke(
                        member_id=member.pk, grant_id=grant_id, by=by
                    )
                )
                for by in (first, second)
            )
        )
        assert sorted(outcome for outcome, _ in results) == ["done", "refused"], results
        assert not AuthorizationGrant.objects.filter(member=member, revoked_at__isnull=True)
        assert _column_names(member) == []


@pytest.mark.django_db(transaction=True)
def test_it_leaves_one_consistent_state_when_a_grant_and_a_revoke_race():
    roles = make_roles()
    first, second = staff_in(roles["Authorizer"]), staff_in(roles["Authorizer"])
    laser = Authorization.objects.create(name="Laser cutter")
    laser.trainers.add(first, second)
    member = MemberFactory()
    for _round in range(5):
        grant = authorization_grant(member_id=member.pk, authorization=laser, by=first)
        run_concurrently(
            _attempt(
                lambda grant_id=grant.pk: authorization_revoke(
                    member_id=member.pk, grant_id=grant_id, by=first
                )
            ),
            _attempt(
                lambda: authorization_grant(member_id=member.pk, authorization=laser, by=second)
            ),
        )
        live = list(
            AuthorizationGrant.objects.filter(member=member, revoked_at__isnull=True).values_list(
                "authorization__name", flat=True
            )
        )
        # Whichever ran first, the column says exactly what the live grants say.
        assert _column_names(member) == live
        AuthorizationGrant.objects.filter(member=member, revoked_at__isnull=True).update(
            revoked_at="2026-01-01T00:00:00Z"
        )
