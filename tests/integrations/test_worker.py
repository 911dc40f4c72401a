"""The feed end to end with the real worker (`manage.py procrastinate worker`, a
subprocess on the test database): the periodic pump, the send job, a retry. Few and
quick: a worker start costs about a second."""

import pytest
from django.db import transaction

from integrations.models import Delivery, DeliveryState, Endpoint
from integrations.outbound import SIGNATURE_HEADER
from members.models import Member
from tests.factories import MemberFactory
from tests.integrations import verify
from tests.integrations.conftest import SECRET
from tests.jobs import clear_queue, start_worker, stop_worker, wait_for

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
    assert received[-1]["username"] == "third"
    assert len(receiver.requests) >= 2  # the refused attempt, then at least the newest
    for request in receiver.accepted:
        assert verify(SECRET, request.body, request.headers[SIGNATURE_HEADER])
    assert SECRET not in log
