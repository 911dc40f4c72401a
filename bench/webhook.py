"""Benchmark: signed Stripe events through the real webhook view, served as `make serve`
serves the site (gunicorn, 2 workers, DEBUG off, HTTPS=false), from 20 concurrent
senders; then a trivial view (/healthz) served the same way in the same run, for the
ratio; then the SQL queries each event type costs.

    .venv/bin/python bench/webhook.py [--members 200] [--port 8102]

Uses BENCH_DATABASE_URL, or postgres://postgres@127.0.0.1:5432/dh_billing_bench (created and
migrated if missing). Prints figures; asserts nothing.
"""

import argparse
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from _setup import bench_environ, gunicorn_argv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dh_billing_bench"
SENDERS = 20
WORKERS = 2


def configure_env(port):
    bench_environ(
        DEFAULT_DB,
        STRIPE_WEBHOOK_SECRET="whsec_bench_" + secrets.token_hex(16),
    )


def ensure_database():
    import psycopg
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    params = {k: settings.DATABASES["default"][k] for k in ("HOST", "PORT", "USER")}
    with psycopg.connect(
        dbname="postgres",
        host=params["HOST"],
        port=params["PORT"] or 5432,
        user=params["USER"],
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def make_members(count):
    from billing.models import StripeEvent, Subscription
    from members import scaffolding
    from members.models import Member

    StripeEvent.objects.all().delete()
    Subscription.objects.all().delete()
    Member.objects.filter(email__startswith="bench-").delete()
    members = []
    for i in range(count):
        values = {c: scaffolding.default(c) for c in scaffolding.NULLABLE_COLUMNS}
        values["status"]["membership_status"] = "lapsed"
        members.append(Member(email=f"bench-{i}@example.org", username=f"bench{i}", **values))
    return Member.objects.bulk_create(members)


def member_events(member, index):
    from billing import simulate

    return simulate.build_events(
        member,
        ["checkout", "active", "invoice_paid", "past_due"],
        customer_id=f"cus_bench{index}",
        subscription_id=f"sub_bench{index}",
        product_id="prod_bench",
    )


def run_senders(port, jobs_per_sender):
    """Each sender sends its requests in order; returns (seconds, latencies, statuses)."""
    latencies, statuses, lock = [], {}, threading.Lock()
    barrier = threading.Barrier(len(jobs_per_sender) + 1)

    def sender(jobs):
        mine, codes = [], {}
        barrier.wait()
        for method, path, body, headers in jobs:
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            mine.append(time.perf_counter() - start)
            codes[response.status] = codes.get(response.status, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=sender, args=(jobs,)) for jobs in jobs_per_sender]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, statuses


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(label, seconds, latencies, statuses):
    rate = len(latencies) / seconds
    print(
        f"{label}: {len(latencies)} requests in {seconds:.2f} s = {rate:.0f}/s; "
        f"p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    return rate


def wait_for(port, server):
    deadline = time.time() + 30
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("gunicorn did not answer /healthz within 30 s")


def queries_per_event(secret):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing import simulate, webhook

    (member,) = make_members(1)
    counts = {}
    for payload in member_events(member, "q"):
        body, signature = simulate.signed(payload, secret)
        with CaptureQueriesContext(connection) as captured:
            webhook.receive(body.encode(), signature, secret)
        counts[payload["type"]] = len(captured)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--port", type=int, default=8102)
    args = parser.parse_args()
    configure_env(args.port)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from billing import simulate

    ensure_database()
    call_command("migrate", verbosity=0)
    secret = settings.STRIPE_WEBHOOK_SECRET
    members = make_members(args.members)

    jobs = [[] for _ in range(SENDERS)]
    for index, member in enumerate(members):
        for payload in member_events(member, index):
            body, signature = simulate.signed(payload, secret)
            headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
            jobs[index % SENDERS].append(("POST", "/billing/stripe/webhook/", body, headers))
    total = sum(len(j) for j in jobs)
    health = [[("GET", "/healthz", None, {})] * len(j) for j in jobs]

    from django.db import connections

    connections.close_all()
    server = subprocess.Popen(  # noqa: S603
        gunicorn_argv("127.0.0.1", args.port, WORKERS),
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(args.port, server)
        print(
            f"gunicorn {WORKERS} workers on 127.0.0.1:{args.port}, DEBUG off, HTTPS=false; "
            f"{SENDERS} concurrent senders; {args.members} members x 4 events = {total} events"
        )
        webhook_rate = report("webhook", *run_senders(args.port, jobs))
        health_rate = report("healthz", *run_senders(args.port, health))
    finally:
        server.terminate()
        server.wait(timeout=30)

    from billing.models import StripeEvent

    states = dict(
        StripeEvent.objects.filter(payload__data__object__customer__startswith="cus_bench")
        .values_list("state")
        .annotate(n=django.db.models.Count("id"))
    )
    print(f"stored event states: {states}")
    print(f"webhook / healthz throughput ratio: {webhook_rate / health_rate:.2f}")
    counts = queries_per_event(secret)
    per_type = ", ".join(f"{kind} {n}" for kind, n in counts.items())
    print(f"queries per event: {per_type}; mean {statistics.mean(counts.values()):.1f}")


if __name__ == "__main__":
    main()
