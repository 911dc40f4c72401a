"""Signup benchmark.

Prints:
  * step-2 submit latency, p50/p95 over 200 sequential signups, next to the bare
    password-hash time (Django's default hasher, as in production);
  * signups per second with 20 concurrent clients (each signup = GET the details form,
    POST it), each client with its own X-Forwarded-For and TRUSTED_PROXY_COUNT=1;
  * for 15 concurrent submits of one continue link: the total wall time and the rows;
  * step-1 (/signup/ POST) latency, median for new emails and for emails already held by
    the sequential signups' members, measured alternately in the same run.

The server is what `make serve` runs (migrate, collectstatic, gunicorn with 2 workers,
DEBUG off, HTTPS=false) on 127.0.0.1:8101, against its own database: BENCH_DATABASE_URL,
by default postgres://postgres@127.0.0.1:5432/dh_bench_signup, dropped and re-created
at the start. CACHE_URL is Redis at 127.0.0.1:6379/12 when it answers.

Run from the repository root: .venv/bin/python bench/signup.py
"""

import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import _setup
import psycopg
from _setup import fresh_redis, prepare_server, recreate_database, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
HOST, PORT = "127.0.0.1", 8101
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dh_bench_signup"
)
REDIS_URL = "redis://127.0.0.1:6379/12"
PASSWORD = "harbour-Lights-4471"
SEQUENTIAL, CONCURRENT_CLIENTS, CONCURRENT_SIGNUPS, SAME_LINK = 200, 20, 200, 15
STEP_ONE = 100  # of each kind, new and existing; at most SEQUENTIAL


def server_environ() -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dhportal.settings",
        "DATABASE_URL": DATABASE_URL,
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(48),
        "DEBUG": "off",
        "HTTPS": "false",
        "ALLOWED_HOSTS": HOST,
        "TRUSTED_PROXY_COUNT": "1",
        "CACHE_URL": REDIS_URL if fresh_redis(REDIS_URL) else "locmemcache://bench",
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
    }


def count_rows(email: str) -> tuple[int, int]:
    with psycopg.connect(DATABASE_URL) as conn:
        users = conn.execute(
            "SELECT count(*) FROM members_user WHERE lower(email) = %s", (email,)
        ).fetchone()[0]
        members = conn.execute(
            "SELECT count(*) FROM members_member WHERE lower(email) = %s", (email,)
        ).fetchone()[0]
    return users, members


def start_server(env: dict) -> subprocess.Popen:
    prepare_server(env)
    return start_gunicorn(env, HOST, PORT)


def request(method, path, *, address, body=None, headers=None):
    return _setup.request(HOST, PORT, method, path, address=address, body=body, headers=headers)


class Visitor:
    """One browser session on the details form of a continue link."""

    def __init__(self, link: str, address: str):
        self.link, self.address = link, address
        status, headers, body = request("GET", link, address=address)
        if status != 200:
            raise RuntimeError(f"GET {link}: {status}")
        self.cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
        self.token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)

    def submit(self, username: str) -> int:
        form = {
            "csrfmiddlewaretoken": self.token.decode(),
            "first_name": "Bench",
            "last_name": "Mark",
            "birthday": "1990-01-01",
            "username": username,
            "phone": "+1 555 0100",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "accept_terms": "on",
        }
        status, _, _ = request(
            "POST",
            self.link,
            address=self.address,
            body=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={self.cookie}",
            },
        )
        return status


