"""Lookup benchmark: are signup step 1 and login as fast at 100,000 members as at 1,000?

Both look a person up by email (step 1 in the User, Member and allauth address tables;
login in allauth's address table, then the User table). docs/shapes.md wants those lookups
answered from the indexes, so that their cost does not grow with the member count.

Prints, for 1,000 and for 100,000 members, measured in the same run:
  * step-1 (/signup/ POST) p50 over new and existing emails, and login (/accounts/login/
    POST, right password) p50;
  * the ratio of the 100,000-member p50 to the 1,000-member p50 for each (goal <= 1.2);
  * step 1's medians for new and for existing emails, on one line;
  * whether PostgreSQL answers each lookup from an index at 100,000 members.

Two servers, one per size, each what `make serve` runs (migrate, collectstatic, gunicorn
with 2 workers, DEBUG off, HTTPS=false), on 127.0.0.1:8102 and :8103. Requests go to them
in turn, so a change in the machine's load weighs on both sizes alike. Each size has its
own database, named after BENCH_DATABASE_URL (by default
postgres://postgres@127.0.0.1:5432/dh_bench_lookup) with `_1000` or `_100000` appended,
dropped and re-created at the start. CACHE_URL is Redis at 127.0.0.1:6379/13 when it
answers (one key space: the limits are per address and per email, both unique here).

Each member comes as signup makes one: a User, its verified primary allauth address and
the Member, all with the same password hash (computed once, Django's default hasher, as
in production). A login's time is mostly that hash; the lookup is what might grow.

Run from the repository root: .venv/bin/python bench/lookup.py
"""

import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import _setup
import psycopg
from _setup import fresh_redis, prepare_server, recreate_database, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dh_bench_lookup"
)
REDIS_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "harbour-Lights-4471"
SIZES = {1_000: 8102, 100_000: 8103}  # members: port
STEP_ONE = 100  # of each kind, new and existing, per size
LOGINS = 40  # per size
JSON_COLUMNS = ("identity", "status", "connections", "forms", "notes", "access")
JSON_COLUMNS += ("authorizations", "extras")


def database_url(size: int) -> str:
    parts = urlsplit(BASE_URL)
    return parts._replace(path=f"{parts.path}_{size}").geturl()


def server_environ(size: int, secret_key: str, cache_url: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dhportal.settings",
        "DATABASE_URL": database_url(size),
        "SECRET_KEY": secret_key,
        "DEBUG": "off",
        "HTTPS": "false",
        "ALLOWED_HOSTS": HOST,
        "TRUSTED_PROXY_COUNT": "1",
        "CACHE_URL": cache_url,
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
    }


def email_of(n: int) -> str:
    return f"member{n}@example.org"


def fill(size: int, password_hash: str, defaults: dict) -> None:
    """Members 0 .. size-1 with the rows signup makes, by INSERT ... SELECT. Triggers are
    off while it runs (session_replication_role): the audit history of a bench fill is
    of no use and made it ten times slower. Columns not named take their database
    defaults, as docs/shapes.md has every new column."""
    numbers = "generate_series(0, %(last)s) AS n"
    params = {"last": size - 1, "hash": password_hash, **defaults}
    identity = (
        "%(identity)s::jsonb || jsonb_build_object('first_name', 'Bench', 'last_name',"
        " u.last_name, 'emails', jsonb_build_array(jsonb_build_object('type', 'primary',"
        " 'email_address', u.email)))"
    )
    status = (
        "%(status)s::jsonb || jsonb_build_object('membership_status', 'active',"
        " 'member_since', '2026-01-15')"
    )
    with psycopg.connect(database_url(size)) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "INSERT INTO members_user (password, is_superuser, username, first_name,"
            " last_name, email, is_staff, is_active, date_joined)"
            " SELECT %(hash)s, false, 'm' || n, 'Bench', 'Member' || n,"
            f" 'member' || n || '@example.org', false, true, now() FROM {numbers}",
            params,
        )
        conn.execute(
            'INSERT INTO account_emailaddress (user_id, email, verified, "primary")'
            " SELECT id, email, true, true FROM members_user"
        )
        conn.execute(
            "INSERT INTO members_member (user_id, email, username, billing_ref, identity,"
            " status, connections, forms, notes, access, authorizations, extras,"
            " date_added, date_modified)"
            f" SELECT u.id, u.email, u.username, 'bench_' || md5(u.username), {identity},"
            f" {status}, %(connections)s, %(forms)s, %(notes)s, %(access)s,"
            " %(authorizations)s, %(extras)s, now(), now() FROM members_user u",
            params,
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")


def start_server(env: dict, port: int) -> subprocess.Popen:
    return start_gunicorn(env, HOST, port)


def request(port, method, path, *, address, body=None, headers=None):
    return _setup.request(HOST, port, method, path, address=address, body=body, headers=headers)


class Addresses:
    """A client address of its own for every request: no per-address limit trips."""

    def __init__(self):
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"10.{self.n // 62500 % 250 + 1}.{self.n // 250 % 250}.{self.n % 250 + 1}"


ADDRESSES = Addresses()


def timed_post(port: int, path: str, fields: dict, expect: str) -> float:
    """GET the form (not timed), then the seconds its POST takes."""
    address = ADDRESSES.next()
    status, headers, body = request(port, "GET", path, address=address)
    if status != 200:
        raise RuntimeError(f"GET {path}: {status}")
    cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    form = urlencode({"csrfmiddlewaretoken": token.decode(), **fields})
    start = time.perf_counter()
    status, headers, _ = request(
        port,
        "POST",
        path,
        address=address,
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}",
        },
    )
    elapsed = time.perf_counter() - start
    if status != 302 or headers.get("Location") != expect:
        raise RuntimeError(f"POST {path} on :{port}: {status} {headers.get('Location')}")
    return elapsed


