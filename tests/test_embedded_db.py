"""The embedded PostgreSQL, exercised on a throw-away data folder of its own."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _embedded(pgdata, *args):
    env = {**os.environ, "EMBEDDED_PGDATA": str(pgdata)}
    return subprocess.run(
        [sys.executable, "-m", "dhportal.embedded_db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _query(socket_dir, sql):
    import psycopg

    with psycopg.connect(host=socket_dir, user="postgres", dbname="dhportal") as conn:
        cursor = conn.execute(sql)
        return cursor.fetchone()[0] if cursor.description else None


@pytest.fixture
def pgdata(tmp_path):
    path = tmp_path / "pgdata"
    yield path
    _embedded(path, "stop")


def test_it_starts_reuses_and_keeps_data_between_runs(pgdata):
    first = _embedded(pgdata)
    assert first.returncode == 0, first.stderr
    socket_dir = first.stdout.strip()
    _query(socket_dir, "CREATE TABLE kept AS SELECT 42 AS answer")

    again = _embedded(pgdata)

    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == socket_dir
    assert _query(socket_dir, "SELECT answer FROM kept") == 42


def test_it_starts_once_when_two_processes_start_it_at_once(pgdata):
    # As the suite's parallel workers do on a fresh clone: one server, one database.
    env = {**os.environ, "EMBEDDED_PGDATA": str(pgdata)}
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "dhportal.embedded_db"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(start.communicate(timeout=120), start.returncode) for start in starts]

    assert [code for _, code in results] == [0, 0], [err for (_, err), _ in results]
    [socket_dir] = {out.strip() for (out, _), _ in results}
    assert _query(socket_dir, "SELECT count(*) FROM pg_database WHERE datname = 'dhportal'") == 1


def test_it_recovers_after_the_server_is_killed_with_sigkill(pgdata):
    socket_dir = _embedded(pgdata).stdout.strip()
    _query(socket_dir, "CREATE TABLE kept AS SELECT 7 AS answer")
    os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)

    restarted = _embedded(pgdata)

    assert restarted.returncode == 0, restarted.stderr
    assert _query(restarted.stdout.strip(), "SELECT answer FROM kept") == 7
