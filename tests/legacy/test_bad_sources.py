"""A source import_deepharbor cannot read: one clear line on stderr, exit status 1, no
traceback, nothing written."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError

from legacy.models import ImportedRow
from members.models import Authorization, Member, User
from tests.dburl import test_database_url
from tests.legacy.conftest import run_import
from tests.legacy.fake_postgres import PasswordRefusingServer

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def password_refused():
    server = PasswordRefusingServer()
    yield f"postgres://harbor:s3cret-pass@127.0.0.1:{server.port}/deepharbor"
    server.close()


@pytest.fixture
def bad_source(request, sources, password_refused):
    kind = request.param
    if kind == "unreachable":
        return f"postgres://harbor@127.0.0.1:{_closed_port()}/deepharbor", "Connection refused"
    if kind == "wrong password":
        return password_refused, 'password authentication failed for user "harbor"'
    if kind == "no member table":
        return sources.create("CREATE TABLE products (id int)"), "it has no member table"
    if kind == "not deep harbor":
        url = sources.create("CREATE TABLE member (id serial PRIMARY KEY, name text)")
        return url, "its member table has no identity column"
    if kind == "no such database":
        url = sources.create().rsplit("/", 1)[0] + "/no_such_database_here"
        return url, 'database "no_such_database_here" does not exist'
    if kind == "malformed URL":
        return "postgres://harbor:s3cret-pass@[::1/deepharbor", "not a valid postgres URL"
    if kind == "not a postgres URL":
        return "mysql://harbor@127.0.0.1/deepharbor", "must be a postgres:// URL"
    raise AssertionError(kind)


KINDS = [
    "unreachable",
    "wrong password",
    "no member table",
    "not deep harbor",
    "no such database",
    "malformed URL",
    "not a postgres URL",
]


@pytest.mark.django_db
@pytest.mark.parametrize("bad_source", KINDS, indirect=True)
def test_it_refuses_a_bad_source_with_one_clear_line(bad_source):
    url, reason = bad_source

    with pytest.raises(CommandError) as refused:
        run_import("--source", url)

    message = str(refused.value)
    assert reason in message
    assert "\n" not in message
    assert "s3cret-pass" not in message
    assert not Member.objects.exists()
    assert not ImportedRow.objects.exists()
    assert not Authorization.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bad_source", ["wrong password", "no member table"], indirect=True)
def test_it_exits_with_status_1_and_no_traceback(bad_source):
    url, reason = bad_source
    users = User.objects.count()

    done = subprocess.run(
        [sys.executable, "manage.py", "import_deepharbor", "--source", url],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DJANGO_SETTINGS_MODULE": "dhportal.settings_test",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert reason in lines[0]
    assert "Traceback" not in done.stderr
    assert not Member.objects.exists()
    assert User.objects.count() == users
