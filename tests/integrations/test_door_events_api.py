"""POST /api/v1/door-events/ against the running server: a batch stored once per key
and event id, matched exactly to the member holding the tag, refused whole (400, 413)
when anything in it is wrong, scoped and limited per key."""

import datetime

import pytest

from integrations.models import DoorEvent, DoorEventReceipt
from members.models import Member
from tests.factories import MemberFactory
from tests.integrations.doors import (
    ACCESS,
    EVENTS,
    batch,
    call,
    door_key,
    event,
    new_key,
    post_events,
)
from tests.threads import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def stored() -> list[tuple]:
    return list(
        DoorEvent.objects.order_by("event_id").values_list(
            "event_id", "door", "tag", "granted", "member_id"
        )
    )


def test_it_stores_a_batch_and_says_how_many_were_new(live_server):
    ada = MemberFactory(access={"rfid_tags": ["0000012345"]})
    key = door_key()
    sent = [
        event(1, tag="0000012345", door="front"),
        event(2, tag="0000055555", door="back", granted=False),
    ]

    reply = post_events(live_server, key, sent)

    assert reply.status == 200
    assert reply.json() == {"received": 2, "new": 2, "duplicates": 0}
    assert stored() == [
        ("ev-1", "front", "0000012345", True, ada.pk),
        # An unknown tag is kept, unmatched, with the tag.
        ("ev-2", "back", "0000055555", False, None),
    ]
    first = DoorEvent.objects.get(event_id="ev-1")
    assert first.at == datetime.datetime.fromisoformat(sent[0]["at"])
    assert first.key.name == "front door"


def test_it_counts_a_resent_event_as_a_duplicate_and_changes_nothing(live_server):
    key = door_key()
    post_events(live_server, key, batch(3))
    before = stored()

    again = batch(3, door="elsewhere", granted=False) + [event(4)]
    reply = post_events(live_server, key, again)

    assert reply.json() == {"received": 4, "new": 1, "duplicates": 3}
    assert stored() == sorted([*before, ("ev-4", "front", "0000012345", True, None)])
    # An id repeated inside one batch is stored once too.
    reply = post_events(live_server, key, [event(5), event(5)])
    assert reply.json() == {"received": 2, "new": 1, "duplicates": 1}


def test_it_keeps_event_ids_apart_per_key(live_server):
    front, back = door_key("front"), door_key("back")
    assert post_events(live_server, front, [event(1)]).json()["new"] == 1
    assert post_events(live_server, back, [event(1)]).json()["new"] == 1
    assert DoorEvent.objects.count() == 2


def test_it_keeps_one_copy_of_a_batch_two_threads_post_at_once(live_server):
    key = door_key()
    sent = batch(200)

    replies = run_concurrently(
        lambda: post_events(live_server, key, sent), lambda: post_events(live_server, key, sent)
    )

    assert [r.status for r in replies] == [200, 200]
    # Between them the two answers say each event was new once.
    assert sum(r.json()["new"] for r in replies) == 200
    assert sum(r.json()["duplicates"] for r in replies) == 200
    assert DoorEvent.objects.count() == 200
    assert DoorEventReceipt.objects.count() == 200


def test_it_matches_the_tag_exactly_in_its_ten_digit_form(live_server):
    holder = MemberFactory(access={"rfid_tags": ["0001234567"]})
    short = MemberFactory(access={"rfid_tags": ["0000012345"]})
    key = door_key()

    post_events(
        live_server,
        key,
        [
            # Deep Harbor's LIKE '%12345%' gave this to the holder of 0001234567.
            event(1, tag="12345"),
            event(2, tag="1234567"),
            event(3, tag="123"),
            event(4, tag=" 0001234567 "),
        ],
    )

    assert dict(DoorEvent.objects.values_list("event_id", "member_id")) == {
        "ev-1": short.pk,
        "ev-2": holder.pk,
        "ev-3": None,
        "ev-4": holder.pk,
    }
    assert set(DoorEvent.objects.values_list("tag", flat=True)) == {
        "0000012345",
        "0001234567",
        "0000000123",
    }


def test_it_keeps_who_held_the_tag_when_the_event_arrived(live_server):
    first = MemberFactory(access={"rfid_tags": ["0000000042"]})
    key = door_key()
    post_events(live_server, key, [event(1, tag="42")])
    Member.objects.filter(pk=first.pk).remove_rfid_tag("0000000042")
    second = MemberFactory(access={"rfid_tags": ["0000000042"]})

    post_events(live_server, key, [event(2, tag="42")])

    assert dict(DoorEvent.objects.values_list("event_id", "member_id")) == {
        "ev-1": first.pk,
        "ev-2": second.pk,
    }


def _with(**changes):
    sent = event(1)
    sent.update(changes)
    return {key: value for key, value in sent.items() if value is not ...}


