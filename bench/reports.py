"""Benchmark: the reports page and /metrics at the scale of a large space (README
"Reports and metrics").

Loads, in plain SQL (triggers off while loading), 100,000 member rows with 1,000,000
audit-history rows over three years (statuses that change, NULL and odd ones, 1% merged
away, 0.5% erased) and 1,000,000 door events over a year, then times requests through
Django's whole request cycle (test client, production settings): the median (p50) of
the reports page and of /metrics, against the admin index in the same run.

    .venv/bin/python bench/reports.py [--scale 0.1] [--runs 7]

Goals: the page at most 1 s, /metrics at most 100 ms. Uses BENCH_DATABASE_URL, or
postgres://postgres@127.0.0.1:5432/dh_bench_reports, dropped and created afresh.
"""

import argparse
import datetime
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

from _setup import ROOT, recreate_database

URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dh_bench_reports")
MEMBERS, HISTORY, DOOR_EVENTS = 100_000, 1_000_000, 1_000_000
STATUSES = (
    "ARRAY['pending','active','active','active','lapsed','suspended','banned',' Active ','Gold']"
)


def setup_django() -> None:
    os.environ.update(
        DATABASE_URL=URL,
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
        ALLOWED_HOSTS="testserver",
        HTTPS="false",
        STAFF_REQUIRE_MFA="false",
        DJANGO_SETTINGS_MODULE="dhportal.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def load(members: int, history: int, door_events: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from integrations.doors import ensure_partitions, month_of

    call_command("migrate", "--noinput", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=3 * 365)
    updates = history - members
    with connection.cursor() as c:
        c.execute("SET session_replication_role = replica")  # no triggers while loading
        c.execute(
            "INSERT INTO members_member (id, email, username, billing_ref, identity, status,"
            " connections, forms, notes, access, authorizations, extras, date_added,"
            " date_modified)"
            " SELECT g, 'm' || g || '@example.org', 'm' || g, 'ref' || g, '{}',"
            f" CASE WHEN g %% 50 = 0 THEN NULL ELSE jsonb_build_object('membership_status',"
            f" ({STATUSES})[1 + (g * 7) %% 9]) END,"
            " '{}', '{}', CASE WHEN g %% 40 = 0 THEN NULL ELSE '[]'::jsonb END, '{}', '{}',"
            " '{}', %s + (g::float / %s) * interval '1095 days', now()"
            " FROM generate_series(1, %s) AS g",
            [start, members, members],
        )
        c.execute("UPDATE members_member SET merged_into_id = id - 1 WHERE id % 100 = 0")
        c.execute("SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [members])
        # One insert event per row, then the updates spread over the rows and the years.
        c.execute(
            "INSERT INTO members_memberevent (pgh_created_at, pgh_label, pgh_obj_id, id,"
            " email, username, billing_ref, identity, status, connections, forms, notes,"
            " access, authorizations, extras, date_added, date_modified, merged_into_id)"
            " SELECT date_added, 'insert', id, id, email, username, billing_ref, identity,"
            " status, connections, forms, notes, access, authorizations, extras, date_added,"
            " date_modified, NULL FROM members_member"
        )
        c.execute(
            "INSERT INTO members_memberevent (pgh_created_at, pgh_label, pgh_obj_id, id,"
            " email, username, billing_ref, identity, status, connections, forms, notes,"
            " access, authorizations, extras, date_added, date_modified, merged_into_id)"
            " SELECT m.date_added + ((g / %s)::float + 1) / (%s::float / %s + 2)"
            " * (now() - m.date_added), 'update', m.id, m.id, m.email, m.username,"
            " m.billing_ref, m.identity,"
            f" jsonb_build_object('membership_status', ({STATUSES})[1 + (g * 13) %% 9]),"
            " m.connections, m.forms, m.notes, m.access, m.authorizations, m.extras,"
            " m.date_added, m.date_modified, NULL"
            " FROM generate_series(0, %s - 1) AS g"
            " JOIN members_member AS m ON m.id = 1 + g %% %s",
            [members, updates, members, updates, members],
        )
        c.execute(
            "INSERT INTO members_erasurerequest (member_id, requested_at, erased_at)"
            " SELECT id, now() - interval '30 days', now() - interval '20 days'"
            " FROM members_member WHERE id % 200 = 7"
        )
        c.execute("SET session_replication_role = origin")
    first = now - datetime.timedelta(days=365)
    months = []
    month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month <= now:
        months.append(month_of(month))
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    ensure_partitions(months)
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO integrations_doorevent (event_id, door, tag, at, granted, member_id,"
            " received_at)"
            " SELECT 'ev-' || g, (ARRAY['front','back','shop'])[1 + g %% 3],"
            " lpad((1 + g %% 5000)::text, 10, '0'), %s + (g::float / %s) * interval '365 days',"
            " g %% 20 <> 0, 1 + g %% %s, now() FROM generate_series(1, %s) AS g",
            [first, door_events, members, door_events],
        )
        c.execute("ANALYZE")


def p50(fn, runs: int) -> float:
    fn()  # warm up: the first request loads templates and plans
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def measure(runs: int) -> dict[str, float]:
    from django.conf import settings
    from django.contrib.auth.models import Permission
    from django.test import Client

    from integrations.services import access_key_create
    from members.models import User

    settings.INTEGRATIONS_METRICS_RATE_LIMIT = "1000000/60"
    user = User.objects.create_user(
        username="bench", email="bench@example.org", password=None, is_staff=True
    )
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_reports", "view_member"])
    )
    client = Client()
    client.force_login(user)
    key = access_key_create(name="bench", scopes=["metrics:read"])[1]

    def get(path, **headers):
        response = client.get(path, **headers)
        assert response.status_code == 200, (path, response.status_code)

    from django.core.cache import cache

    def cold():
        cache.clear()  # the history's passes are cached for a few minutes: read afresh
        get("/admin/reports/")

    return {
        "admin index (baseline)": p50(lambda: get("/admin/"), runs),
        "reports page, history cached": p50(lambda: get("/admin/reports/"), runs),
        "reports page, cold": p50(cold, runs),
        "/metrics": p50(lambda: get("/metrics", HTTP_AUTHORIZATION=f"Bearer {key}"), runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    members, history, doors = (int(n * args.scale) for n in (MEMBERS, HISTORY, DOOR_EVENTS))
    recreate_database(URL)
    setup_django()
    began = time.perf_counter()
    load(members, history, doors)
    print(
        f"loaded {members:,} members, {history:,} history rows, {doors:,} door events"
        f" in {time.perf_counter() - began:.0f} s"
    )
    results = measure(args.runs)
    baseline = results["admin index (baseline)"]
    for name, seconds in results.items():
        print(
            f"{name:28} p50 {seconds * 1000:8.1f} ms  ({seconds / baseline:5.1f}x the admin index)"
        )
    print("goals: reports page <= 1000 ms, /metrics <= 100 ms")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    main()
