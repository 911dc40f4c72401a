"""The real worker (`manage.py worker`, a subprocess) on the real test
database, mailing a real SMTP server on a loopback port. Few and quick: each worker
start costs about a second."""

import contextlib
import signal
import time

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from dhportal.jobs import OUTSIDE_RETRY, defer
from dhportal.mail import SMTP_TIMEOUT
from members.models import Notification, NotificationKind, NotificationState
from members.notifications import notification_create
from members.tasks import retry_stalled_jobs
from tests.factories import MemberFactory, StaffFactory, logged_in
from tests.jobs import (
    SEND_TASK,
    jobs,
    run_worker,
    start_worker,
    stop_worker,
    wait_for,
)
from tests.jobs.outside import shout

pytestmark = pytest.mark.django_db(transaction=True)


def _notify(member, kind=NotificationKind.ACTIVATED, key="evt_1"):
    with transaction.atomic():
        return notification_create(member=member, kind=kind, key=key)


def test_it_runs_tasks_from_tasks_py_and_fails_a_task_defined_elsewhere(job_queue, sink):
    member = MemberFactory()
    notification_id = _notify(member)
    # The stray task works in this process, which imported its module...
    assert shout("hi") == "HI"
    with transaction.atomic():
        defer(shout, text="hi")

    run_worker(sink.port)

    # ...and the worker, which finds tasks in each app's tasks.py, does not know it.
    assert [j["status"] for j in jobs("tests.jobs.outside.shout")] == ["failed"]
    assert [j["status"] for j in jobs(SEND_TASK)] == ["succeeded"]
    assert Notification.objects.get(pk=notification_id).state == NotificationState.SENT
    assert [r.to for r in sink.received] == [[member.email]]


def test_it_defers_nothing_when_the_change_rolls_back(job_queue):
    member = MemberFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        _notify(member)
        raise RuntimeError("the change fails after the notification was queued")

    assert jobs(None) == []
    assert not Notification.objects.exists()


def _age_heartbeats():
    """The killed worker never beats again; make its silence as old as it would be a
    few minutes later, when the periodic retry of stalled jobs runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '10 minutes'"
        )


def test_it_keeps_a_committed_job_through_a_killed_worker_and_mails_once_after(job_queue, sink):
    member = MemberFactory()
    notification_id = _notify(member)
    sink.mode = "hold"  # the SMTP server takes the mail and has not answered yet
    worker = start_worker(sink.port)
    try:
        assert sink.holding.wait(30), "the worker never reached the mail server"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        log = stop_worker(worker, kill=True)
    sink.release()
    sink.mode = "accept"

    # The job outlived its worker, still marked running; the send never committed.
    assert [j["status"] for j in jobs()] == ["doing"], log
    assert Notification.objects.get(pk=notification_id).state == NotificationState.QUEUED
    assert sink.received == []

    _age_heartbeats()
    with transaction.atomic():
        defer(retry_stalled_jobs, timestamp=0)  # what the five-minute periodic job does
    run_worker(sink.port)

    assert [j["status"] for j in jobs()] == ["succeeded"]
    assert len(sink.to(member.email)) == 1
    notification = Notification.objects.get(pk=notification_id)
    assert notification.state == NotificationState.SENT
    assert notification.sent_at is not None


def _bring_retries_forward():
    """Make the retry that is scheduled later due now (the backoff itself is checked
    first), so the test does not wait for it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now() "
            "WHERE status = 'todo' AND scheduled_at > now()"
        )


def test_it_retries_while_smtp_is_down_then_fails_then_resends_from_admin(job_queue, sink):
    member = MemberFactory()
    notification_id = _notify(member, kind=NotificationKind.LAPSED)
    sink.stop()  # connection refused
    worker = start_worker(sink.port, "--fetch-job-polling-interval", "0.1")
    waits = []
    try:
        for attempt in range(OUTSIDE_RETRY.max_attempts + 1):
            wait_for(
                lambda attempt=attempt: (
                    jobs()[0]["attempts"] == attempt + 1 or jobs()[0]["status"] == "failed"
                ),
                what=f"attempt {attempt + 1}",
            )
            job = jobs()[0]
            if job["status"] == "failed":
                break
            waits.append((job["scheduled_at"] - timezone.now()).total_seconds())
            _bring_retries_forward()
    finally:
        log = stop_worker(worker)

    # Backoff: doubling from 2 s, capped at an hour; then the job stays failed.
    assert 0 < waits[0] <= 2 and 2 < waits[2] <= 8, waits
    assert max(waits) <= OUTSIDE_RETRY.max_wait
    assert len(waits) == OUTSIDE_RETRY.max_attempts, log
    assert jobs()[0]["status"] == "failed"
    notification = Notification.objects.get(pk=notification_id)
    assert notification.state == NotificationState.FAILED
    assert notification.attempts == OUTSIDE_RETRY.max_attempts + 1
    assert "ConnectionRefusedError" in notification.error

    sink.start()  # the mail server is back; staff resend from the list
    admin = logged_in(StaffFactory())
    response = admin.post(
        "/admin/members/notification/",
        {"action": "resend", "_selected_action": [notification_id]},
    )
    assert response.status_code == 302
    run_worker(sink.port)

    assert len(sink.to(member.email)) == 1
    notification.refresh_from_db()
    assert notification.state == NotificationState.SENT
    assert notification.error == ""


