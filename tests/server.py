"""A real gunicorn serving the project against the test database, for tests that need
separate worker processes or a server that outlives a database connection."""

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode
from urllib.request import urlopen

import psycopg
import pytest
from django.conf import settings

from tests.dburl import test_database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# What the tests read from the access log: which worker process answered, and how.
ACCESS_LOG = "%(p)s %(m)s %(s)s"


@contextlib.contextmanager
def gunicorn(
    tmp_path,
    *,
    workers=2,
    max_requests=0,
    worker_class=None,
    access_log_format=ACCESS_LOG,
    **environ,
):
    """Serve on a free port until the block ends; yields (port, access log path).

    The server is configured by the project's gunicorn.conf.py (worker class, threads,
    the logger that elides tokens), as in production; the flags here only pick the port,
    the worker count and where and how the access log is written. The settings are
    production's (DEBUG off) with plain static storage; `environ` overrides the
    environment, DATABASE_URL included. `max_requests` (0: never) replaces a worker
    process after that many requests. The server's stderr, where the project logs, is
    kept in tmp_path / "gunicorn.err".
    """
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.signup.server_settings",
        "DATABASE_URL": test_database_url(),
        "SECRET_KEY": "multi-worker-test-key",
        "DEBUG": "off",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "0",
        **environ,
    }
    if not env.get("CACHE_URL"):
        # The database cache (the default) outlives a test's flush: start each server
        # with no counts from an earlier one.
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as db:
            db.execute("DELETE FROM dhportal_cache")
    access_log = tmp_path / "access.log"
    errors = tmp_path / "gunicorn.err"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "dhportal.wsgi", "--workers", str(workers)),
            *("--max-requests", str(max_requests)),
            *(("--worker-class", worker_class) if worker_class else ()),
            *("--bind", f"127.0.0.1:{port}", "--access-logfile", str(access_log)),
            *("--access-logformat", access_log_format),
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors.open("w"),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            # Wait for an answer as long as the deadline allows: a fresh worker's first
            # request loads the whole site, seconds on a busy machine, and a request given
            # up on early still counts toward max_requests, so with max_requests=2 every
            # check could meet a fresh worker and none be waited for.
            wait = max(deadline - time.monotonic(), 1)
            try:
                with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=wait) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield port, access_log
    finally:
        process.terminate()
        process.wait(timeout=30)


def _redis_db() -> int:
    """Database 11 of the local Redis, or under pytest-xdist one of 11-15 per worker
    (gw0: 11, gw1: 12, ...), so parallel workers never count in each other's keys."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 11 + int(worker.removeprefix("gw")) % 5


REDIS_URL = f"redis://127.0.0.1:6379/{_redis_db()}"


def redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        message = f"multi-worker rate-limit tests need Redis at {REDIS_URL} ({error})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class Reply:
    def __init__(self, response):
        self.status = response.status
        self.headers = response.headers
        self.text = response.read().decode()

    def json(self):
        return json.loads(self.text)


class Visitor:
    """A browser's or a script's view of the served site: it keeps its cookies, follows
    no redirects and, given an address, says it comes from there (X-Forwarded-For)."""

    def __init__(self, port: int, address: str | None = None):
        self.port, self.address = port, address
        self.cookies = {}

    def request(self, method, path, body=None, headers=None) -> Reply:
        headers = dict(headers or {})
        if self.address:
            headers["X-Forwarded-For"] = self.address
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            reply = Reply(conn.getresponse())
        finally:
            conn.close()
        for header in reply.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return reply

    def get(self, path) -> Reply:
        return self.request("GET", path)

    def form_token(self, path) -> str:
        """GET a form page; its CSRF token (the cookie is kept)."""
        page = self.get(path)
        assert page.status == 200
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    def post_form(self, path, fields: dict, token: str) -> Reply:
        body = urlencode({**fields, "csrfmiddlewaretoken": token})
        return self.request(
            "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
