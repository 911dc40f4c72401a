"""Tool authorizations as grants (members/grants.py): the column follows the live grants
in the same transaction, the who-may-grant rule, every refusal writes nothing, expiry,
and the audit history names the staff user."""

import datetime

import pytest
from django.utils import timezone

from members import grants
from members.grants import GrantRefused, authorization_grant, authorization_revoke
from members.models import Authorization, AuthorizationGrant, AuthorizationKind, Member
from staff.history import history_rows
from tests.factories import MemberFactory, StaffFactory
from tests.roles import ROLES_MIGRATION, staff_in

TODAY = timezone.localdate


@pytest.fixture
def laser(db):
    return Authorization.objects.create(name="Laser cutter")


@pytest.fixture
def wiki(db):
    return Authorization.objects.create(name="Wiki", kind=AuthorizationKind.COMPUTER)


def _column(member):
    return Member.objects.values_list("authorizations", flat=True).get(pk=member.pk)


def _snapshot(member):
    return (_column(member), list(AuthorizationGrant.objects.filter(member=member).values()))


@pytest.mark.django_db
def test_it_writes_the_live_grants_names_into_the_column(roles, laser, wiki):
    admin = staff_in(roles["Administrator"])
    member = MemberFactory(
        authorizations={"authorizations": [], "computer_authorizations": [], "x": 1}
    )
    authorization_grant(member_id=member.pk, authorization=laser, by=admin)
    grant = authorization_grant(member_id=member.pk, authorization=wiki, by=admin, note="ok")
    assert _column(member) == {
        "authorizations": ["Laser cutter"],
        "computer_authorizations": ["Wiki"],
        "x": 1,  # a key the column keeps
    }
    assert grant.granted_by == admin and grant.note == "ok" and grant.revoked_at is None
    revoked = authorization_revoke(member_id=member.pk, grant_id=grant.pk, by=admin)
    assert revoked.revoked_by == admin and revoked.revoked_at is not None
    assert _column(member)["computer_authorizations"] == []


@pytest.mark.django_db
def test_it_fills_a_null_column_from_the_grants(roles, laser):
    member = MemberFactory(authorizations=None)
    authorization_grant(member_id=member.pk, authorization=laser, by=StaffFactory())
    assert _column(member) == {"authorizations": ["Laser cutter"], "computer_authorizations": []}


@pytest.mark.django_db
def test_it_lets_only_trainers_administrators_and_superusers_grant_a_tool_with_trainers(
    roles, laser
):
    trainer = staff_in(roles["Authorizer"])
    other_authorizer = staff_in(roles["Authorizer"])
    laser.trainers.add(trainer)
    member = MemberFactory()
    with pytest.raises(GrantRefused, match=f"trainers \\({trainer.username}\\)"):
        authorization_grant(member_id=member.pk, authorization=laser, by=other_authorizer)
    assert not AuthorizationGrant.objects.exists()
    for by in (trainer, staff_in(roles["Administrator"]), StaffFactory()):
        grant = authorization_grant(member_id=member.pk, authorization=laser, by=by)
        authorization_revoke(member_id=member.pk, grant_id=grant.pk, by=by)
    grant = authorization_grant(member_id=member.pk, authorization=laser, by=trainer)
    # Revoking follows the same rule.
    with pytest.raises(GrantRefused, match="trainers"):
        authorization_revoke(member_id=member.pk, grant_id=grant.pk, by=other_authorizer)
    assert AuthorizationGrant.objects.get(pk=grant.pk).revoked_at is None


@pytest.mark.django_db
def test_it_lets_staff_who_change_authorizations_grant_a_tool_without_trainers(roles, laser):
    member = MemberFactory()
    with pytest.raises(GrantRefused, match="may not grant"):
        authorization_grant(member_id=member.pk, authorization=laser, by=staff_in(roles["Board"]))
    authorization_grant(member_id=member.pk, authorization=laser, by=staff_in(roles["Authorizer"]))
    assert _column(member)["authorizations"] == ["Laser cutter"]


@pytest.mark.django_db
def test_it_offers_each_user_the_tools_they_may_grant(roles, laser, wiki):
    lathe = Authorization.objects.create(name="Lathe", retired=True)
    trainer = staff_in(roles["Board"])  # no right to change authorizations
    wiki.trainers.add(trainer)
    assert set(grants.grantable(trainer)) == {wiki}
    assert set(grants.grantable(staff_in(roles["Authorizer"]))) == {laser}
    assert set(grants.grantable(staff_in(roles["Administrator"]))) == {laser, wiki}
    assert lathe not in set(grants.grantable(StaffFactory()))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("retired", "retired"),
        ("already", "already holds"),
        ("banned", "banned"),
        ("merged", "merged into member"),
        ("past", "in the past"),
        ("damaged", "damaged"),
    ],
)
def test_it_refuses_a_grant_with_its_reason_and_writes_nothing(roles, laser, case, reason):
    admin = staff_in(roles["Administrator"])
    member = MemberFactory(membership="banned" if case == "banned" else "active")
    expires_on = None
    if case == "retired":
        Authorization.objects.filter(pk=laser.pk).update(retired=True)
    elif case == "already":
        authorization_grant(member_id=member.pk, authorization=laser, by=admin)
    elif case == "merged":
        Member.objects.filter(pk=member.pk).update(merged_into=MemberFactory())
    elif case == "past":
        expires_on = TODAY() - datetime.timedelta(days=1)
    elif case == "damaged":
        Member.objects.filter(pk=member.pk).update(authorizations=["Laser cutter"])
    before = _snapshot(member)
    with pytest.raises(GrantRefused, match=reason):
        authorization_grant(
            member_id=member.pk, authorization=laser, by=admin, expires_on=expires_on
        )
    assert _snapshot(member) == before


