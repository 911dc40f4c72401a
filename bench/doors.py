"""Benchmark: door events in, the entry log, and the access list's 304, through
gunicorn as `make serve` runs it (2 workers, DEBUG off, HTTPS=false).

1. 900,000 door events of the last year are loaded in SQL (with their receipts), then
   100,000 more are POSTed to /api/v1/door-events/ in batches of 500 from 4 client
   threads, then the same 100,000 again (all duplicates).
2. The entry log's first admin page (Integrations > Door events), as a superuser, at
   the 1,000,000 events that makes.
3. /api/v1/access/ with 5,000 and then 50,000 active members: p50 of a full answer and
   of a 304 (If-None-Match), next to /healthz's p50 in the same minute.

Prints, among the details, these lines (other tools read them):

    ingest: <n> events/s
    resend: <k> new
    entry log p50: <ms> ms
    304/healthz: <ratio> at 5000, <ratio> at 50000

    .venv/bin/python bench/doors.py [--requests 100]

Uses BENCH_DATABASE_URL, or postgres://postgres@127.0.0.1:5432/dh_bench_doors, dropped
and created afresh; CACHE_URL is Redis at 127.0.0.1:6379/14 when it answers.
"""

import argparse
import datetime
import http.client
import json
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

from _setup import bench_environ, fresh_redis, prepare_server, recreate_database, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dh_bench_doors"
REDIS_URL = "redis://127.0.0.1:6379/14"
HOST, PORT = "127.0.0.1", 8143
LOADED = 900_000
INGESTED = 100_000
BATCH = 500
THREADS = 4
DOORS = ("front", "back", "shop", "laser", "office")


def configure_env() -> None:
    bench_environ(
        DEFAULT_DB,
        CACHE_URL=REDIS_URL if fresh_redis(REDIS_URL) else "locmemcache://bench-doors",
    )


class Connection:
    """One keep-alive connection to the server."""

    def __init__(self):
        self.conn = http.client.HTTPConnection(HOST, PORT, timeout=120)

    def request(self, method, path, body=None, headers=None):
        began = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, response, data, (time.perf_counter() - began) * 1000


def p50(values) -> float:
    return statistics.median(values)


# --- data ---------------------------------------------------------------------------


def make_members(count: int, first: int) -> None:
    from members import scaffolding
    from members.models import Member

    rows = []
    for i in range(first, first + count):
        values = {c: scaffolding.default(c) for c in scaffolding.NULLABLE_COLUMNS}
        values["status"]["membership_status"] = "active"
        values["access"]["rfid_tags"] = [f"{i:010d}"]
        values["authorizations"]["authorizations"] = ["laser", "wood shop"]
        rows.append(Member(email=f"m{i}@example.org", username=f"m{i}"[:16], **values))
        if len(rows) == 2000:
            Member.objects.bulk_create(rows)
            rows = []
    if rows:
        Member.objects.bulk_create(rows)


def load_events(count: int) -> None:
    """A year of door events in SQL, as the API would have stored them."""
    from django.db import connection

    from integrations import doors

    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=365)
    months, month = [], doors.month_of(start)
    while month <= doors.month_of(now):
        months.append(month)
        month = datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    doors.ensure_partitions(months)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO integrations_doorevent
                (key_id, event_id, door, tag, at, granted, member_id, received_at)
            SELECT NULL, 'dh-' || g, (%s::text[])[1 + g %% 5],
                   lpad((1 + (g * 7919) %% 5200)::text, 10, '0'),
                   %s::timestamptz + (g::float / %s) * (%s::timestamptz - %s::timestamptz),
                   g %% 20 <> 0, t.member_id, now()
            FROM generate_series(1::bigint, %s) AS g
            LEFT JOIN members_rfidtag AS t ON t.tag = lpad((1 + (g * 7919) %% 5200)::text, 10, '0')
            """,
            [list(DOORS), start, count, now - datetime.timedelta(hours=1), start, count],
        )
        cursor.execute(
            "INSERT INTO integrations_dooreventreceipt (key_id, event_id, at)"
            " SELECT key_id, event_id, at FROM integrations_doorevent"
        )
        cursor.execute("VACUUM ANALYZE integrations_doorevent")
        cursor.execute("VACUUM ANALYZE integrations_dooreventreceipt")


# --- 1. ingest ------------------------------------------------------------------------


def batches(count: int) -> list[bytes]:
    now = datetime.datetime.now(datetime.UTC)
    bodies = []
    for first in range(0, count, BATCH):
        events = [
            {
                "id": f"ctl-{n}",
                "door": DOORS[n % 5],
                "tag": f"{1 + (n * 104729) % 5200}",
                "at": (now - datetime.timedelta(seconds=count - n)).isoformat(),
                "granted": n % 20 != 0,
            }
            for n in range(first, min(first + BATCH, count))
        ]
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def post_all(bodies: list[bytes], key: str) -> tuple[float, int]:
    """All batches from THREADS threads; (seconds, events stored new)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    new, errors, lock = [0], [], threading.Lock()
    parts = [bodies[i::THREADS] for i in range(THREADS)]

    def send(part):
        conn = Connection()
        for body in part:
            status, _, data, _ = conn.request("POST", "/api/v1/door-events/", body, headers)
            with lock:
                if status != 200:
                    errors.append((status, data[:200]))
                else:
                    new[0] += json.loads(data)["new"]

    threads = [threading.Thread(target=send, args=(part,)) for part in parts]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"{len(errors)} batches refused, e.g. {errors[0]}")
    return elapsed, new[0]


