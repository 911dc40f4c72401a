"""Reading a Deep Harbor database: read-only, over a server-side cursor, in batches."""

from collections.abc import Iterator
from typing import TypeAlias

import psycopg
from psycopg.rows import DictRow, dict_row

MEMBER_COLUMNS = (
    "id",
    "identity",
    "connections",
    "status",
    "forms",
    "access",
    "authorizations",
    "extras",
    "notes",
    "date_added",
)
JSON_COLUMNS = MEMBER_COLUMNS[1:-1]
CONNECT_TIMEOUT = 10

# connect() opens it with dict rows: queries read columns by name.
Source: TypeAlias = psycopg.Connection[DictRow]


class SourceError(Exception):
    """The source cannot be read as a Deep Harbor database; one line saying why."""


def _one_line(error: Exception, secret: str | None = None) -> str:
    text = " ".join(str(error).split()).removeprefix("connection failed: ")
    if secret:
        text = text.replace(secret, "***")
    return text or type(error).__name__


def connect(url: str) -> Source:
    """A read-only connection to the Deep Harbor database at `url`."""
    if not isinstance(url, str) or not url.startswith(("postgres://", "postgresql://")):
        raise SourceError("--source must be a postgres:// URL")
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        # psycopg's message quotes the URL, password and all: say it without.
        raise SourceError("--source is not a valid postgres URL") from None
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, row_factory=dict_row)
    except psycopg.Error as error:
        reason = _one_line(error, password if isinstance(password, str) else None)
        raise SourceError(f"cannot connect to the Deep Harbor database: {reason}") from None
    # Every transaction on it is READ ONLY: the import cannot change Deep Harbor.
    conn.read_only = True
    try:
        check(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _columns(conn: Source, table: str) -> dict[str, str] | None:
    """The columns of `table` (as the search path finds it) and their types, or None."""
    rows = conn.execute(
        """
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
        """,
        [table],
    ).fetchall()
    return {r["name"]: r["type"] for r in rows} or None


def check(conn: Source) -> None:
    """Refuse a database that is not Deep Harbor's, naming what is missing."""
    try:
        member = _columns(conn, "member")
        if member is None:
            raise SourceError("not a Deep Harbor database: it has no member table")
        missing = [c for c in MEMBER_COLUMNS if c not in member]
        wrong = [c for c in JSON_COLUMNS if c in member and member[c] != "jsonb"]
        if missing or wrong:
            what = [f"no {c} column" for c in missing] + [f"{c} is not jsonb" for c in wrong]
            raise SourceError(f"not a Deep Harbor database: its member table has {', '.join(what)}")
        conn.rollback()
    except psycopg.Error as error:
        raise SourceError(f"cannot read the Deep Harbor database: {_one_line(error)}") from None


def has_table(conn: Source, table: str, columns: tuple[str, ...]) -> bool:
    found = _columns(conn, table)
    return found is not None and all(c in found for c in columns)


def count_members(conn: Source) -> int:
    row = conn.execute("SELECT count(*) AS n FROM member").fetchone()
    assert row is not None  # count(*) always answers one row
    return row["n"]


def max_member_id(conn: Source) -> int:
    """The highest member id in Deep Harbor (0 for none): numbers the import gives
    members whose own number is taken start above it."""
    row = conn.execute("SELECT COALESCE(max(id), 0) AS n FROM member").fetchone()
    assert row is not None  # an aggregate always answers one row
    return row["n"]


def member_id_batches(conn: Source, size: int) -> Iterator[list[int]]:
    """Every member id, lowest first, `size` at a time from a server-side cursor: memory
    does not grow with the table."""
    with conn.cursor(name="deepharbor_member_ids", row_factory=psycopg.rows.tuple_row) as cursor:
        cursor.itersize = size
        cursor.execute("SELECT id FROM member ORDER BY id")
        while rows := cursor.fetchmany(size):
            yield [row[0] for row in rows]


def members(conn: Source, ids: list[int]) -> list[dict]:
    """The member rows with these ids, lowest id first."""
    columns = ", ".join(MEMBER_COLUMNS)
    return conn.execute(
        f"SELECT {columns} FROM member WHERE id = ANY(%s) ORDER BY id",  # noqa: S608
        [ids],
    ).fetchall()


def identities(conn: Source, ids: list[int]) -> dict[int, dict]:
    """Deep Harbor member id -> identity, for these ids."""
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, identity FROM member WHERE id = ANY(%s)", [sorted(set(ids))]
    ).fetchall()
    return {r["id"]: r["identity"] for r in rows}


def products(conn: Source) -> list[dict]:
    if not has_table(conn, "products", ("id", "name", "details")):
        return []
    return conn.execute("SELECT id, name, details FROM products ORDER BY id").fetchall()


def authorizations(conn: Source) -> list[dict]:
    if not has_table(conn, "available_authorizations", ("id", "name", "requires_login")):
        return []
    return conn.execute(
        "SELECT id, name, requires_login FROM available_authorizations ORDER BY id"
    ).fetchall()


def roles(conn: Source) -> list[dict]:
    """Deep Harbor's staff roles: id, name, permission {"view": [...], "change": [...]}."""
    if not has_table(conn, "roles", ("id", "name", "permission")):
        return []
    return conn.execute("SELECT id, name, permission FROM roles ORDER BY id").fetchall()


def member_roles(conn: Source) -> list[dict]:
    """member_to_role's rows: which member holds which role."""
    if not has_table(conn, "member_to_role", ("role_id", "member_id")):
        return []
    return conn.execute(
        "SELECT role_id, member_id FROM member_to_role ORDER BY member_id, role_id"
    ).fetchall()


ACCESS_LOG_COLUMNS = ("id", "tag", "board", "access_point", "granted", "time")


def has_access_log(conn: Source) -> bool:
    """Whether the source has Deep Harbor's door log (RFID2DB's member_access_log)."""
    return has_table(conn, "member_access_log", ACCESS_LOG_COLUMNS)


def access_log_batches(conn: Source, size: int, *, after: int = 0) -> Iterator[list[dict]]:
    """member_access_log's rows with ids above `after`, lowest first, `size` at a time
    from a server-side cursor."""
    columns = ", ".join(ACCESS_LOG_COLUMNS)
    with conn.cursor(name="deepharbor_access_log") as cursor:
        cursor.itersize = size
        cursor.execute(
            f"SELECT {columns} FROM member_access_log WHERE id > %s ORDER BY id",  # noqa: S608
            [after],
        )
        while rows := cursor.fetchmany(size):
            yield rows
