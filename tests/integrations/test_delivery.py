"""Deliveries to a loopback receiver, the jobs run in this process as the worker would
run them: retries, the answer kept, order per member, dead and replay, signatures."""

import logging
import time

import pytest

from integrations import services
from integrations.models import Delivery, DeliveryState, Endpoint, FeedEvent
from integrations.outbound import SIGNATURE_HEADER
from integrations.services import DeliveryFailed
from integrations.snapshot import EVENT_KEYS, SNAPSHOT_KEYS
from integrations.tasks import FEED_RETRY
from members.models import Member
from tests import threads
from tests.factories import MemberFactory, logged_in
from tests.integrations import (
    RESYNC_TASK,
    finish,
    run_all_sends,
    run_send,
    send_jobs,
    verify,
)
from tests.integrations.conftest import SECRET
from tests.jobs import jobs, run_in_process, wait_for

pytestmark = pytest.mark.django_db


def committed():
    # As in test_capture: later writes make events of their own.
    FeedEvent.objects.update(xact=None)


def change(member, username):
    committed()
    Member.objects.filter(pk=member.pk).update(username=username)


def pumped_member(**values):
    """A member whose creation event was pumped already (no delivery pending)."""
    member = MemberFactory(**values)
    services.feed_pump()
    for job in send_jobs():
        finish(job)
    Delivery.objects.all().delete()
    return member


def test_it_retries_a_failing_then_timing_out_receiver_and_delivers_once(queue, endpoint, receiver):
    member = pumped_member()
    receiver.plan = ["fail", "hold"]
    change(member, "newname")
    assert services.feed_pump() == 1
    (job,) = send_jobs()
    delivery = Delivery.objects.get()

    first = run_send(job, attempts=0)
    assert isinstance(first, DeliveryFailed)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 1)
    assert delivery.last_answer == "HTTP 500 Internal Server Error: receiver broke: try later"

    started = time.monotonic()
    second = run_send(job, attempts=1)
    assert isinstance(second, DeliveryFailed)
    assert time.monotonic() - started < 1.4  # the 0.5 s timeout, not the receiver's hold
    delivery.refresh_from_db()
    assert delivery.last_answer == "Timed out after 0.5 s"

    assert run_send(job, attempts=2) == "delivered"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 3)
    assert delivery.delivered_at is not None
    # A retry of the job after it was delivered sends nothing again.
    assert run_send(job, attempts=3) == "not pending"

    (accepted,) = receiver.accepted
    assert verify(SECRET, accepted.body, accepted.headers[SIGNATURE_HEADER])
    assert not verify("another-secret-entirely", accepted.body, accepted.headers[SIGNATURE_HEADER])
    assert accepted.headers["Content-Type"] == "application/json"
    body = accepted.json
    assert list(body) == list(SNAPSHOT_KEYS)
    assert (body["member_id"], body["username"], body["sequence"]) == (member.pk, "newname", 2)


def test_it_delivers_one_members_changes_in_order(queue, endpoint, receiver):
    member = pumped_member()
    for name in ("one", "two", "three"):
        change(member, name)
    services.feed_pump()
    assert run_all_sends() == ["delivered"] * 3
    assert [r.json["username"] for r in receiver.accepted] == ["one", "two", "three"]
    assert [r.json["sequence"] for r in receiver.accepted] == [2, 3, 4]


def test_it_supersedes_an_older_snapshot_once_a_newer_one_is_delivered(queue, endpoint, receiver):
    member = pumped_member()
    change(member, "older")
    change(member, "newer")
    services.feed_pump()
    older_job, newer_job = send_jobs()
    receiver.plan = ["fail"]
    assert isinstance(run_send(older_job), DeliveryFailed)  # waits for its retry
    assert run_send(newer_job) == "delivered"
    older = Delivery.objects.get(sequence=2)
    assert older.state == DeliveryState.SUPERSEDED
    # The older one's retry comes: it is never sent after the newer snapshot.
    assert run_send(older_job, attempts=1) == "not pending"
    assert [r.json["username"] for r in receiver.accepted] == ["newer"]


