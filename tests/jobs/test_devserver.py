"""`make run` and `make serve` start the web server and one worker through
dhportal/devserver.py; Ctrl-C stops both."""

import signal
import subprocess
import sys
import time
from urllib.request import urlopen

import pytest
from django.conf import settings
from django.db import connection, transaction

from dhportal.mail import SMTP_TIMEOUT
from members.models import NotificationKind
from members.notifications import notification_create
from tests.factories import MemberFactory
from tests.jobs import jobs, wait_for, worker_env
from tests.server import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def _workers() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_workers")
        return cursor.fetchone()[0]


def _healthy(port) -> bool:
    try:
        with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _alive(pid) -> bool:
    return subprocess.run(["ps", "-o", "pid=", "-g", str(pid)], capture_output=True).stdout != b""


def _devserver(port, smtp_port=None):
    """`make serve`'s devserver (gunicorn, one process) with its worker, on `port`."""
    gunicorn = [sys.executable, "-m", "gunicorn", "dhportal.wsgi", "-w", "1"]
    return subprocess.Popen(
        [sys.executable, "-m", "dhportal.devserver", *gunicorn, "-b", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env=worker_env(
            smtp_port,
            ALLOWED_HOSTS="127.0.0.1",
            DJANGO_SETTINGS_MODULE="tests.signup.server_settings",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_it_serves_with_one_worker_and_stops_both_on_ctrl_c(job_queue):
    port = free_port()
    process = _devserver(port)
    try:
        wait_for(lambda: _healthy(port) and _workers() == 1, timeout=60, what="site and worker")
        children = [
            int(pid)
            for pid in subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(process.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(children) == 2

        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert process.wait(timeout=30) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    time.sleep(0.2)
    assert not any(_alive(pid) for pid in children)  # web server, its workers, the worker
    assert not _healthy(port)
    assert _workers() == 0  # the worker stopped cleanly and unregistered


def _latest_worker_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_workers")
        return cursor.fetchone()[0]


def _worker_pid(devserver_pid: int) -> int:
    """The pid of the devserver's `manage.py worker` child."""
    ps = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(devserver_pid)], capture_output=True, text=True
    )
    [pid] = [line.split()[0] for line in ps.stdout.splitlines() if "manage.py worker" in line]
    return int(pid)


def test_it_starts_a_worker_that_died_again_and_keeps_serving_meanwhile(job_queue):
    port = free_port()
    process = _devserver(port)
    try:
        wait_for(lambda: _healthy(port) and _workers() == 1, timeout=60, what="site and worker")
        first_worker, first_pid = _latest_worker_id(), _worker_pid(process.pid)

        subprocess.run(["kill", "-KILL", str(first_pid)], check=True)  # the worker crashes
        served = []
        wait_for(
            lambda: served.append(_healthy(port)) or _latest_worker_id() > first_worker,
            timeout=60,
            what="a new worker",
        )
        assert process.poll() is None
        assert all(served), served  # the site answered all along
        assert _worker_pid(process.pid) != first_pid

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = process.stderr.read()
    assert "the worker exited with status -9; starting it again" in log, log


def test_it_stops_on_ctrl_c_while_a_job_waits_on_a_mail_server(job_queue, sink):
    member = MemberFactory()
    with transaction.atomic():
        notification_create(member=member, kind=NotificationKind.ACTIVATED, key="evt_1")
    sink.mode = "hold"  # the job waits on the mail server until its 30 s timeout
    port = free_port()
    process = _devserver(port, sink.port)
    try:
        assert sink.holding.wait(60), "the worker never reached the mail server"
        process.send_signal(signal.SIGINT)
        # Well before the job's own end: neither the worker nor the devserver waits for it.
        assert process.wait(timeout=SMTP_TIMEOUT - 10) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert sink.received == []
    assert [j["status"] for j in jobs()] == ["todo"]  # back in the queue
    assert _workers() == 0
