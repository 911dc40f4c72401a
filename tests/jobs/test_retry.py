"""The retry policy of jobs that talk to the outside world, and deferral inside the
caller's transaction."""

import pytest
from django.db import transaction
from procrastinate import jobs as procrastinate_jobs
from procrastinate.exceptions import TaskNotFound
from procrastinate.utils import utcnow

from dhportal.jobs import OUTSIDE_RETRY, CappedRetryStrategy, defer, defer_many, will_retry
from members.tasks import send_notification
from tests.jobs import SEND_TASK, SIGNUP_TASK, jobs


def job(attempts: int, task_name: str = SEND_TASK) -> procrastinate_jobs.Job:
    return procrastinate_jobs.Job(
        queue="mail", lock=None, queueing_lock=None, task_name=task_name, attempts=attempts
    )


def wait_of(strategy, attempts: int) -> float:
    decision = strategy.get_retry_decision(exception=OSError("down"), job=job(attempts))
    return (decision.retry_at - utcnow()).total_seconds()


def test_it_doubles_the_wait_from_two_seconds_up_to_an_hour():
    waits = [OUTSIDE_RETRY.wait_seconds(n) for n in range(16)]
    assert waits[:5] == [2, 4, 8, 16, 32]
    assert waits[-1] == 3600 and max(waits) == 3600
    assert waits == sorted(waits)
    assert 3590 < wait_of(OUTSIDE_RETRY, 15) <= 3600


def test_it_stops_retrying_after_max_attempts():
    assert OUTSIDE_RETRY.will_retry(exception=OSError(), job=job(15))
    assert not OUTSIDE_RETRY.will_retry(exception=OSError(), job=job(16))


def test_it_caps_a_wait_procrastinate_would_let_grow_without_bound():
    strategy = CappedRetryStrategy(exponential_wait=10, linear_wait=1, max_wait=60)
    # procrastinate's own formula would wait 10 ** 1001 seconds here.
    assert strategy.wait_seconds(1000) == 60
    assert 55 < wait_of(strategy, 1000) <= 60
    assert strategy.wait_seconds(0) == 10


def test_it_keeps_retry_exceptions_as_procrastinate_does():
    strategy = CappedRetryStrategy(exponential_wait=2, retry_exceptions=[OSError])
    assert strategy.will_retry(exception=ConnectionRefusedError(), job=job(0))
    assert not strategy.will_retry(exception=ValueError(), job=job(0))


@pytest.mark.django_db
def test_it_defers_in_the_callers_transaction():
    with transaction.atomic():
        defer(send_notification, notification_id=1)
        assert [j["args"] for j in jobs()] == [{"notification_id": 1}]
        with pytest.raises(RuntimeError), transaction.atomic():
            defer(send_notification, notification_id=2)
            raise RuntimeError
    assert [j["args"] for j in jobs()] == [{"notification_id": 1}]


def test_it_answers_whether_the_jobs_own_task_retries_it():
    assert will_retry(job(15), OSError())
    assert not will_retry(job(16), OSError())
    # A task without a retry policy (the hourly repair) never retries.
    assert not will_retry(job(0, "members.tasks.repair_members"), OSError())


@pytest.mark.django_db
def test_it_defers_by_name_into_the_tasks_own_queue_and_refuses_an_unknown_name():
    with transaction.atomic():
        defer(SIGNUP_TASK, signup_mail_id=7)
        # A made-up name would land in the default queue, where no worker runs it.
        with pytest.raises(TaskNotFound):
            defer("signup.tasks.send_no_such_mail", signup_mail_id=8)

    assert [(j["args"], j["queue_name"]) for j in jobs(None)] == [({"signup_mail_id": 7}, "mail")]


@pytest.mark.django_db
def test_it_defers_many_jobs_at_once_in_the_callers_transaction():
    assert defer_many(SEND_TASK, []) == []
    with pytest.raises(RuntimeError), transaction.atomic():
        ids = defer_many(SEND_TASK, [{"notification_id": n} for n in (1, 2, 3)])
        assert [j["id"] for j in jobs()] == ids
        assert [j["args"] for j in jobs()] == [{"notification_id": n} for n in (1, 2, 3)]
        raise RuntimeError

    assert jobs(None) == []