MEMBER_PERIODIC = (
    "members.tasks.repair_members",
    "members.tasks.retry_stalled_jobs",
    "members.tasks.remove_old_jobs",
)


def _periodic_defers() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name FROM procrastinate_periodic_defers")
        return [row[0] for row in cursor.fetchall()]


def test_it_defers_each_periodic_job_once_however_many_workers_run(job_queue):
    # Two workers start together, each allowed to defer what fell due in the last
    # day; the database keeps one job per task and period.
    workers = [start_worker(None, PERIODIC_MAX_DELAY="90000") for _ in range(2)]
    try:
        wait_for(
            lambda: set(MEMBER_PERIODIC) <= set(_periodic_defers()),
            timeout=60,
            what="the periodic jobs",
        )
        time.sleep(1)  # a second deferral, had there been one, would be in by now
    finally:
        logs = [stop_worker(w) for w in workers]

    names = [j["task_name"] for j in jobs(None)]
    defers = _periodic_defers()
    for task in MEMBER_PERIODIC:
        assert names.count(task) == 1, (names, logs)
        assert defers.count(task) == 1, defers


def test_it_stops_promptly_on_sigterm_mid_job_and_the_job_runs_again(job_queue, sink):
    member = MemberFactory()
    notification_id = _notify(member)
    sink.mode = "hold"  # the job waits on the mail server until its 30 s timeout
    worker = start_worker(sink.port)
    try:
        assert sink.holding.wait(30), "the worker never reached the mail server"
        asked = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        # Well before the job's own end (SMTP_TIMEOUT): procrastinate alone waits for it.
        returncode = worker.wait(timeout=SMTP_TIMEOUT - 10)
        stopped_after = time.monotonic() - asked
    finally:
        log = stop_worker(worker, kill=True)
    assert returncode == 0, log
    assert sink.received == []  # the job had not finished
    assert [j["status"] for j in jobs()] == ["todo"], log  # back in the queue
    assert "back in the queue" in log
    print(f"stopped {stopped_after:.1f} s after SIGTERM")

    sink.release()
    sink.mode = "accept"
    run_worker(sink.port)
    assert [j["status"] for j in jobs()] == ["succeeded"]
    assert len(sink.to(member.email)) == 1
    assert Notification.objects.get(pk=notification_id).state == NotificationState.SENT


@contextlib.contextmanager
def _database_away():
    """The test database refuses every connection and loses the open ones, as in a
    failover, until the block ends. Run from the maintenance database."""
    name = connection.settings_dict["NAME"]
    connection.close()
    params = {**connection.get_connection_params(), "dbname": "postgres", "autocommit": True}
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
            yield
        finally:
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name))
            )


# Longer than procrastinate's wait for a connection (its pool's 30 s), after which its
# own worker exits.
OUTAGE_SECONDS = 40


def test_it_rides_out_a_database_outage_and_runs_a_job_deferred_after_it(job_queue, sink):
    member = MemberFactory()
    worker = start_worker(sink.port)
    try:
        wait_for(lambda: _workers() == 1, what="the worker's registration")
        with _database_away():
            deadline = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < deadline:
                assert worker.poll() is None, "the worker exited during the outage"
                time.sleep(0.5)
        assert worker.poll() is None
        _notify(member)  # deferred once the database is back
        wait_for(lambda: bool(sink.to(member.email)), timeout=60, what="the mail")
        alive = worker.poll() is None
    finally:
        log = stop_worker(worker)
    assert alive, log
    assert "lost the database" in log
    assert "The database is unreachable" in log
    assert "reachable again" in log
    assert len(sink.to(member.email)) == 1


def _workers() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_workers")
        return cursor.fetchone()[0]
