"""What the benchmarks share: a fresh database and Redis database each run, and the
server started the way `make serve` starts it."""

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg


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
