"""A member's door entries and the privacy hooks (docs/hooks.md): the export lists
them, an erasure unlinks them and blanks their tag (the counts by door and time stay),
a merge moves them to the survivor."""

import json

import pytest
from django.utils import timezone

from integrations.models import DoorEvent
from members.erasure import erasure_request_open, member_erase
from members.merge import member_merge
from members.models import Member
from tests.factories import DoorEventFactory, MemberFactory, StaffFactory, logged_in

pytestmark = pytest.mark.django_db

TAG = "0000424242"


def test_it_exports_the_members_entries():
    member = MemberFactory(access={"rfid_tags": [TAG]})
    first = DoorEventFactory(member=member, tag=TAG, door="front", granted=True)
    DoorEventFactory(member=member, tag=TAG, door="back", granted=False)
    DoorEventFactory(member=MemberFactory(), door="someone else's")

    response = logged_in(member.user).post("/dashboard/privacy/", {"export": "1"})

    entries = json.loads(response.content)["door_events"]
    assert [(e["door"], e["granted"], e["tag"]) for e in entries] == [
        ("front", True, TAG),
        ("back", False, TAG),
    ]
    assert entries[0]["at"] == first.at.isoformat()


def test_it_unlinks_the_entries_and_blanks_their_tag_on_erasure():
    member = MemberFactory(membership="lapsed", access={"rfid_tags": [TAG]})
    DoorEventFactory(member=member, tag=TAG, door="front")
    DoorEventFactory(member=member, tag=TAG, door="back", granted=False)
    before_registered = DoorEventFactory(member=None, tag=TAG, door="front")
    stranger = DoorEventFactory(member=None, tag="0000000777", door="front")

    request, _ = erasure_request_open(member=member)
    member_erase(request=request, by=StaffFactory())

    assert not DoorEvent.objects.filter(member_id=member.pk).exists()
    assert not DoorEvent.objects.filter(tag=TAG).exists()
    # What the door saw stays countable.
    assert DoorEvent.objects.filter(door="front").count() == 3
    assert DoorEvent.objects.filter(granted=False).count() == 1
    before_registered.refresh_from_db()
    assert before_registered.tag == ""
    stranger.refresh_from_db()
    assert stranger.tag == "0000000777"


def test_it_moves_the_entries_to_the_survivor_of_a_merge():
    survivor = MemberFactory(user=None, email="", username="")
    merged = MemberFactory(user=None, email="ada@example.org", username="ada")
    entry = DoorEventFactory(member=merged, at=timezone.now())

    member_merge(survivor=survivor, merged=merged, choices={}, by=StaffFactory())

    entry.refresh_from_db()
    assert entry.member_id == survivor.pk
    assert Member.objects.get(pk=merged.pk).merged_into_id == survivor.pk
