"""What the benchmarks share: a fresh database and Redis database each run, and the
server started the way `make serve` starts it."""

import http.client
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg


def bench_environ(default_db: str, **overrides: str) -> None:
    """The process environment every benchmark runs the site with: production settings
    on its own database (BENCH_DATABASE_URL, else `default_db`; never the environment's
    DATABASE_URL, so a benchmark cannot write to real data), then `overrides`."""
    os.environ.update(
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", default_db),
        DJANGO_SETTINGS_MODULE="dhportal.settings",
        DEBUG="off",
        HTTPS="false",
        SECRET_KEY="bench-" + secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        CONN_MAX_AGE="60",
    )
    os.environ.update(overrides)


def recreate_database(database_url: str) -> None:
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def fresh_redis(url: str) -> bool:
    """Empty the Redis database at `url`; False when no Redis answers there."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.flushdb()
        return True
    except Exception:
        return False


ROOT = Path(__file__).resolve().parent.parent


def prepare_server(env: dict) -> None:
    """What `make serve` runs before gunicorn."""
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)


def gunicorn_argv(host: str, port: int, workers: int = 2) -> list[str]:
    """`make serve`'s gunicorn command line, from this virtualenv. Run it from ROOT:
    gunicorn reads the rest of its settings (gthread, threads, the access logger) from
    the project's gunicorn.conf.py there."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return [str(gunicorn), "dhportal.wsgi", "-w", str(workers), "-b", f"{host}:{port}"]


def request(host, port, method, path, *, address, body=None, headers=None):
    """One request from the client address `address` (X-Forwarded-For, as a proxy
    would send it): (status, headers, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(
            method, path, body=body, headers={"X-Forwarded-For": address, **(headers or {})}
        )
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def start_gunicorn(env: dict, host: str, port: int) -> subprocess.Popen:
    """gunicorn as `make serve` runs it, once it answers /healthz."""
    server = subprocess.Popen(
        gunicorn_argv(host, port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if request(host, port, "GET", "/healthz", address="192.0.2.1")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer on {host}:{port}")
