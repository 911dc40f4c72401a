"""The feed end to end with the real worker (`manage.py worker`, a
subprocess on the test database): the periodic pump, the send job, a retry, a receiver
that drips its answer. Few and quick: a worker start costs about a second."""

import time

import pytest
from django.db import connection, transaction

from integrations import services
from integrations.models import Delivery, DeliveryState, Endpoint
from integrations.outbound import SIGNATURE_HEADER
from members.models import Member, NotificationKind
from members.notifications import notification_create
from tests.factories import MemberFactory
from tests.integrations import verify
from tests.integrations.conftest import SECRET
from tests.jobs import clear_queue, smtp_sink, start_worker, stop_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_queue(transactional_db):
    clear_queue()
    yield
    clear_queue()


def test_it_pumps_retries_and_delivers_each_change_once_in_order(worker_queue, receiver):
    Endpoint.objects.create(name="door", url=receiver.url, secret=SECRET)
    member = MemberFactory(username="first")
    receiver.plan = ["fail"]  # the first delivery is refused once, then retried
    for name in ("second", "third"):
        with transaction.atomic():
            Member.objects.filter(pk=member.pk).update(username=name)

    # PERIODIC_MAX_DELAY: this short-lived worker defers the pump (every 2 s) at once.
    worker = start_worker(None, PERIODIC_MAX_DELAY="3")
    try:
        wait_for(
            lambda: (
                not Delivery.objects.exclude(
                    state__in=(DeliveryState.DELIVERED, DeliveryState.SUPERSEDED)
                ).exists()
                and Delivery.objects.count() == 3
            ),
            timeout=40,
            what="every delivery delivered or superseded",
        )
    finally:
        log = stop_worker(worker)

    received = [r.json for r in receiver.accepted]
    sequences = [r["sequence"] for r in received]
    assert sequences == sorted(set(sequences)), log[-3000:]  # in order, none twice
    # What the deliveries say and the worker logged, should the newest not have arrived.
    states = list(Delivery.objects.values_list("sequence", "state", "attempts", "last_answer"))
    assert received and received[-1]["username"] == "third", (states, log[-3000:])
    assert len(receiver.requests) >= 2  # the refused attempt, then at least the newest
    for request in receiver.accepted:
        assert verify(SECRET, request.body, request.headers[SIGNATURE_HEADER])
    assert SECRET not in log


# A claim or a settle holds its transaction for milliseconds; one held across the POST
# would last the whole 3 s timeout.
_HELD_LONG = """
    SELECT count(*) FILTER (WHERE a.state LIKE 'idle in transaction%%'),
           count(l.pid)
    FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory'
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND a.xact_start < now() - interval '1 second'
"""


def _held_open() -> dict:
    """Other connections to this database in a transaction open for over a second, and
    the advisory locks they hold."""
    with connection.cursor() as cursor:
        cursor.execute(_HELD_LONG)
        in_transaction, advisory = cursor.fetchone()
    return {"idle in transaction": in_transaction, "advisory locks": advisory}


def test_it_sends_mail_and_holds_no_transaction_while_a_receiver_drips(worker_queue, receiver):
    # Each answer takes 40 bytes x 2 s = 80 s to drip; the worker gives up after 3 s.
    receiver.default = "drip"
    Endpoint.objects.create(name="door", url=receiver.url, secret=SECRET)
    members = [MemberFactory() for _ in range(6)]  # more sends than the worker's 4 slots
    services.feed_pump()
    with transaction.atomic():
        notification_create(member=members[0], kind=NotificationKind.ACTIVATED, key="evt_1")

    with smtp_sink() as sink:
        worker = start_worker(sink.port, INTEGRATIONS_DELIVERY_TIMEOUT="3")
        try:
            started = time.monotonic()
            samples = []

            def mailed():
                if receiver.dripping:  # a POST is on the wire now
                    samples.append(_held_open())
                return bool(sink.to(members[0].email))

            wait_for(mailed, timeout=40, what="the mail, while every answer still drips")
            mailed_after = time.monotonic() - started
        finally:
            log = stop_worker(worker)

    assert receiver.requests, log[-3000:]  # the receiver was dripping
    assert samples, "never sampled while a POST was on the wire"
    assert all(s == {"idle in transaction": 0, "advisory locks": 0} for s in samples), samples
    answers = set(Delivery.objects.exclude(attempts=0).values_list("last_answer", flat=True))
    assert answers == {"Timed out after 3 s"}, answers
    print(f"mail left {mailed_after:.1f} s after the worker started")
