"""An erased member never may enter (README, "Privacy"): erasure keeps the membership status,
so an active member erased without a live subscription (a staff-granted membership)
gets may_enter false in the event erasure records and leaves the access list."""

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import Delivery, Endpoint, FeedEvent
from integrations.services import access_key_create, feed_pump
from members.erasure import erasure_request_open, member_erase
from members.models import ErasureRequest, Member
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

TAG = "0012340001"
OTHER_TAG = "0012340002"


def committed():
    """Tests run in one transaction: mark the events so far as another transaction's,
    so the next write records an event of its own (as in test_capture.py)."""
    FeedEvent.objects.update(xact=None, pumped=True)


def events(member) -> list[FeedEvent]:
    return list(FeedEvent.objects.filter(member_id=member.pk).order_by("sequence"))


def erase(member):
    request, _ = erasure_request_open(member=member)
    return member_erase(request=request, by=StaffFactory())


def access_list() -> list[dict]:
    _, key = access_key_create(name=f"door {timezone.now().timestamp()}")
    response = Client().get("/api/v1/access/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    return response.json()["members"]


@pytest.fixture
def granted():
    """An active member with a tag and no subscription at all (nothing refuses the
    erasure, and the status stays active after it)."""
    return MemberFactory(username="granted", access={"rfid_tags": [TAG]})


@pytest.fixture
def other():
    return MemberFactory(username="other", access={"rfid_tags": [OTHER_TAG]})


def test_it_records_may_enter_false_and_no_tags_in_the_erasure_event(granted, other):
    committed()
    others_before = events(other)

    erase(granted)

    assert Member.objects.get(pk=granted.pk).membership_status == "active"
    last = events(granted)[-1]
    assert last.snapshot["membership_status"] == "active"
    assert (last.snapshot["may_enter"], last.snapshot["rfid_tags"]) == (False, [])
    assert {"may_enter", "rfid_tags"} <= set(last.changed)
    assert not last.pumped
    # One event for the erasure, whatever the order of its writes.
    assert [e.sequence for e in events(granted)] == [1, 2]
    assert events(other) == others_before
    assert events(other)[-1].snapshot["may_enter"] is True


def test_it_leaves_the_erased_member_off_the_access_list(granted, other):
    before = access_list()
    assert [m["member_id"] for m in before] == [granted.pk, other.pk]

    erase(granted)

    after = access_list()
    assert [m["member_id"] for m in after] == [other.pk]
    assert after[0] == before[1]
    assert after[0]["rfid_tags"] == [OTHER_TAG]


def test_it_sends_the_erasure_to_an_endpoint_that_chose_only_may_enter(granted, other, queue):
    door = Endpoint.objects.create(
        name="door", url="http://127.0.0.1:9/", secret="s", fields=["may_enter"]
    )
    committed()

    erase(granted)
    feed_pump()

    (delivery,) = Delivery.objects.filter(endpoint=door)
    assert delivery.member_id == granted.pk
    assert delivery.event.snapshot["may_enter"] is False


def test_it_records_a_request_closed_by_any_path_as_the_end_of_the_access(granted):
    committed()

    # No member write at all: the request alone takes the access away.
    ErasureRequest.objects.create(member=granted, erased_at=timezone.now())

    last = events(granted)[-1]
    assert (last.sequence, last.changed) == (2, ["may_enter"])
    assert last.snapshot["may_enter"] is False
    assert last.snapshot["rfid_tags"] == [TAG]

    # A second closed request changes nothing the feed carries: no event.
    committed()
    ErasureRequest.objects.create(member=granted, erased_at=timezone.now())
    request = ErasureRequest.objects.create(member=granted)
    ErasureRequest.objects.filter(pk=request.pk).update(erased_at=timezone.now())
    assert len(events(granted)) == 2


def test_it_makes_one_event_whichever_write_of_the_transaction_comes_first(granted, other):
    committed()

    ErasureRequest.objects.create(member=granted, erased_at=timezone.now())
    Member.objects.filter(pk=granted.pk).update(username="", access={"rfid_tags": []})
    request = ErasureRequest.objects.create(member=other)
    Member.objects.filter(pk=other.pk).update(username="", access={"rfid_tags": []})
    ErasureRequest.objects.filter(pk=request.pk).update(erased_at=timezone.now())

    for member in (granted, other):
        (_, last) = events(member)
        assert last.changed == ["may_enter", "rfid_tags", "username"]
        assert (last.snapshot["may_enter"], last.snapshot["rfid_tags"]) == (False, [])