def test_it_never_sends_an_older_snapshot_after_a_newer_one_a_late_receiver_stored(
    queue, endpoint, receiver
):
    member = pumped_member()
    change(member, "older")
    change(member, "newer")
    services.feed_pump()
    older_job, newer_job = send_jobs()
    # The receiver stores each snapshot at once but answers after the 0.5 s timeout:
    # both attempts count as failed, though it has both.
    receiver.plan = ["late", "late"]
    assert isinstance(run_send(older_job), DeliveryFailed)
    assert isinstance(run_send(newer_job), DeliveryFailed)
    assert [r.json["username"] for r in receiver.requests] == ["older", "newer"]

    # The older one's retry comes first: the newer one was sent, so it is dropped.
    assert run_send(older_job, attempts=1) == "superseded"
    assert run_send(newer_job, attempts=1) == "delivered"

    stored = [r.json["sequence"] for r in receiver.requests]
    assert stored == sorted(stored), stored  # the receiver never goes back in time
    assert [r.json["username"] for r in receiver.requests] == ["older", "newer", "newer"]
    older, newer = Delivery.objects.order_by("sequence")
    assert (older.state, older.attempts) == (DeliveryState.SUPERSEDED, 1)
    assert (newer.state, newer.attempts) == (DeliveryState.DELIVERED, 2)


@pytest.mark.django_db(transaction=True)
def test_it_sends_one_members_snapshots_one_at_a_time_holding_no_lock_meanwhile(
    queue, endpoint, receiver, settings
):
    settings.INTEGRATIONS_DELIVERY_TIMEOUT = 3
    member = pumped_member()
    change(member, "older")
    change(member, "newer")
    services.feed_pump()
    older_job, newer_job = send_jobs()
    receiver.plan = ["late"]  # takes the older one and answers after the 3 s timeout
    receiver.hold_seconds = 5

    sending = threads.start(lambda: run_send(older_job))
    wait_for(lambda: len(receiver.requests) == 1, what="the older snapshot on the wire")
    # The older POST is on the wire, in no transaction: the newer one waits its turn.
    busy = run_send(newer_job)
    assert isinstance(busy, DeliveryFailed)
    assert str(busy) == "Waiting for this member's previous delivery."
    assert len(receiver.requests) == 1
    [older_result] = sending.join()
    assert isinstance(older_result, DeliveryFailed)  # answered too late

    assert run_send(newer_job, attempts=1) == "delivered"
    assert [r.json["username"] for r in receiver.requests] == ["older", "newer"]
    newer = Delivery.objects.get(sequence=3)
    assert (newer.state, newer.attempts) == (DeliveryState.DELIVERED, 1)


def test_it_marks_a_delivery_dead_after_the_last_retry_and_replays_it(
    queue, endpoint, receiver, caplog
):
    member = pumped_member()
    receiver.stop()  # down for good: connection refused
    change(member, "unheard")
    services.feed_pump()
    (job,) = send_jobs()
    with caplog.at_level(logging.INFO):
        assert isinstance(run_send(job, attempts=0), DeliveryFailed)
        assert Delivery.objects.get().state == DeliveryState.PENDING
        assert isinstance(run_send(job, attempts=FEED_RETRY.max_attempts), DeliveryFailed)
    finish(job)
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.DEAD
    assert list(Delivery.objects.dead()) == [delivery]
    assert delivery.last_answer.startswith("ConnectionRefusedError")
    assert SECRET not in caplog.text and SECRET not in delivery.last_answer

    receiver.start()
    assert services.deliveries_replay(queryset=Delivery.objects.dead()) == 1
    assert run_all_sends() == ["delivered"]
    assert Delivery.objects.get().state == DeliveryState.DELIVERED
    assert [r.json["username"] for r in receiver.accepted] == ["unheard"]
    assert not Delivery.objects.dead().exists()


def test_it_never_lets_a_dead_delivery_block_the_next(queue, endpoint, receiver):
    member = pumped_member()
    receiver.plan = ["fail"]
    change(member, "refused")
    services.feed_pump()
    (job,) = send_jobs()
    run_send(job, attempts=FEED_RETRY.max_attempts)
    finish(job)
    assert Delivery.objects.get().state == DeliveryState.DEAD
    change(member, "later")
    services.feed_pump()
    assert run_all_sends() == ["delivered"]
    states = dict(Delivery.objects.values_list("sequence", "state"))
    assert states == {2: DeliveryState.SUPERSEDED, 3: DeliveryState.DELIVERED}
    # Replaying the old one now sends nothing: the receiver has a newer snapshot.
    assert services.deliveries_replay(queryset=Delivery.objects.filter(sequence=2)) == 0
    assert [r.json["username"] for r in receiver.accepted] == ["later"]


