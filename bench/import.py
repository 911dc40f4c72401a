"""Benchmark: import_deepharbor on generated Deep Harbor databases.

Run from the project root:

    .venv/bin/python bench/import.py [--sizes 10000 50000]

It builds a Deep Harbor database per size (the schema of tests/legacy/deepharbor.sql;
5% of the members repeat an earlier address in another spelling, 10% are partial, and
every drift of README, "Moving from Deep Harbor" occurs), imports each into a fresh, migrated portal
database (BENCH_DATABASE_URL, default the local PostgreSQL's `dh_bench_import`; never
DATABASE_URL), each in its own process so its peak RSS is its own, then imports it again.
Prints rows/s, wall time, the import process's CPU time and peak RSS per size, the
columns it completed (Deep Harbor's NULL ones, filled by the scaffolding function), and
the rerun's time and writes.
Goals: 10,000 rows in <= 30 s, peak RSS within 20 MB between the sizes, a rerun in
<= 5 s writing nothing.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from _setup import recreate_database

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = (ROOT / "tests/legacy/deepharbor.sql").read_text().split("-- rows", 1)[0]
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dh_bench_import"
)
DUPLICATE_EVERY = 20  # 5%: an earlier member's address, in another case and spacing
PARTIAL_EVERY = 10  # 10%: a failed signup's NULL columns, or no membership_status
STATUSES = ("Active", "active", "Inactive", "inactive", "pending", "suspended", "banned")


def _url(name: str) -> str:
    return urlsplit(DATABASE_URL)._replace(path=f"/{name}").geturl()


def deepharbor_row(i: int) -> tuple:
    """Member i, in one of the shapes Deep Harbor's code and data hold."""
    email_of = i - DUPLICATE_EVERY // 2 if i % DUPLICATE_EVERY == 0 and i > 10 else i
    address = f"member{email_of}@example.org"
    if email_of != i:
        address = f"  Member{email_of}@EXAMPLE.org "
    username = (f"user{i}", f"User{i - 1}", f"bad name {i}", "")[0 if i % 17 else (i // 17) % 4]
    identity = {
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "nickname": f"nick{i}" if i % 3 else "",
        "birthday": ("1990-01-02", "n/a", "", "02/01/1990")[i % 4],
        "active_directory_username": username,
        "emails": [] if i % 97 == 0 else [{"type": "primary", "email_address": address}],
    }
    if i % 11 == 0:  # the primary is not the first address
        identity["emails"].insert(0, {"type": "work", "email_address": f"w{i}@work.example"})
    if i % 2:  # made by Deep Harbor's signup
        connections = {"phone": "312-555-0100", "discord_handle": f"d{i}"}
        forms = {
            "waiver_signed_at": ("2021-03-04", "", "n/a")[i % 3],
            "terms_of_use_accepted": "true",
            "is_21_or_older": "false",
            "essentials_forms_completed_date": "2021-03-05",
        }
        notes = [{"note": "Signed up", "from": "signup", "timestamp": "2021-03-04T10:00:00"}]
    else:  # seed-style, by staff
        connections = {"phone": "312-555-0101", "discord_username": f"d{i}", "stripe_id": f"c{i}"}
        forms = {"id_check_date": "2020-05-01", "id_check_by": max(i - 5, 1)}
        notes = {"notes": [{"date": "2020-05-01", "author": "admin", "text": f"note {i}"}]}
        if i % 4 == 0:  # both note shapes in one list
            notes = [notes["notes"][0], {"note": "new", "from": "staff", "timestamp": None}]
    status = {
        "membership_status": STATUSES[i % len(STATUSES)],
        "membership_level": "Stripe Member - $65",
        "member_since": ("2020-01-01", "01/01/2020")[i % 2],
    }
    # Short tags; every 50th member holds a tag another member has.
    tags = [str(i), str(1_000_000 + i)] if i % 50 else [str(i - 1)]
    access = {"rfid_tags": tags}
    authorizations = {"authorizations": ["Laser Cutter"], "computer_authorizations": []}
    extras = {"storage_id": None, "storage_area": None}
    if i % PARTIAL_EVERY == 3:
        kind = (i // PARTIAL_EVERY) % 3
        if kind == 0:  # a failed signup: status and the four scaffolding columns NULL
            status = notes = access = authorizations = extras = None
        elif kind == 1:  # membership_status null, Stripe keys present
            status = {"membership_status": None, "stripe_customer_id": f"cus_{i}"}
        else:
            extras = None
    columns = (identity, connections, status, forms, access, authorizations, extras, notes)
    return (i, *(None if c is None else json.dumps(c) for c in columns))


def build_source(size: int) -> str:
    url = _url(f"{urlsplit(DATABASE_URL).path.lstrip('/')}_source_{size}")
    recreate_database(url)
    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        conn.execute(
            """INSERT INTO products (name, details) VALUES
               ('Stripe Member - $65', '{"stripe_product_id": "prod_full65"}')"""
        )
        conn.execute(
            """INSERT INTO available_authorizations (name, requires_login) VALUES
               ('Laser Cutter', false), ('Wiki Admin', true)"""
        )
        copy_sql = (
            "COPY member (id, identity, connections, status, forms, access, authorizations,"
            " extras, notes) FROM STDIN"
        )
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for i in range(1, size + 1):
                copy.write_row(deepharbor_row(i))
        conn.execute("ANALYZE member")
    return url


def writes_fingerprint() -> tuple:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT (SELECT count(*) FROM members_member), (SELECT max(date_modified)
                       FROM members_member), (SELECT count(*) FROM members_user),
                      (SELECT count(*) FROM account_emailaddress),
                      (SELECT count(*) FROM legacy_importedrow),
                      (SELECT count(*) FROM members_memberevent),
                      (SELECT count(*) FROM members_rfidtag),
                      (SELECT count(*) FROM billing_plan),
                      (SELECT count(*) FROM members_authorization)"""
        )
        return cursor.fetchone()


def columns_completed() -> int:
    """The NULL columns the import completed (the ledger's `completed` entries)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM legacy_importedrow, jsonb_array_elements(detail) AS fix
               WHERE jsonb_typeof(detail) = 'array' AND fix ->> 'kind' = 'completed'"""
        )
        return cursor.fetchone()[0]


def child(source_url: str) -> None:
    """One import and its rerun, in this process; prints the figures as JSON."""
    import django

    django.setup()
    from legacy.services import deepharbor_import

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    summary = deepharbor_import(source_url=source_url)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = writes_fingerprint()
    completed = columns_completed()
    started = time.perf_counter()
    rerun = deepharbor_import(source_url=source_url)
    rerun_wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "rss_before_kb": rss_before,
                "rss_peak_kb": rss_peak,
                "summary": summary.line(),
                "completed": completed,
                "failed": summary.failed,
                "rerun_wall": rerun_wall,
                "rerun": rerun.line(),
                "rerun_writes": before != writes_fingerprint(),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings_test")
    if args.child:
        child(args.child)
        return
    results = {}
    for size in args.sizes:
        started = time.perf_counter()
        source_url = build_source(size)
        print(
            f"built a Deep Harbor database of {size} members in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        recreate_database(DATABASE_URL)
        env = {**os.environ}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        done = subprocess.run(
            [sys.executable, __file__, "--child", source_url],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results[size] = result
        print(
            f"{size:>6} rows: {result['wall']:6.1f} s, {size / result['wall']:6.0f} rows/s, "
            f"peak RSS {result['rss_peak_kb'] / 1024:6.1f} MB "
            f"(after start-up {result['rss_before_kb'] / 1024:.1f} MB); "
            f"import process CPU {result['cpu']:.1f} s; "
            f"failed rows {result['failed']}; "
            f"columns completed {result.get('completed', 0)}\n"
            f"        {result['summary']}\n"
            f"        rerun: {result['rerun_wall']:.2f} s, "
            f"{'WROTE' if result['rerun_writes'] else '0 writes'}; {result['rerun']}",
            flush=True,
        )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min)")
    if len(results) > 1:
        peaks = [r["rss_peak_kb"] / 1024 for r in results.values()]
        print(f"peak RSS spread between sizes: {max(peaks) - min(peaks):.1f} MB")


if __name__ == "__main__":
    main()