# Each invalid event and what the answer says about it.
INVALID = [
    ("not an object", "An event is an object."),
    (_with(id=...), "The event has no id."),
    (_with(at=..., granted=...), "The event has no at, granted."),
    (_with(reader="r1"), 'Unknown key "reader".'),
    (_with(id=""), "id is empty."),
    (_with(id=7), "id is a string."),
    (_with(id="x" * 101), "id is longer than 100 characters."),
    (_with(door="front\x00"), "door holds a character that cannot be printed."),
    (_with(tag=12345), "tag is a string."),
    (_with(tag="   "), "tag is empty."),
    (_with(tag="1" * 33), "tag is longer than 32 characters."),
    (_with(at="yesterday"), "at is not an ISO 8601 time."),
    (_with(at="2026-06-01T10:00:00"), "at has no offset (add Z or +hh:mm)."),
    (_with(at=1767225600), "at is an ISO 8601 string with an offset."),
    (_with(at="1999-12-31T23:59:59Z"), "at is before 2000: is the door's clock set?"),
    (_with(at="2999-01-01T00:00:00Z"), "at is more than a day ahead: is the door's clock set?"),
    (_with(granted="true"), "granted is true or false."),
    (_with(granted=1), "granted is true or false."),
]


def test_it_refuses_a_batch_with_an_invalid_event_and_writes_nothing(live_server):
    key = door_key()
    # One server for all of them (a test of its own each would flush the database).
    for bad, message in INVALID:
        reply = post_events(live_server, key, [event(10), event(11), bad])

        assert (reply.status, reply.json()) == (400, {"error": message, "index": 2}), bad
    assert DoorEvent.objects.count() == 0
    assert DoorEventReceipt.objects.count() == 0


NOT_THE_SHAPE = [
    b"",
    b"{not json",
    b"\xff\xfe",
    b"[]",
    b'"events"',
    b"{}",
    b'{"events": {}}',
    b'{"events": [], "more": 1}',
    b'{"event": []}',
]


def test_it_refuses_a_body_that_is_not_the_shape(live_server):
    key = door_key()
    for body in NOT_THE_SHAPE:
        reply = call(live_server, "POST", EVENTS, key=key, body=body)

        assert reply.status == 400, body
        assert set(reply.json()) == {"error", "index"}
        assert reply.json()["index"] is None


def test_it_answers_413_over_a_thousand_events_and_writes_nothing(live_server):
    key = door_key()
    assert post_events(live_server, key, batch(1000)).json()["new"] == 1000

    reply = post_events(live_server, key, batch(1001, first=2000))

    assert reply.status == 413
    assert reply.json() == {"error": "At most 1000 events in one request.", "index": None}
    assert DoorEvent.objects.count() == 1000
    huge = call(live_server, "POST", EVENTS, key=key, body=b"x" * (1024 * 1024 + 1))
    assert huge.status == 413


def test_it_answers_an_empty_batch_with_zeros(live_server):
    reply = post_events(live_server, door_key(), [])
    assert reply.json() == {"received": 0, "new": 0, "duplicates": 0}


@pytest.mark.parametrize("authorization", [None, "Bearer dhak_wrong", "Basic dXNlcjpwYXNz"])
def test_it_answers_401_without_a_valid_key(live_server, authorization):
    door_key()
    headers = {"Authorization": authorization} if authorization else {}
    reply = call(live_server, "POST", EVENTS, body={"events": [event(1)]}, headers=headers)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert DoorEvent.objects.count() == 0


def test_it_answers_403_to_a_key_outside_its_scopes_on_every_keyed_endpoint(live_server):
    reader = new_key("reader")  # no --scope: access:read
    writer = door_key("writer")
    metrics = new_key("metrics", "metrics:read")

    assert post_events(live_server, reader, [event(1)]).status == 403
    assert post_events(live_server, metrics, [event(1)]).status == 403
    assert call(live_server, "GET", ACCESS, key=writer).status == 403
    assert call(live_server, "GET", ACCESS, key=metrics).status == 403
    refused = call(live_server, "GET", ACCESS, key=writer)
    assert refused.json() == {"error": "This key's scopes do not include access:read."}
    assert "members" not in refused.text
    assert DoorEvent.objects.count() == 0

    both = new_key("both", "access:read", "door-events:write")
    assert post_events(live_server, both, [event(1)]).status == 200
    assert call(live_server, "GET", ACCESS, key=both).status == 200
    assert call(live_server, "GET", ACCESS, key=reader).status == 200


def test_it_limits_posts_per_key(live_server, settings):
    settings.INTEGRATIONS_DOOR_EVENTS_RATE_LIMIT = "3/60"
    key, other = door_key("front"), door_key("back")

    statuses = [post_events(live_server, key, [event(n)]).status for n in range(4)]

    assert statuses == [200, 200, 200, 429]
    refused = post_events(live_server, key, [event(9)])
    assert refused.headers["Retry-After"] == "60"
    assert post_events(live_server, other, [event(9)]).status == 200
    assert not DoorEvent.objects.filter(key__name="front", event_id="ev-9").exists()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_it_answers_405_to_anything_but_post(live_server, method):
    assert call(live_server, method, EVENTS, key=door_key()).status == 405