# --- 2. the entry log -----------------------------------------------------------------


def staff_cookie() -> str:
    from django.test import Client

    from members.models import User

    user = User.objects.create_superuser("bench-staff", "bench-staff@example.org", None)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def entry_log(requests: int) -> list[float]:
    conn = Connection()
    headers = {"Cookie": staff_cookie()}
    status, _, body, _ = conn.request("GET", "/admin/integrations/doorevent/", headers=headers)
    if status != 200 or b"door events" not in body:
        raise SystemExit(f"the entry log answered {status}")
    return [
        conn.request("GET", "/admin/integrations/doorevent/", headers=headers)[3]
        for _ in range(requests)
    ]


# --- 3. the access list -----------------------------------------------------------------


def access_list(requests: int) -> tuple[float, float, float, int]:
    """p50 of a full answer, of a 304 and of /healthz, interleaved; members listed."""
    from integrations.services import access_key_create

    # One key per kind: each stays under the limit per key (120 a minute).
    full_key = access_key_create(name=f"bench-full-{secrets.token_hex(4)}")[1]
    cached_key = access_key_create(name=f"bench-304-{secrets.token_hex(4)}")[1]
    conn = Connection()
    status, response, body, _ = conn.request(
        "GET", "/api/v1/access/", headers={"Authorization": f"Bearer {full_key}"}
    )
    assert status == 200, status
    etag = response.getheader("ETag")
    listed = len(json.loads(body)["members"])
    full, cached, health = [], [], []
    for _ in range(requests):
        health.append(conn.request("GET", "/healthz")[3])
        status, _, _, ms = conn.request(
            "GET",
            "/api/v1/access/",
            headers={"Authorization": f"Bearer {cached_key}", "If-None-Match": etag},
        )
        assert status == 304, status
        cached.append(ms)
        if len(full) < requests // 2:
            status, _, _, ms = conn.request(
                "GET", "/api/v1/access/", headers={"Authorization": f"Bearer {full_key}"}
            )
            assert status == 200, status
            full.append(ms)
    return p50(full), p50(cached), p50(health), listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    configure_env()
    recreate_database(os.environ["DATABASE_URL"])
    prepare_server(dict(os.environ))
    import django

    django.setup()
    from integrations.models import DoorEvent
    from integrations.services import access_key_create

    began = time.perf_counter()
    make_members(5_000, first=1)
    load_events(LOADED)
    print(f"loaded {LOADED} events and 5000 members in {time.perf_counter() - began:.0f} s")

    server = start_gunicorn(dict(os.environ), HOST, PORT)
    try:
        key = access_key_create(name="bench door", scopes=["door-events:write"])[1]
        bodies = batches(INGESTED)
        seconds, new = post_all(bodies, key)
        print(f"ingested {new} new of {INGESTED} in {seconds:.2f} s ({THREADS} clients)")
        print(f"ingest: {INGESTED / seconds:.0f} events/s")
        seconds, new = post_all(bodies, key)
        print(f"resent {INGESTED} in {seconds:.2f} s ({INGESTED / seconds:.0f} events/s)")
        print(f"resend: {new} new")

        total = DoorEvent.objects.count()
        times = entry_log(args.requests // 2)
        print(f"entry log at {total} events: p95 {sorted(times)[int(len(times) * 0.95)]:.0f} ms")
        print(f"entry log p50: {p50(times):.0f} ms")

        ratios = []
        for size in (5_000, 50_000):
            if size > 5_000:
                make_members(size - 5_000, first=5_001)
            full, cached, health, listed = access_list(args.requests)
            ratios.append(cached / health)
            print(
                f"access list, {listed} members: full p50 {full:.1f} ms, 304 p50"
                f" {cached:.2f} ms, /healthz p50 {health:.2f} ms"
            )
        print(f"304/healthz: {ratios[0]:.2f} at 5000, {ratios[1]:.2f} at 50000")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
