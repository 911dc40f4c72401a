"""Benchmark: the admin member list with 100,000 members, 10% of them partial; and the
member list and change page for each staff role (column rights, staff/rights.py).

Run from the project root:

    .venv/bin/python bench/admin.py [--members 10000]

It uses its own database (BENCH_DATABASE_URL, default the local PostgreSQL's
`dh_bench_admin`, or `dh_bench_admin_<N>` for another size; created if missing), fills
it once with bulk inserts, and prints the time and query count of the list page with
and without the partial filter, then the list and a member's change page for a
superuser (the baseline), an Administrator and an Authorizer: the roles should cost the
same queries as the superuser, and none per row.
"""

import os
import re
import statistics
import sys
import time
from pathlib import Path

MEMBERS = int(sys.argv[sys.argv.index("--members") + 1]) if "--members" in sys.argv else 100_000
PARTIAL_EVERY = 10  # one member in ten is partial
BATCH = 5_000
RUNS = 7
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/dh_bench_admin"
    + ("" if MEMBERS == 100_000 else f"_{MEMBERS}"),
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings_test")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")


def ensure_database():
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    admin_dsn = f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname=postgres"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def fill():
    from members import scaffolding
    from members.models import Member

    if Member.objects.count() == MEMBERS:
        return False
    Member.objects.all().delete()
    columns = scaffolding.NULLABLE_COLUMNS
    rows = []
    for i in range(MEMBERS):
        identity = scaffolding.default("identity")
        identity.update(first_name=f"First{i}", last_name=f"Last{i}")
        values = {column: scaffolding.default(column) for column in columns}
        values["status"]["membership_status"] = ("pending", "active", "lapsed")[i % 3]
        values["access"]["rfid_tags"] = [f"{i:010d}"]
        if i % PARTIAL_EVERY == 0:
            # Each partial member misses one piece, every kind in turn.
            missing = (*columns, "membership_status")[(i // PARTIAL_EVERY) % 8]
            if missing == "membership_status":
                del values["status"]["membership_status"]
            else:
                values[missing] = None
        rows.append(
            Member(email=f"m{i}@example.org", username=f"m{i}", identity=identity, **values)
        )
        if len(rows) == BATCH:
            Member.objects.bulk_create(rows)
            rows = []
    if rows:
        Member.objects.bulk_create(rows)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return True


def measure(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    html = response.content.decode()
    rows = html.count('name="_selected_action"')
    matched = re.search(r'<p class="paginator">.*?(\d+) members?', html, re.S)
    return statistics.median(times), len(queries), rows, matched.group(1) if matched else "?"


def main():
    import django

    django.setup()
    ensure_database()
    from django.core.management import call_command
    from django.test import Client

    from members.models import Member, User

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    filled = fill()
    if filled:
        print(f"created {MEMBERS} members in {time.perf_counter() - started:.1f} s (bulk inserts)")
    staff, _ = User.objects.get_or_create(
        username="bench-staff",
        defaults={"email": "bench-staff@example.org", "is_staff": True, "is_superuser": True},
    )
    client = Client()
    client.force_login(staff)
    print(
        f"members: {Member.objects.count()}, partial: {Member.objects.partial().count()}, "
        f"median of {RUNS} runs"
    )
    for label, url in (
        ("list", "/admin/members/member/"),
        ("list, partial filter", "/admin/members/member/?scaffolding=partial"),
        ("list, missing notes", "/admin/members/member/?scaffolding=missing_notes"),
        ("search by RFID tag", "/admin/members/member/?q=12345"),
    ):
        seconds, queries, rows, matched = measure(client, url)
        print(
            f"{label:<22} {seconds * 1000:7.1f} ms  {queries:2d} queries  "
            f"{rows} rows shown of {matched}"
        )
    plan = Member.objects.partial().order_by("-id")[:100].explain()
    uses = "member_partial_idx" in plan
    print(f"partial filter plan uses member_partial_idx: {'yes' if uses else 'no'}")
    by_role(staff)


def role_client(name):
    """A staff login in one of the roles (the groups the migration made)."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from members.models import User

    user, _ = User.objects.get_or_create(
        username=f"bench-{name.lower().replace(' ', '-')}",
        defaults={"email": f"bench-{name.lower()}@example.org", "is_staff": True},
    )
    user.groups.add(Group.objects.get(name=name))
    client = Client()
    client.force_login(user)
    return client


def by_role(superuser):
    from django.test import Client

    from members.models import Member

    member = Member.objects.order_by("-id").first()
    assert member is not None
    baseline = Client()
    baseline.force_login(superuser)
    clients = {
        "superuser": baseline,
        "Administrator": role_client("Administrator"),
        "Authorizer": role_client("Authorizer"),
    }
    pages = (
        ("member list", "/admin/members/member/"),
        ("change page", f"/admin/members/member/{member.pk}/change/"),
    )
    print(f"by role, {Member.objects.count()} members, median of {RUNS} runs:")
    for label, url in pages:
        base_seconds = None
        for role, client in clients.items():
            seconds, queries, rows, _ = measure(client, url)
            base_seconds = base_seconds or seconds
            shown = f"  {rows} rows" if label == "member list" else ""
            print(
                f"  {label:<12} {role:<14} {seconds * 1000:7.1f} ms  {queries:2d} queries"
                f"  x{seconds / base_seconds:.2f} of superuser{shown}"
            )


if __name__ == "__main__":
    main()