def measure(run: str) -> dict:
    rng = random.Random(run)
    times = {size: {"new": [], "existing": [], "login": []} for size in SIZES}
    picks = {size: rng.sample(range(size), STEP_ONE + LOGINS) for size in SIZES}
    # In turn: new and existing, small and large, so that drift weighs on all alike.
    for i in range(STEP_ONE):
        for size, port in SIZES.items():
            for kind, email in (
                ("new", f"new{i}-{run}@example.org"),
                ("existing", email_of(picks[size][i])),
            ):
                seconds = timed_post(port, "/signup/", {"email": email}, "/signup/sent/")
                times[size][kind].append(seconds)
    for i in range(STEP_ONE, STEP_ONE + LOGINS):
        for size, port in SIZES.items():
            fields = {"login": email_of(picks[size][i]), "password": PASSWORD}
            seconds = timed_post(port, "/accounts/login/", fields, "/dashboard/")
            times[size]["login"].append(seconds)
    return {
        size: {
            "step1": statistics.median(t["new"] + t["existing"]),
            "new": statistics.median(t["new"]),
            "existing": statistics.median(t["existing"]),
            "login": statistics.median(t["login"]),
        }
        for size, t in times.items()
    }


def lookup_plans_use_indexes(size: int) -> bool:
    """EXPLAIN of each lookup on the large database: all answered from an index."""
    from django.db import connections

    from members.logins import email_holders, username_holders
    from members.lookups import email_addresses_with
    from members.models import Member, User

    alias = f"bench_{size}"
    connections.databases[alias] = {
        **connections.databases["default"],
        "NAME": urlsplit(database_url(size)).path.lstrip("/"),
    }
    email, username = email_of(size // 2), f"m{size // 2}"
    querysets = [
        *email_holders(email),
        *username_holders(username),
        email_addresses_with(email),
        User.objects.filter(email=email),  # allauth's own exact lookup
        Member.objects.with_email(email),
    ]
    try:
        plans = [qs.using(alias).explain() for qs in querysets]
    finally:
        connections[alias].close()
    return all("Index" in plan and "Seq Scan" not in plan for plan in plans)


def main() -> None:
    secret_key = os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(48)
    cache_url = REDIS_URL if fresh_redis(REDIS_URL) else "locmemcache://bench"
    large = max(SIZES)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="dhportal.settings",
        DATABASE_URL=database_url(large),
        SECRET_KEY=secret_key,
        DEBUG="off",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password

    from members import scaffolding

    password_hash = make_password(PASSWORD)
    defaults = {column: json.dumps(scaffolding.default(column)) for column in JSON_COLUMNS}
    servers = []
    try:
        for size, port in SIZES.items():
            started = time.perf_counter()
            recreate_database(database_url(size))
            env = server_environ(size, secret_key, cache_url)
            prepare_server(env)  # migrates the new database
            fill(size, password_hash, defaults)
            servers.append(start_server(env, port))
            print(f"{size:,} members ready in {time.perf_counter() - started:.1f} s", flush=True)
        results = measure(secrets.token_hex(3))
        plans_ok = lookup_plans_use_indexes(large)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)

    ms = 1000
    small = min(SIZES)
    print(f"cache: {cache_url}  servers: gunicorn -w 2 per size, DEBUG off, HTTPS=false")
    for size in SIZES:
        r = results[size]
        print(
            f"{size:>7,} members: step-1 p50 {r['step1'] * ms:.1f} ms "
            f"({STEP_ONE} new + {STEP_ONE} existing), login p50 {r['login'] * ms:.1f} ms "
            f"({LOGINS} logins)"
        )
    step1_ratio = results[large]["step1"] / results[small]["step1"]
    login_ratio = results[large]["login"] / results[small]["login"]
    print(
        f"ratio {large:,}/{small:,}: step 1 {step1_ratio:.2f}, login {login_ratio:.2f} "
        "(goal <= 1.2)"
    )
    r = results[large]
    print(
        f"step-1 medians at {large:,} members: new {r['new'] * ms:.1f} ms, "
        f"existing {r['existing'] * ms:.1f} ms"
    )
    print(f"lookup plans at {large:,} members use indexes: {'yes' if plans_ok else 'no'}")


if __name__ == "__main__":
    main()