@pytest.mark.django_db
def test_it_refuses_to_revoke_twice_or_another_members_grant(roles, laser):
    admin = staff_in(roles["Administrator"])
    member, other = MemberFactory(), MemberFactory()
    grant = authorization_grant(member_id=member.pk, authorization=laser, by=admin)
    with pytest.raises(GrantRefused, match="no such grant"):
        authorization_revoke(member_id=other.pk, grant_id=grant.pk, by=admin)
    authorization_revoke(member_id=member.pk, grant_id=grant.pk, by=admin)
    before = _snapshot(member)
    with pytest.raises(GrantRefused, match="already revoked"):
        authorization_revoke(member_id=member.pk, grant_id=grant.pk, by=admin)
    assert _snapshot(member) == before


@pytest.mark.django_db
def test_it_grants_imported_names_with_no_grantor_whatever_the_rules(laser):
    laser.trainers.add(StaffFactory())
    Authorization.objects.filter(pk=laser.pk).update(retired=True)
    member = MemberFactory()
    grant = authorization_grant(member_id=member.pk, authorization=laser, by=None, source="import")
    assert grant.granted_by is None
    assert _column(member)["authorizations"] == ["Laser cutter"]


@pytest.mark.django_db
def test_it_ends_expired_grants_and_takes_them_out_of_the_column(roles, laser, wiki):
    admin = staff_in(roles["Administrator"])
    member = MemberFactory()
    today = TODAY()
    authorization_grant(member_id=member.pk, authorization=laser, by=admin, expires_on=today)
    authorization_grant(
        member_id=member.pk, authorization=wiki, by=admin, expires_on=today + datetime.timedelta(1)
    )
    assert grants.authorizations_expire(today=today) == grants.Expired(0, 0)
    ended = grants.authorizations_expire(today=today + datetime.timedelta(days=1))
    assert ended == grants.Expired(grants=1, members=1)
    assert _column(member) == {"authorizations": [], "computer_authorizations": ["Wiki"]}
    assert AuthorizationGrant.objects.get(authorization=laser).revoked_at is not None
    # The feed carries the change: a snapshot without the tool.
    from integrations.models import FeedEvent

    latest = FeedEvent.objects.filter(member=member).latest("pk")
    assert latest.snapshot["authorizations"] == []


@pytest.mark.django_db
def test_it_runs_the_daily_expiry_as_a_thin_task(roles, laser):
    from members.tasks import expire_authorizations

    member = MemberFactory()
    grant = authorization_grant(
        member_id=member.pk, authorization=laser, by=StaffFactory(), expires_on=TODAY()
    )
    AuthorizationGrant.objects.filter(pk=grant.pk).update(
        expires_on=TODAY() - datetime.timedelta(days=1)
    )
    assert expire_authorizations(timestamp=0) == "ended 1 grants of 1 members"
    assert _column(member)["authorizations"] == []


@pytest.mark.django_db
def test_it_names_the_staff_user_in_the_members_history(roles, laser):
    trainer = staff_in(roles["Authorizer"])
    laser.trainers.add(trainer)
    member = MemberFactory()
    grant = authorization_grant(member_id=member.pk, authorization=laser, by=trainer)
    authorization_revoke(member_id=member.pk, grant_id=grant.pk, by=trainer)
    rows = history_rows(Member.objects.get(pk=member.pk))
    revoke, grant_row = rows[0], rows[1]
    assert grant_row["source"] == "staff" and grant_row["user"] == trainer
    assert ("Tool authorizations", "none", "Laser cutter") in grant_row["changes"]
    assert grant_row["who"].startswith(trainer.get_full_name() or trainer.get_username())
    assert revoke["user"] == trainer
    assert ("Tool authorizations", "Laser cutter", "none") in revoke["changes"]


@pytest.mark.django_db
def test_its_migration_turns_every_held_name_into_a_grant(laser):
    from django.db import connection

    member = MemberFactory(
        authorizations={
            "authorizations": ["Laser cutter", "Forge", 7, ""],
            "computer_authorizations": ["Wiki", "Forge"],
        }
    )
    MemberFactory(authorizations=["damaged"])
    with connection.cursor() as cursor:
        cursor.execute(ROLES_MIGRATION.GRANTS_FROM_COLUMN)
    held = AuthorizationGrant.objects.filter(member=member, granted_by=None)
    assert sorted(held.values_list("authorization__name", flat=True)) == [
        "Forge",
        "Laser cutter",
        "Wiki",
    ]
    assert Authorization.objects.get(name="Wiki").kind == AuthorizationKind.COMPUTER
    assert AuthorizationGrant.objects.count() == 3
    # Run again: nothing more.
    with connection.cursor() as cursor:
        cursor.execute(ROLES_MIGRATION.GRANTS_FROM_COLUMN)
    assert AuthorizationGrant.objects.count() == 3
