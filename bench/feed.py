"""Benchmark: the change feed through the real worker (`manage.py worker`,
DEBUG off) to loopback HTTP receivers (threaded http.server, in this process, always
answering 200), then the access list.

1,000 member changes across 200 members (each its own transaction, from a few threads,
as fast as this process makes them) are delivered by one worker to one endpoint, then
the same to three endpoints. Prints deliveries/s (first commit to last receipt), p50/p99
from a change's commit to its receipt, order violations (a receiver getting an older
snapshot of a member after a newer one) and duplicates (one event received twice at
one endpoint); both must be 0 (it exits 1 otherwise). Snapshots superseded before they
were sent (a newer one of the member got there first) are counted apart.

Then GET /api/v1/access/ with 5,000 active members, through gunicorn as `make serve`
runs it: p50 of a full answer and of a 304.

    .venv/bin/python bench/feed.py [--changes 1000] [--members 200] [--active 5000]

Uses BENCH_DATABASE_URL, or postgres://postgres@127.0.0.1:5432/dh_bench_feed, dropped
and created afresh.
"""

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
from _setup import bench_environ, gunicorn_argv, prepare_server, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dh_bench_feed"


class Receiver:
    """Answers 200 to everything; notes (receipt time, member, sequence, event id)."""

    def __init__(self):
        self.got: list[tuple[float, int, int, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                with receiver.lock:
                    receiver.got.append(
                        (now, body["member_id"], body["sequence"], body["event_id"])
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def configure_env() -> None:
    bench_environ(DEFAULT_DB)


def make_members(count: int, prefix: str, status: str, first_tag: int) -> list[int]:
    from members import scaffolding
    from members.models import Member

    members = []
    for i in range(count):
        values = {c: scaffolding.default(c) for c in scaffolding.NULLABLE_COLUMNS}
        values["status"]["membership_status"] = status
        values["access"]["rfid_tags"] = [f"{first_tag + i:010d}"]
        values["authorizations"]["authorizations"] = ["laser", "wood shop"]
        members.append(
            Member(email=f"{prefix}-{i}@example.org", username=f"{prefix}{i}"[:16], **values)
        )
    return [m.pk for m in Member.objects.bulk_create(members, batch_size=1000)]


def changes(member_ids: list[int], count: int, run: str, threads: int = 4) -> dict:
    """`count` username changes, spread over the members, one transaction each;
    returns the commit time of each (member id, username)."""
    from django.db import connection, transaction

    from members.models import Member

    committed = {}
    plan = [(member_ids[i % len(member_ids)], f"{run}{i}"[:16]) for i in range(count)]

    def make(items):
        for member_id, username in items:
            with transaction.atomic():
                Member.objects.filter(pk=member_id).update(username=username)
            committed[(member_id, username)] = time.time()
        connection.close()

    # Each member's changes stay in one thread, in order (as one writer at a time).
    by_thread = defaultdict(list)
    for member_id, username in plan:
        by_thread[member_id % threads].append((member_id, username))
    workers = [threading.Thread(target=make, args=(items,)) for items in by_thread.values()]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return committed


def reset_queue() -> None:
    from django.db import connection

    from integrations.models import Delivery, Endpoint

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_workers,"
            " procrastinate_periodic_defers"
        )
    Delivery.objects.all().delete()
    Endpoint.objects.all().delete()


def start_worker() -> subprocess.Popen:
    argv = [sys.executable, "manage.py", "worker"]
    return subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), stderr=subprocess.DEVNULL)