def step_one(email: str, address: str) -> float:
    """GET the step-1 form (not timed), then the seconds its POST takes."""
    status, headers, body = request("GET", "/signup/", address=address)
    if status != 200:
        raise RuntimeError(f"GET /signup/: {status}")
    cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    form = urlencode({"csrfmiddlewaretoken": token.decode(), "email": email})
    start = time.perf_counter()
    status, headers, _ = request(
        "POST",
        "/signup/",
        address=address,
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}",
        },
    )
    elapsed = time.perf_counter() - start
    if status != 302 or headers["Location"] != "/signup/sent/":
        raise RuntimeError(f"POST /signup/: {status}")
    return elapsed


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    env = server_environ()
    os.environ.update(
        {k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SECRET_KEY", "DEBUG")}
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password

    from signup.tokens import make_token

    run = secrets.token_hex(3)

    def link(email):
        return f"/signup/continue/{make_token(email)}/"

    hash_times = []
    for _ in range(20):
        start = time.perf_counter()
        make_password(PASSWORD)
        hash_times.append(time.perf_counter() - start)

    recreate_database(DATABASE_URL)
    server = start_server(env)
    try:
        latencies = []
        for n in range(SEQUENTIAL):
            visitor = Visitor(link(f"seq{n}-{run}@example.org"), f"10.1.{n // 250}.{n % 250 + 1}")
            start = time.perf_counter()
            status = visitor.submit(f"s{run}{n}")
            latencies.append(time.perf_counter() - start)
            assert status == 302, status

        # Alternating, so that a drift in the machine's load weighs on both alike. Every
        # POST comes from an address of its own: the per-address limit never trips.
        new_times, existing_times = [], []
        for n in range(STEP_ONE):
            host = f"{n // 250}.{n % 250 + 1}"
            new_times.append(step_one(f"new{n}-{run}@example.org", f"10.4.{host}"))
            existing_times.append(step_one(f"seq{n}-{run}@example.org", f"10.5.{host}"))

        counter = iter(range(CONCURRENT_SIGNUPS))
        lock = threading.Lock()
        statuses = []

        def client(c):
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                visitor = Visitor(link(f"con{n}-{run}@example.org"), f"10.2.0.{c + 1}")
                statuses.append(visitor.submit(f"c{run}{n}"))

        start = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT_CLIENTS) as pool:
            list(pool.map(client, range(CONCURRENT_CLIENTS)))
        concurrent_wall = time.perf_counter() - start
        assert statuses == [302] * CONCURRENT_SIGNUPS, statuses

        email = f"same-{run}@example.org"
        same = link(email)
        visitors = [Visitor(same, f"10.3.0.{n + 1}") for n in range(SAME_LINK)]
        barrier = threading.Barrier(SAME_LINK + 1)

        def submit(visitor):
            barrier.wait()
            return visitor.submit(f"same{run}")

        with ThreadPoolExecutor(SAME_LINK) as pool:
            futures = [pool.submit(submit, v) for v in visitors]
            barrier.wait()
            start = time.perf_counter()
            results = [f.result() for f in futures]
            same_wall = time.perf_counter() - start
        users, members = count_rows(email)
    finally:
        server.terminate()
        server.wait(timeout=30)

    ms = 1000
    print(
        f"cache: {env['CACHE_URL']}  server: gunicorn -w 2 on {HOST}:{PORT}, DEBUG off, HTTPS=false"
    )
    hash_ms = statistics.median(hash_times) * ms
    print(f"bare password hash (Django default hasher): median {hash_ms:.0f} ms")
    print(
        f"step-2 submit latency over {SEQUENTIAL} sequential signups: "
        f"p50 {percentile(latencies, 50) * ms:.0f} ms, p95 {percentile(latencies, 95) * ms:.0f} ms"
    )
    print(
        f"{CONCURRENT_SIGNUPS} signups by {CONCURRENT_CLIENTS} concurrent clients: "
        f"{concurrent_wall:.2f} s, {CONCURRENT_SIGNUPS / concurrent_wall:.1f} signups/s"
    )
    answers = {s: results.count(s) for s in sorted(set(results))}
    print(
        f"{SAME_LINK} concurrent submits of one continue link: {same_wall * ms:.0f} ms in total, "
        f"answers {answers}, rows: {users} user, {members} member"
    )
    print(
        f"step-1 latency over {STEP_ONE} new and {STEP_ONE} existing emails: "
        f"new median {statistics.median(new_times) * ms:.1f} ms, "
        f"existing median {statistics.median(existing_times) * ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