def test_it_takes_a_redirect_as_a_failure_and_does_not_follow_it(queue, endpoint, receiver):
    member = pumped_member()
    receiver.plan = ["redirect"]
    change(member, "moved")
    services.feed_pump()
    (job,) = send_jobs()
    assert isinstance(run_send(job), DeliveryFailed)
    assert Delivery.objects.get().last_answer.startswith("HTTP 302")
    assert len(receiver.requests) == 1


def test_it_sends_an_endpoint_only_the_fields_it_chose(queue, receiver):
    door = Endpoint.objects.create(
        name="door", url=receiver.url, secret=SECRET, fields=["rfid_tags", "may_enter"]
    )
    Endpoint.objects.create(name="off", url=receiver.url, secret=SECRET, enabled=False)
    member = pumped_member()
    change(member, "only-a-name")  # not a field the door chose
    committed()
    Member.objects.filter(pk=member.pk).add_rfid_tag("0000000099")
    services.feed_pump()
    assert list(Delivery.objects.values_list("endpoint_id", "sequence")) == [(door.pk, 3)]
    run_all_sends()
    (accepted,) = receiver.accepted
    assert list(accepted.json) == [*EVENT_KEYS, "may_enter", "rfid_tags"]
    assert accepted.json["rfid_tags"] == ["0000000099"]


def test_it_sends_every_current_snapshot_to_a_new_endpoint(queue, receiver):
    members = [pumped_member() for _ in range(3)]
    change(members[0], "changed")
    services.feed_pump()  # no endpoint yet: nothing to deliver
    assert not Delivery.objects.exists()
    # A member with no event (written while the trigger was not installed, e.g. a
    # restore) gets its first one from the resync.
    late = MemberFactory(username="restored")
    FeedEvent.objects.filter(member=late).delete()
    endpoint = Endpoint.objects.create(name="directory", url=receiver.url, secret=SECRET)
    run_in_process(
        {
            "id": 0,
            "queue_name": "feed",
            "task_name": RESYNC_TASK,
            "args": {"endpoint_id": endpoint.pk},
            "attempts": 0,
        }
    )
    run_all_sends()
    got = {r.json["member_id"]: r.json["username"] for r in receiver.accepted}
    assert got == {
        members[0].pk: "changed",
        members[1].pk: members[1].username,
        members[2].pk: members[2].username,
        late.pk: "restored",
    }
    # Again: the current snapshots were sent, nothing is sent twice.
    assert services.endpoint_resync(endpoint_id=endpoint.pk) == 0


def test_it_refuses_an_endpoint_url_that_is_not_http(queue, receiver):
    member = pumped_member()
    endpoint = Endpoint.objects.create(name="odd", url=receiver.url, secret=SECRET)
    # Written past the admin's validation, by SQL: still never sent to.
    Endpoint.objects.filter(pk=endpoint.pk).update(url="file:///etc/passwd")
    change(member, "x")
    services.feed_pump()
    (job,) = send_jobs()
    assert isinstance(run_send(job), DeliveryFailed)
    assert Delivery.objects.get().last_answer == "Not sent: not an http(s) URL."
    assert receiver.requests == []


def test_it_keeps_web_requests_fast_while_the_receiver_hangs(queue, endpoint, receiver):
    receiver.default = "hold"
    receiver.hold_seconds = 5
    member = MemberFactory(access={"rfid_tags": []})
    client = logged_in(member.user)
    started = time.monotonic()
    response = client.post("/dashboard/keys/", {"action": "add", "tag": "31337"})
    assert response.status_code == 302
    assert time.monotonic() - started < 2
    assert receiver.requests == []  # the request itself never calls out
    assert FeedEvent.objects.filter(member=member).exists()


def test_it_retries_for_about_a_day_first_within_ten_seconds_capped_at_an_hour():
    waits = [FEED_RETRY.wait_seconds(attempts) for attempts in range(FEED_RETRY.max_attempts)]
    assert waits[0] <= 10
    assert waits[1] == 2 * waits[0] and waits[2] == 2 * waits[1]
    assert max(waits) == 3600
    assert 22 * 3600 <= sum(waits) <= 26 * 3600
    assert jobs  # the helper module is the one the worker tests use
