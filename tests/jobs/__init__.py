"""Helpers for tests of background jobs: a real SMTP server on a loopback port
(aiosmtpd) and the real worker (`manage.py worker`, a subprocess on the
test database) run until the queue is empty.

The worker only sees committed jobs, so tests that run it are `transaction=True`.
procrastinate's tables are not Django-managed, so the test database flush leaves them;
`clear_queue()` empties them around such tests (the `job_queue` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection

from tests.dburl import test_database_url
from tests.server import free_port

SEND_TASK = "members.tasks.send_notification"
SIGNUP_TASK = "signup.tasks.send_signup_mail"
WORKER_SETTINGS = "tests.jobs.worker_settings"


@dataclass
class Received:
    at: float
    to: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part.get_content()
        raise LookupError(content_type)


@dataclass
class SmtpSink:
    """What a mail server on 127.0.0.1:`port` answers, set by `mode`:
    "accept" (250, the mail is recorded), "4xx" (451), "5xx" (554), or "hold" (wait
    until `release()`, then 451: a send cut short records nothing). `stop()` closes
    the port (connection refused) and `start()` opens it again."""

    port: int = field(default_factory=free_port)
    mode: str = "accept"
    received: list[Received] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        if self.mode == "4xx":
            return "451 4.3.0 Mail server busy, try again later"
        if self.mode == "5xx":
            return "554 5.3.0 Message refused"
        if self.mode == "hold":
            self.holding.set()
            while not self._released.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 Cut short"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(Received(time.time(), list(envelope.rcpt_tos), message))
        return "250 2.0.0 OK"

    def release(self) -> None:
        self._released.set()

    def start(self) -> SmtpSink:
        self._released.clear()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self.release()
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.to]


@contextlib.contextmanager
def smtp_sink():
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


def worker_env(smtp_port: int | None = None, **environ) -> dict:
    """The environment of a worker process on the test database: production settings
    (tests/jobs/worker_settings.py), mail to the sink, links to the test client's host."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "DATABASE_URL": test_database_url(),
        "SECRET_KEY": "worker-test-key",
        "DEBUG": "off",
        "HTTPS": "false",
        "CONN_MAX_AGE": "0",
        "SITE_URL": "http://testserver",
        "SITE_NAME": "Test Space",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port or free_port()}",
        "LOG_LEVEL": "INFO",
        **environ,
    }


def _argv(*options: str) -> list[str]:
    return [sys.executable, "manage.py", "worker", *options]


def _due_jobs() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
            " AND (scheduled_at IS NULL OR scheduled_at <= now())"
        )
        return cursor.fetchone()[0]


def run_worker(smtp_port: int | None = None, *, timeout: float = 60, **environ) -> str:
    """Run the real worker until no job is due; return its log. A `--one-shot` worker
    stops when it finds no job to start, which can be while a running job (a retry of
    stalled jobs) is still making one due, so it runs again while any is."""
    logs = []
    for _ in range(5):
        result = subprocess.run(
            _argv("--one-shot"),
            cwd=settings.BASE_DIR,
            env=worker_env(smtp_port, **environ),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        logs.append(result.stderr)
        assert result.returncode == 0, result.stderr[-4000:]
        if not _due_jobs():
            break
    return "\n".join(logs)


def start_worker(smtp_port: int | None = None, *options: str, **environ) -> subprocess.Popen:
    """A real worker that waits for jobs, until `stop_worker` stops or kills it (which
    returns its log, kept in a temporary file rather than a pipe that could fill)."""
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by stop_worker
    process = subprocess.Popen(
        _argv(*options),
        cwd=settings.BASE_DIR,
        env=worker_env(smtp_port, **environ),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    process.log = log  # type: ignore[attr-defined]
    return process


def stop_worker(process: subprocess.Popen, *, kill: bool = False) -> str:
    if process.poll() is None:
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Never left running: it would take the next test's jobs on this database.
            process.kill()
            process.wait(timeout=30)
    log = process.log  # type: ignore[attr-defined]
    log.seek(0)
    text = log.read()
    log.close()
    return text


def jobs(task_name: str | None = SEND_TASK) -> list[dict]:
    """The job rows (id, status, attempts, args, scheduled_at), oldest first."""
    query = (
        "SELECT id, status, attempts, args, scheduled_at, task_name, queue_name"
        " FROM procrastinate_jobs"
    )
    params = []
    if task_name:
        query += " WHERE task_name = %s"
        params.append(task_name)
    with connection.cursor() as cursor:
        cursor.execute(query + " ORDER BY id", params)
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:  # Django's connection leaves jsonb as text
        row["args"] = json.loads(row["args"]) if isinstance(row["args"], str) else row["args"]
    return rows


def run_in_process(job: dict, *, attempts: int | None = None):
    """Run a deferred job's task here, as a worker would: the task found by the job's
    name, called with the job's own arguments (so only what the job row carries)."""
    from procrastinate import job_context
    from procrastinate import jobs as procrastinate_jobs
    from procrastinate.contrib.django import app

    task = app.tasks[job["task_name"]]
    running = procrastinate_jobs.Job(
        id=job["id"],
        queue=job["queue_name"],
        lock=None,
        queueing_lock=None,
        task_name=job["task_name"],
        task_kwargs=job["args"],
        attempts=job["attempts"] if attempts is None else attempts,
    )
    context = job_context.JobContext(
        app=app, job=running, start_timestamp=time.time(), abort_reason=lambda: None
    )
    return task(*([context] if task.pass_context else []), **job["args"])


def deliver_in_process(task_name: str | None = None) -> list:
    """Run every due job (of `task_name`, or all) here, as a worker would, and delete
    each afterwards (a worker with delete_jobs="always"); returns their results. For
    tests that read mail.outbox without starting the real worker."""
    results = []
    for job in jobs(task_name):
        if job["status"] != "todo":
            continue
        results.append(run_in_process(job))
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [job["id"]])
    return results


def send_signup_mails() -> list:
    """Run the queued signup step-1 mail jobs here (see deliver_in_process)."""
    return deliver_in_process(SIGNUP_TASK)


def clear_queue() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
            "procrastinate_workers"
        )


def wait_for(condition, *, timeout: float = 30, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
