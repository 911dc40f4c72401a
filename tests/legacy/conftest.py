"""A Deep Harbor database to import from: a throwaway database on the test database's
server, built from deepharbor.sql (or other SQL a test gives)."""

import itertools
import os
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

SQL = Path(__file__).with_name("deepharbor.sql")
_names = itertools.count()


def server_url(database: str) -> str:
    """A URL for `database` on the server the test database lives on (with the embedded
    PostgreSQL that is a socket directory, percent-encoded as the host)."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else db["HOST"]
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{quote(db['USER'])}{password}@{host}{port}/{database}"


class Sources:
    """Creates throwaway databases and drops them when the test ends."""

    def __init__(self):
        self.created = []

    def create(self, sql: str | None = None) -> str:
        name = f"{connection.settings_dict['NAME']}_dh_{os.getpid()}_{next(_names)}"[:63]
        with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        url = server_url(name)
        if sql:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql)
        return url

    def drop(self):
        with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
            for name in self.created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sources():
    made = Sources()
    yield made
    made.drop()


@pytest.fixture(scope="session")
def deepharbor(django_db_setup) -> str:
    """The URL of a Deep Harbor database holding deepharbor.sql's rows. The import only
    reads it, so the session shares one; a test that changes it makes its own with
    `sources.create(SQL.read_text())`."""
    made = Sources()
    yield made.create(SQL.read_text())
    made.drop()


def deepharbor_sql(url: str, sql: str, params=()) -> list:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def run_import(*args) -> tuple[str, str]:
    """manage.py import_deepharbor: (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("import_deepharbor", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def imported(deepharbor):
    """deepharbor.sql imported: legacy id -> Member (and the run's output)."""
    from members.models import Member

    out, err = run_import("--source", deepharbor)
    members = {m.legacy_id: m for m in Member.objects.exclude(legacy_id=None)}
    members["out"], members["err"] = out, err
    return members
