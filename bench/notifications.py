"""Benchmark: lifecycle mails through the real worker (`manage.py procrastinate
worker`, DEBUG off) to a loopback SMTP server (aiosmtpd, in this process).

1,000 members each get a transition (their notification queued with its job, one
transaction each, as the webhook does), made at a steady --rate (25/s) while one worker
delivers: p50/p99 latency from a transition's commit to the SMTP server's acceptance of
its mail. Then 1,000 notifications queued first and
delivered by a worker started afterwards: mails/s alone. Then both with 2 workers.
Duplicates and lost mails must be 0 (it exits 1 otherwise).

    .venv/bin/python bench/notifications.py [--count 1000] [--workers 1 2]

Uses BENCH_DATABASE_URL, or postgres://postgres@127.0.0.1:5432/dh_bench_notifications,
dropped and created afresh.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from _setup import bench_environ, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dh_bench_notifications"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """An SMTP server that accepts everything and notes when each mail arrived."""

    def __init__(self):
        self.accepted: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        now = time.time()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.accepted.append((now, rcpt))
        return "250 2.0.0 OK"


def configure_env(smtp_port: int) -> None:
    bench_environ(
        DEFAULT_DB,
        SITE_URL="http://127.0.0.1:8000",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
    )


def make_members(count: int) -> list[int]:
    from members import scaffolding
    from members.models import Member

    members = []
    for i in range(count):
        values = {c: scaffolding.default(c) for c in scaffolding.NULLABLE_COLUMNS}
        values["status"]["membership_status"] = "active"
        members.append(Member(email=f"bench-{i}@example.org", username=f"bench{i}", **values))
    return [m.pk for m in Member.objects.bulk_create(members)]


def transitions(member_ids: list[int], run: str, rate: float = 0) -> dict[str, float]:
    """One transaction per member, as the webhook's: lock the row, queue the mail; at
    `rate` per second (0: as fast as possible). Returns the commit time of each
    member's transition, by address."""
    from django.db import transaction

    from members.models import Member, NotificationKind
    from members.notifications import notification_create

    committed = {}
    start = time.monotonic()
    for n, member_id in enumerate(member_ids):
        if rate:
            pause = start + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        with transaction.atomic():
            member = Member.objects.select_for_update().only("email").get(pk=member_id)
            key = f"{run}-{member_id}"
            notification_create(member=member, kind=NotificationKind.LAPSED, key=key)
        committed[member.email] = time.time()
    return committed


def start_workers(count: int) -> list[subprocess.Popen]:
    argv = [sys.executable, "manage.py", "worker"]
    return [
        subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]


def wait_ready(count: int, timeout: float = 60) -> None:
    """Until `count` workers have registered in the database."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procrastinate_workers")
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.2)
    raise SystemExit("the workers did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _reset(sink: Sink) -> None:
    from django.db import connection

    from members.models import Notification

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_workers,"
            " procrastinate_periodic_defers"
        )
    Notification.objects.all().delete()
    with sink.lock:
        sink.accepted.clear()


def _wait_delivered(sink: Sink, count: int, timeout: float) -> list[tuple[float, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sink.lock:
            if len(sink.accepted) >= count:
                break
        time.sleep(0.1)
    time.sleep(1)  # anything sent twice would arrive now
    with sink.lock:
        return list(sink.accepted)


def _stop(processes) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def _check(accepted, committed) -> tuple[int, int, dict[str, float]]:
    per_address = Counter(address for _, address in accepted)
    duplicates = sum(n - 1 for n in per_address.values() if n > 1)
    lost = sum(1 for address in committed if per_address[address] == 0)
    first: dict[str, float] = {}
    for at, address in sorted(accepted):
        first.setdefault(address, at)
    return duplicates, lost, first


def run(sink: Sink, member_ids: list[int], workers: int, timeout: float, rate: float) -> bool:
    """Two passes: transitions made at `rate` while the workers run (latency), then a
    backlog of queued notifications for workers started afterwards (delivery rate)."""
    from members.models import Notification

    label = f"{workers} worker{'s' if workers > 1 else ''}"
    _reset(sink)
    processes = start_workers(workers)
    try:
        wait_ready(workers)
        started = time.time()
        committed = transitions(member_ids, run=f"live{workers}", rate=rate)
        produced = time.time()
        accepted = _wait_delivered(sink, len(member_ids), timeout)
    finally:
        _stop(processes)
    live_dup, live_lost, first = _check(accepted, committed)
    latencies = [(first[a] - committed[a]) * 1000 for a in committed if a in first]
    elapsed = max(first.values()) - started
    print(
        f"{label}, live: {len(first)} mails in {elapsed:.1f} s = {len(first) / elapsed:.1f}"
        f" mails/s while transitions came at {len(member_ids) / (produced - started):.0f}/s;"
        f" transition -> SMTP acceptance p50 {statistics.median(latencies):.0f} ms,"
        f" p99 {percentile(latencies, 99):.0f} ms; duplicates {live_dup}, lost {live_lost}"
    )
    live_sent = Notification.objects.filter(state="sent").count()

    _reset(sink)
    committed = transitions(member_ids, run=f"backlog{workers}")
    processes = start_workers(workers)
    try:
        wait_ready(workers)
        accepted = _wait_delivered(sink, len(member_ids), timeout)
    finally:
        _stop(processes)
    dup, lost, first = _check(accepted, committed)
    span = max(first.values()) - min(first.values())
    states = Counter(Notification.objects.values_list("state", flat=True))
    print(
        f"{label}, backlog: {len(first)} queued mails delivered in {span:.1f} s ="
        f" {len(first) / span:.1f} mails/s (first to last acceptance); duplicates {dup},"
        f" lost {lost}; notifications {dict(states)}"
    )
    return live_dup == live_lost == dup == lost == 0 and live_sent == len(member_ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--rate", type=float, default=25, help="live transitions per second")
    args = parser.parse_args()

    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    configure_env(controller.port)
    recreate_database(os.environ["DATABASE_URL"])
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )

    import django

    django.setup()
    member_ids = make_members(args.count)
    print(
        f"{args.count} members; each transition queues one notification and its job; "
        f"workers mail 127.0.0.1:{controller.port} (aiosmtpd)"
    )
    ok = True
    try:
        for workers in args.workers:
            ok &= run(sink, member_ids, workers, args.timeout, args.rate)
    finally:
        controller.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
