"""The dashboard's and activation's service functions set their own audit source: a
caller that never mentions audit() still gets its write recorded with source and user."""

import datetime

import pytest

from members import services
from members.models import Member
from tests.factories import MemberFactory, StaffFactory


def _last_source(member):
    event = member.events.order_by("pgh_id").last()
    metadata = event.pgh_context.metadata if event.pgh_context else {}
    return metadata.get("source"), metadata.get("user")


@pytest.mark.django_db
def test_it_records_a_profile_update_as_the_members_own_write():
    member = MemberFactory()
    outcome = services.member_profile_update(
        member=member, by=member.user, first_name="Grace", last_name="Hopper", phone="555 0100"
    )
    assert outcome == services.SAVED
    member.refresh_from_db()
    assert member.identity["first_name"] == "Grace"
    assert _last_source(member) == ("member", member.user.pk)


@pytest.mark.django_db
def test_it_writes_nothing_for_an_unchanged_profile():
    member = MemberFactory()
    identity, connections = member.identity, member.connections
    outcome = services.member_profile_update(
        member=member,
        by=member.user,
        first_name=identity["first_name"],
        last_name=identity["last_name"],
        nickname=identity["nickname"],
        pronouns=identity["pronouns"],
        phone=connections["phone"],
        discord_username=connections["discord_username"],
    )
    assert outcome == services.UNCHANGED
    assert member.events.count() == 1  # the insert only


@pytest.mark.django_db
def test_it_leaves_a_wrong_typed_key_the_member_did_not_touch_as_stored():
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(
        identity={**member.identity, "theme_song_duration": "long", "birthday": 19901210}
    )
    member.refresh_from_db()
    assert member.read("identity").unreadable == {"theme_song_duration", "birthday"}
    outcome = services.member_profile_update(
        member=member,
        by=member.user,
        first_name="Grace",
        last_name=member.identity["last_name"],
        nickname=member.identity["nickname"],
        pronouns=member.identity["pronouns"],
        phone=member.connections["phone"],
        discord_username=member.connections["discord_username"],
    )
    assert outcome == services.SAVED
    member.refresh_from_db()
    assert member.identity["first_name"] == "Grace"
    assert member.identity["theme_song_duration"] == "long"
    assert member.identity["birthday"] == 19901210
    assert _last_source(member) == ("member", member.user.pk)


@pytest.mark.django_db
def test_it_refuses_a_profile_update_into_a_damaged_column():
    member = MemberFactory(connections=["not", "an", "object"])
    outcome = services.member_profile_update(
        member=member,
        by=member.user,
        first_name="Grace",
        last_name="Hopper",
        phone="",
        discord_username="g",
    )
    assert outcome == services.REFUSED
    assert Member.objects.get(pk=member.pk).identity == member.identity


@pytest.mark.django_db
def test_it_adds_and_removes_a_tag_recorded_as_the_member():
    member = MemberFactory(membership="active")
    assert services.member_rfid_tag_add(member=member, by=member.user, tag="0000000042") == (
        services.TAG_ADDED
    )
    assert _last_source(member) == ("member", member.user.pk)
    assert services.member_rfid_tag_add(member=member, by=member.user, tag="0000000042") == (
        services.TAG_PRESENT
    )
    assert services.member_rfid_tag_remove(member=member, by=member.user, tag="0000000042") == (
        services.TAG_REMOVED
    )
    assert services.member_rfid_tag_remove(member=member, by=member.user, tag="0000000042") == (
        services.TAG_ABSENT
    )
    assert Member.objects.get(pk=member.pk).access == {"rfid_tags": []}


@pytest.mark.django_db
def test_it_answers_a_tag_held_by_another_member_and_refuses_a_member_not_active():
    MemberFactory(access={"rfid_tags": ["0000000042"]})
    member = MemberFactory(membership="active")
    assert services.member_rfid_tag_add(member=member, by=member.user, tag="0000000042") == (
        services.TAG_HELD
    )
    pending = MemberFactory(membership="pending")
    assert services.member_rfid_tag_add(member=pending, by=pending.user, tag="0000000043") == (
        services.NOT_ACTIVE
    )
    assert Member.objects.get(pk=pending.pk).access == {"rfid_tags": []}


@pytest.mark.django_db
def test_it_records_an_activation_as_staff_with_the_id_check_in_its_own_keys():
    staff, checker = StaffFactory(), StaffFactory(username="checker")
    forms = {"id_check_1": "IL", "id_check_2": "DL-1234"}
    member = MemberFactory(membership="pending", forms=forms)
    day = datetime.date(2026, 11, 20)
    outcome = services.member_activate(
        member_id=member.pk,
        by=staff,
        id_checked_on=day,
        id_checked_by=checker,
        waiver_signed_on=day,
        orientation_completed_on=day,
    )
    assert outcome == services.ACTIVATED
    member.refresh_from_db()
    assert member.forms["id_check_date"] == "2026-11-20"
    assert member.forms["id_check_by"] == "checker"
    assert (member.forms["id_check_1"], member.forms["id_check_2"]) == ("IL", "DL-1234")
    assert _last_source(member) == ("staff", staff.pk)


@pytest.mark.django_db
def test_it_refuses_to_activate_a_status_the_shapes_do_not_know():
    staff = StaffFactory()
    member = MemberFactory(status={"membership_status": "gold"})
    day = datetime.date(2026, 11, 20)
    outcome = services.member_activate(
        member_id=member.pk,
        by=staff,
        id_checked_on=day,
        id_checked_by=staff,
        waiver_signed_on=day,
        orientation_completed_on=day,
    )
    assert outcome == services.REFUSED
    assert Member.objects.get(pk=member.pk).status == {"membership_status": "gold"}
