"""The access list's version: what its ETag is made of, so that a poll that changes
nothing is answered 304 without building the list (README, "Polling the access list").

The list is read from two tables, the members and the erasure requests (`members_sql()`
in integrations/views.py; tests/integrations/test_access_version.py checks that no other
table is read and no other column). A trigger on each, for every insert, delete and
update of a column the list reads, gives the one row of `integrations_accesslistversion`
a new value from a sequence.

The triggers are constraint triggers deferred to the commit: the version row is locked
only from the commit's first moment to its end, so member writes never wait on each
other for it while they work, and no lock order between a member row and the version
row can deadlock. The new value becomes visible in the same instant as the change. It
is written once per transaction (a transaction-local setting marks it done), however
many rows the transaction wrote. A value taken from a sequence never comes back, even
after the row is deleted (a test database's flush), so an old ETag cannot match again;
a missing row reads as 0 until the next change writes it.

The migrations install this SQL as text they keep, as they do the capture trigger's
(tests/integrations/test_migrations.py asks for a new migration when it changes).
"""

from integrations.snapshot import ERASURE_TABLE, MEMBER_TABLE, json_sources
from members.rfid import TAGS_KEY

VERSION_TABLE = "integrations_accesslistversion"
VERSION_SEQUENCE = "integrations_access_list_version_seq"
FUNCTION = "integrations_access_list_changed"
MEMBER_TRIGGER = "integrations_access_list_member"
MEMBER_UPDATE_TRIGGER = "integrations_access_list_member_update"
ERASURE_TRIGGER = "integrations_access_list_erasure"
ERASURE_UPDATE_TRIGGER = "integrations_access_list_erasure_update"
DONE_SETTING = "integrations.access_list_changed"

# What each member in the list shows, and what decides whether they are in it.
LIST_KEYS = ("username", TAGS_KEY, "authorizations", "computer_authorizations")
STATUS_KEY = "membership_status"


def member_columns() -> tuple[str, ...]:
    """The member columns the access list reads: an update changing none of them
    cannot change the list."""
    sources = json_sources()
    columns = ["id"]
    for key in (*LIST_KEYS, STATUS_KEY):
        column = key if key == "username" else sources[key][0]
        if column not in columns:
            columns.append(column)
    return tuple(columns)


# The erasure requests' columns may_enter reads.
ERASURE_COLUMNS = ("member_id", "erased_at")


def _changed(columns) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


def version_sql() -> str:
    """The function, the sequence, the version row and the four triggers."""
    return f"""
CREATE SEQUENCE IF NOT EXISTS {VERSION_SEQUENCE};
INSERT INTO {VERSION_TABLE} (id, version, changed_at)
    VALUES (1, nextval('{VERSION_SEQUENCE}'), now()) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF current_setting('{DONE_SETTING}', true) IS DISTINCT FROM 'on' THEN
        INSERT INTO {VERSION_TABLE} (id, version, changed_at)
            VALUES (1, nextval('{VERSION_SEQUENCE}'), now())
            ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version,
                                           changed_at = EXCLUDED.changed_at;
        PERFORM set_config('{DONE_SETTING}', 'on', true);
    END IF;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS {MEMBER_TRIGGER} ON {MEMBER_TABLE};
CREATE CONSTRAINT TRIGGER {MEMBER_TRIGGER} AFTER INSERT OR DELETE ON {MEMBER_TABLE}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
DROP TRIGGER IF EXISTS {MEMBER_UPDATE_TRIGGER} ON {MEMBER_TABLE};
CREATE CONSTRAINT TRIGGER {MEMBER_UPDATE_TRIGGER} AFTER UPDATE ON {MEMBER_TABLE}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ({_changed(member_columns())})
    EXECUTE FUNCTION {FUNCTION}();
DROP TRIGGER IF EXISTS {ERASURE_TRIGGER} ON {ERASURE_TABLE};
CREATE CONSTRAINT TRIGGER {ERASURE_TRIGGER} AFTER INSERT OR DELETE ON {ERASURE_TABLE}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
DROP TRIGGER IF EXISTS {ERASURE_UPDATE_TRIGGER} ON {ERASURE_TABLE};
CREATE CONSTRAINT TRIGGER {ERASURE_UPDATE_TRIGGER} AFTER UPDATE ON {ERASURE_TABLE}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ({_changed(ERASURE_COLUMNS)})
    EXECUTE FUNCTION {FUNCTION}();
"""  # noqa: S608 - constant SQL from fixed names and the shapes' keys


def drop_sql() -> str:
    return f"""
DROP TRIGGER IF EXISTS {MEMBER_TRIGGER} ON {MEMBER_TABLE};
DROP TRIGGER IF EXISTS {MEMBER_UPDATE_TRIGGER} ON {MEMBER_TABLE};
DROP TRIGGER IF EXISTS {ERASURE_TRIGGER} ON {ERASURE_TABLE};
DROP TRIGGER IF EXISTS {ERASURE_UPDATE_TRIGGER} ON {ERASURE_TABLE};
DROP FUNCTION IF EXISTS {FUNCTION}();
DROP SEQUENCE IF EXISTS {VERSION_SEQUENCE};
"""