def wait_ready(timeout: float = 60) -> None:
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procrastinate_workers")
            if cursor.fetchone()[0] >= 1:
                return
        time.sleep(0.2)
    raise SystemExit("the worker did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def feed_run(member_ids: list[int], count: int, endpoints: int, timeout: float) -> bool:
    from django.db.models import Count

    from integrations.models import Delivery, DeliveryState, Endpoint, FeedEvent

    reset_queue()
    FeedEvent.objects.update(pumped=True)  # only this run's changes are delivered
    receivers = [Receiver() for _ in range(endpoints)]
    for n, receiver in enumerate(receivers):
        Endpoint.objects.create(name=f"bench{n}", url=receiver.url, secret=secrets.token_hex(16))
    worker = start_worker()
    worker_cpu = float("nan")
    try:
        wait_ready()
        started = time.time()
        committed = changes(member_ids, count, run=f"e{endpoints}-")
        produced = time.time()
        expected = count * endpoints
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            settled = Delivery.objects.filter(
                state__in=(DeliveryState.DELIVERED, DeliveryState.SUPERSEDED)
            ).count()
            if settled >= expected:
                break
            time.sleep(0.2)
        time.sleep(1)  # anything sent twice would arrive now
        cpu = psutil.Process(worker.pid).cpu_times()
        worker_cpu = cpu.user + cpu.system
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    states = dict(Delivery.objects.values_list("state").annotate(n=Count("id")).order_by())
    events = dict(
        FeedEvent.objects.filter(pumped=True, deliveries__isnull=False)
        .distinct()
        .values_list("pk", "snapshot__username")
    )
    latencies, duplicates, violations, received = [], 0, 0, 0
    last_at = started
    for receiver in receivers:
        with receiver.lock:
            got = sorted(receiver.got)
        seen, newest = set(), {}
        for at, member_id, sequence, event_id in got:
            received += 1
            last_at = max(last_at, at)
            if event_id in seen:
                duplicates += 1
            seen.add(event_id)
            if sequence < newest.get(member_id, 0):
                violations += 1
            newest[member_id] = max(sequence, newest.get(member_id, 0))
            commit = committed.get((member_id, events.get(event_id)))
            if commit is not None:
                latencies.append((at - commit) * 1000)
    elapsed = last_at - started
    settled = states.get("delivered", 0) + states.get("superseded", 0)
    print(
        f"{endpoints} endpoint{'s' if endpoints > 1 else ''}: {count} changes"
        f" ({count / (produced - started):.0f}/s committed) -> {received} POSTs received,"
        f" {settled}/{count * endpoints} deliveries settled in {elapsed:.1f} s"
        f" = {settled / elapsed:.0f} deliveries/s ({received / elapsed:.0f} POSTs/s);"
        f" commit -> receipt p50 {statistics.median(latencies):.0f} ms,"
        f" p99 {percentile(latencies, 99):.0f} ms; order violations {violations},"
        f" duplicates {duplicates}; states {states}; worker CPU"
        f" {worker_cpu * 1000 / max(received, 1):.1f} ms per POST"
    )
    return violations == 0 and duplicates == 0 and settled == count * endpoints


def access_run(active: int, requests: int) -> None:
    from integrations.services import access_key_create

    make_members(active, "act", "active", first_tag=1_000_000)
    # Two keys: each stays under the limit per key (120 a minute).
    key = access_key_create(name=f"bench-{secrets.token_hex(4)}")[1]
    key_304 = access_key_create(name=f"bench-{secrets.token_hex(4)}")[1]
    env = dict(os.environ)
    port = 8131
    server = subprocess.Popen(
        gunicorn_argv("127.0.0.1", port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)

        def timed(headers):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            began = time.perf_counter()
            conn.request("GET", "/api/v1/access/", headers=headers)
            response = conn.getresponse()
            body = response.read()
            ms = (time.perf_counter() - began) * 1000
            conn.close()
            return response.status, response.getheader("ETag"), body, ms

        auth = {"Authorization": f"Bearer {key}"}
        status, etag, body, _ = timed(auth)
        assert status == 200, status
        listed = len(json.loads(body)["members"])
        full = [timed(auth)[3] for _ in range(requests)]
        cached = []
        for _ in range(requests):
            status, _, _, ms = timed({"Authorization": f"Bearer {key_304}", "If-None-Match": etag})
            assert status == 304, status
            cached.append(ms)
        print(
            f"access list: {listed} members ({len(body) / 1024:.0f} KiB), p50"
            f" {statistics.median(full):.1f} ms (p99 {percentile(full, 99):.1f});"
            f" with If-None-Match (304) p50 {statistics.median(cached):.1f} ms"
            f" (p99 {percentile(cached, 99):.1f})"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--active", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    configure_env()
    recreate_database(os.environ["DATABASE_URL"])
    prepare_server(dict(os.environ))
    import django

    django.setup()
    ok = True
    member_ids = make_members(args.members, "feed", "active", first_tag=1)
    for endpoints in (1, 3):
        ok = feed_run(member_ids, args.changes, endpoints, args.timeout) and ok
    access_run(args.active, args.requests)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
