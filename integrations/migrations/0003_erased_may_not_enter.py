"""An erased member never may enter: the snapshot function's may_enter reads the
erasure requests, and closing a request records the member's event. Replaces the
functions and the triggers 0002 installed; going back drops the erasure trigger and
puts back the functions as 0002 installed them.

The SQL is integrations/snapshot.py's `capture_sql()` as generated for this migration,
kept here as text (see 0002)."""

from django.db import migrations

CAPTURE_SQL = """

CREATE OR REPLACE FUNCTION integrations_member_snapshot(m members_member) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT jsonb_build_object(
        'member_id', m.id,
        'legacy_id', m.legacy_id,
        'username', m.username,
        'email', m.email,
        'first_name', (CASE WHEN jsonb_typeof(m.identity -> 'first_name') = 'string' THEN (m.identity -> 'first_name') #>> '{}' END),
        'last_name', (CASE WHEN jsonb_typeof(m.identity -> 'last_name') = 'string' THEN (m.identity -> 'last_name') #>> '{}' END),
        'membership_status', (CASE WHEN jsonb_typeof(m.status -> 'membership_status') = 'string' AND lower(btrim(m.status ->> 'membership_status')) IN ('pending', 'active', 'lapsed', 'suspended', 'banned') THEN lower(btrim(m.status ->> 'membership_status')) END),
        'may_enter', (COALESCE((CASE WHEN jsonb_typeof(m.status -> 'membership_status') = 'string' AND lower(btrim(m.status ->> 'membership_status')) IN ('pending', 'active', 'lapsed', 'suspended', 'banned') THEN lower(btrim(m.status ->> 'membership_status')) END) = 'active', false) AND NOT EXISTS (SELECT 1 FROM members_erasurerequest AS erasure WHERE erasure.member_id = m.id AND erasure.erased_at IS NOT NULL)),
        'rfid_tags', (CASE WHEN jsonb_typeof(m.access -> 'rfid_tags') = 'array' AND jsonb_array_length(m.access -> 'rfid_tags') <= 1 AND NOT jsonb_path_exists((m.access -> 'rfid_tags'), 'strict $[*] ? (!(@.type() == "string" && @ like_regex "^[0-9]{10}$"))') THEN (m.access -> 'rfid_tags') ELSE (SELECT COALESCE(jsonb_agg(tag ORDER BY first), '[]'::jsonb) FROM (SELECT (CASE WHEN length(btrim((e #>> '{}'))) < 10 THEN lpad(btrim((e #>> '{}')), 10, '0') ELSE btrim((e #>> '{}')) END) AS tag, min(i) AS first FROM jsonb_array_elements((CASE WHEN jsonb_typeof(m.access -> 'rfid_tags') = 'array' THEN (m.access -> 'rfid_tags') ELSE '[]'::jsonb END)) WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e) IN ('string', 'number') GROUP BY 1) AS tags WHERE tag ~ '^[0-9]{10}$') END),
        'authorizations', (CASE WHEN jsonb_typeof(m.authorizations -> 'authorizations') = 'array' AND NOT jsonb_path_exists((m.authorizations -> 'authorizations'), 'strict $[*] ? (@.type() != "string")') THEN (m.authorizations -> 'authorizations') ELSE (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements((CASE WHEN jsonb_typeof(m.authorizations -> 'authorizations') = 'array' THEN (m.authorizations -> 'authorizations') ELSE '[]'::jsonb END)) WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e) = 'string') END),
        'computer_authorizations', (CASE WHEN jsonb_typeof(m.authorizations -> 'computer_authorizations') = 'array' AND NOT jsonb_path_exists((m.authorizations -> 'computer_authorizations'), 'strict $[*] ? (@.type() != "string")') THEN (m.authorizations -> 'computer_authorizations') ELSE (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements((CASE WHEN jsonb_typeof(m.authorizations -> 'computer_authorizations') = 'array' THEN (m.authorizations -> 'computer_authorizations') ELSE '[]'::jsonb END)) WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e) = 'string') END)
    )
$fn$;

CREATE OR REPLACE FUNCTION integrations_capture_member_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    _new_data jsonb := integrations_member_snapshot(NEW);
    _old_data jsonb;
    _changed text[];
    _xact bigint := pg_current_xact_id()::text::bigint;
    _at timestamptz := clock_timestamp();
    _latest_id bigint;
    _latest_sequence integer;
    _latest_xact bigint;
    _latest_changed jsonb;
    _new_id bigint;
    _new_sequence integer;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        _old_data := integrations_member_snapshot(OLD);
        SELECT array_agg(k ORDER BY k) INTO _changed FROM unnest(ARRAY['username', 'email', 'first_name', 'last_name', 'membership_status', 'may_enter', 'rfid_tags', 'authorizations', 'computer_authorizations']::text[]) AS k
            WHERE (_new_data -> k) IS DISTINCT FROM (_old_data -> k);
        IF _changed IS NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        _changed := ARRAY['username', 'email', 'first_name', 'last_name', 'membership_status', 'may_enter', 'rfid_tags', 'authorizations', 'computer_authorizations']::text[];
    END IF;
    SELECT id, sequence, xact, changed
        INTO _latest_id, _latest_sequence, _latest_xact, _latest_changed
        FROM integrations_feedevent WHERE member_id = NEW.id ORDER BY sequence DESC LIMIT 1;
    IF _latest_xact IS NOT NULL AND _latest_xact = _xact THEN
        UPDATE integrations_feedevent SET
            snapshot = jsonb_build_object('event_id', _latest_id, 'sequence', _latest_sequence, 'changed_at', to_char(_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || _new_data,
            changed_at = _at,
            changed = (SELECT jsonb_agg(DISTINCT k ORDER BY k) FROM (
                SELECT jsonb_array_elements_text(_latest_changed) AS k
                UNION SELECT unnest(_changed)) AS keys)
        WHERE id = _latest_id;
    ELSE
        _new_id := nextval(pg_get_serial_sequence('integrations_feedevent', 'id'));
        _new_sequence := COALESCE(_latest_sequence, 0) + 1;
        INSERT INTO integrations_feedevent (id, member_id, sequence, xact, changed, snapshot,
                                   changed_at, pumped)
        VALUES (_new_id, NEW.id, _new_sequence, _xact, to_jsonb(_changed),
                jsonb_build_object('event_id', _new_id, 'sequence', _new_sequence, 'changed_at', to_char(_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || _new_data, _at, false);
    END IF;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS integrations_feed_insert ON members_member;
CREATE TRIGGER integrations_feed_insert AFTER INSERT ON members_member
    FOR EACH ROW EXECUTE FUNCTION integrations_capture_member_change();
DROP TRIGGER IF EXISTS integrations_feed_update ON members_member;
CREATE TRIGGER integrations_feed_update AFTER UPDATE ON members_member
    FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username OR OLD.email IS DISTINCT FROM NEW.email OR OLD.legacy_id IS DISTINCT FROM NEW.legacy_id OR OLD.identity IS DISTINCT FROM NEW.identity OR OLD.status IS DISTINCT FROM NEW.status OR OLD.access IS DISTINCT FROM NEW.access OR OLD.authorizations IS DISTINCT FROM NEW.authorizations)
    EXECUTE FUNCTION integrations_capture_member_change();

CREATE OR REPLACE FUNCTION integrations_capture_member_erasure() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    _member members_member;
    _new_data jsonb;
    _changed text[] := ARRAY['may_enter']::text[];
    _xact bigint := pg_current_xact_id()::text::bigint;
    _at timestamptz := clock_timestamp();
    _latest_id bigint;
    _latest_sequence integer;
    _latest_xact bigint;
    _latest_changed jsonb;
    _latest_snapshot jsonb;
    _new_id bigint;
    _new_sequence integer;
BEGIN
    -- The member's row lock, as a member write holds it: the sequence stays gapless.
    SELECT * INTO _member FROM members_member WHERE id = NEW.member_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    _new_data := integrations_member_snapshot(_member);
    SELECT id, sequence, xact, changed, snapshot
        INTO _latest_id, _latest_sequence, _latest_xact, _latest_changed, _latest_snapshot
        FROM integrations_feedevent WHERE member_id = _member.id ORDER BY sequence DESC LIMIT 1;
    IF (_latest_snapshot -> 'may_enter') IS NOT DISTINCT FROM
            (_new_data -> 'may_enter') THEN
        RETURN NULL;
    END IF;
    IF _latest_xact IS NOT NULL AND _latest_xact = _xact THEN
        UPDATE integrations_feedevent SET
            snapshot = jsonb_build_object('event_id', _latest_id, 'sequence', _latest_sequence, 'changed_at', to_char(_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || _new_data,
            changed_at = _at,
            changed = (SELECT jsonb_agg(DISTINCT k ORDER BY k) FROM (
                SELECT jsonb_array_elements_text(_latest_changed) AS k
                UNION SELECT unnest(_changed)) AS keys)
        WHERE id = _latest_id;
    ELSE
        _new_id := nextval(pg_get_serial_sequence('integrations_feedevent', 'id'));
        _new_sequence := COALESCE(_latest_sequence, 0) + 1;
        INSERT INTO integrations_feedevent (id, member_id, sequence, xact, changed, snapshot,
                                   changed_at, pumped)
        VALUES (_new_id, _member.id, _new_sequence, _xact, to_jsonb(_changed),
                jsonb_build_object('event_id', _new_id, 'sequence', _new_sequence, 'changed_at', to_char(_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || _new_data, _at, false);
    END IF;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS integrations_feed_erasure ON members_erasurerequest;
CREATE TRIGGER integrations_feed_erasure AFTER INSERT OR UPDATE OF erased_at ON members_erasurerequest
    FOR EACH ROW EXECUTE FUNCTION integrations_capture_member_erasure();
"""

BACK = """
DROP TRIGGER IF EXISTS integrations_feed_erasure ON members_erasurerequest;
DROP FUNCTION IF EXISTS integrations_capture_member_erasure();


CREATE OR REPLACE FUNCTION integrations_member_snapshot(m members_member) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT jsonb_build_object(
        'member_id', m.id,
        'legacy_id', m.legacy_id,
        'username', m.username,
        'email', m.email,
        'first_name', (CASE WHEN jsonb_typeof(m.identity -> 'first_name') = 'string' THEN (m.identity -> 'first_name') #>> '{}' END),
        'last_name', (CASE WHEN jsonb_typeof(m.identity -> 'last_name') = 'string' THEN (m.identity -> 'last_name') #>> '{}' END),
        'membership_status', (CASE WHEN jsonb_typeof(m.status -> 'membership_status') = 'string' AND lower(btrim(m.status ->> 'membership_status')) IN ('pending', 'active', 'lapsed', 'suspended', 'banned') THEN lower(btrim(m.status ->> 'membership_status')) END),
        'may_enter', COALESCE((CASE WHEN jsonb_typeof(m.status -> 'membership_status') = 'string' AND lower(btrim(m.status ->> 'membership_status')) IN ('pending', 'active', 'lapsed', 'suspended', 'banned') THEN lower(btrim(m.status ->> 'membership_status')) END) = 'active', false),
        'rfid_tags', (CASE WHEN jsonb_typeof(m.access -> 'rfid_tags') = 'array' AND jsonb_array_length(m.access -> 'rfid_tags') <= 1 AND NOT jsonb_path_exists((m.access -> 'rfid_tags'), 'strict $[*] ? (!(@.type() == "string" && @ like_regex "^[0-9]{10}$"))') THEN (m.access -> 'rfid_tags') ELSE (SELECT COALESCE(jsonb_agg(tag ORDER BY first), '[]'::jsonb) FROM (SELECT (CASE WHEN length(btrim((e #>> '{}'))) < 10 THEN lpad(btrim((e #>> '{}')), 10, '0') ELSE btrim((e #>> '{}')) END) AS tag, min(i) AS first FROM jsonb_array_elements((CASE WHEN jsonb_typeof(m.access -> 'rfid_tags') = 'array' THEN (m.access -> 'rfid_tags') ELSE '[]'::jsonb END)) WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e) IN ('string', 'number') GROUP BY 1) AS tags WHERE tag ~ '^[0-9]{10}$') END),
        'authorizations', (CASE WHEN jsonb_typeof(m.authorizations -> 'authorizations') = 'array' AND NOT jsonb_path_exists((m.authorizations -> 'authorizations'), 'strict $[*] ? (@.type() != "string")') THEN (m.authorizations -> 'authorizations') ELSE (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements((CASE WHEN jsonb_typeof(m.authorizations -> 'authorizations') = 'array' THEN (m.authorizations -> 'authorizations') ELSE '[]'::jsonb END)) WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e) = 'string') END),
        'computer_authorizations', (CASE WHEN jsonb_typeof(m.authorizations -> 'computer_authorizations') = 'array' AND NOT jsonb_path_exists((m.authorizations -> 'computer_authorizations'), 'strict $[*] ? (@.type() != "string")') THEN (m.authorizations -> 'computer_authorizations') ELSE (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements((CASE WHEN jsonb_typeof(m.authorizations -> 'computer_authorizations') = 'array' THEN (m.authorizations -> 'computer_authorizations') ELSE '[]'::jsonb END)) WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e) = 'string') END)
    )
$fn$;

CREATE OR REPLACE FUNCTION integrations_capture_member_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    _new_data jsonb := integrations_member_snapshot(NEW);
    _old_data jsonb;
    _changed text[];
    _xact bigint := pg_current_xact_id()::text::bigint;
    _at timestamptz := clock_timestamp();
    _latest_id bigint;
    _latest_sequence integer;
    _latest_xact bigint;
    _latest_changed jsonb;
    _new_id bigint;
    _new_sequence integer;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        _old_data := integrations_member_snapshot(OLD);
        SELECT array_agg(k ORDER BY k) INTO _changed FROM unnest(ARRAY['username', 'email', 'first_name', 'last_name', 'membership_status', 'may_enter', 'rfid_tags', 'authorizations', 'computer_authorizations']::text[]) AS k
            WHERE (_new_data -> k) IS DISTINCT FROM (_old_data -> k);
        IF _changed IS NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        _changed := ARRAY['username', 'email', 'first_name', 'last_name', 'membership_status', 'may_enter', 'rfid_tags', 'authorizations', 'computer_authorizations']::text[];
    END IF;
    SELECT id, sequence, xact, changed
        INTO _latest_id, _latest_sequence, _latest_xact, _latest_changed
        FROM integrations_feedevent WHERE member_id = NEW.id ORDER BY sequence DESC LIMIT 1;
    IF _latest_xact IS NOT NULL AND _latest_xact = _xact THEN
        UPDATE integrations_feedevent SET
            snapshot = jsonb_build_object('event_id', _latest_id, 'sequence', _latest_sequence, 'changed_at', to_char(_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || _new_data,
            changed_at = _at,
            changed = (SELECT jsonb_agg(DISTINCT k ORDER BY k) FROM (
                SELECT jsonb_array_elements_text(_latest_changed) AS k
                UNION SELECT unnest(_changed)) AS keys)
        WHERE id = _latest_id;
    ELSE
        _new_id := nextval(pg_get_serial_sequence('integrations_feedevent', 'id'));
        _new_sequence := COALESCE(_latest_sequence, 0) + 1;
        INSERT INTO integrations_feedevent (id, member_id, sequence, xact, changed, snapshot,
                                   changed_at, pumped)
        VALUES (_new_id, NEW.id, _new_sequence, _xact, to_jsonb(_changed),
                jsonb_build_object('event_id', _new_id, 'sequence', _new_sequence, 'changed_at', to_char(_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || _new_data, _at, false);
    END IF;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS integrations_feed_insert ON members_member;
CREATE TRIGGER integrations_feed_insert AFTER INSERT ON members_member
    FOR EACH ROW EXECUTE FUNCTION integrations_capture_member_change();
DROP TRIGGER IF EXISTS integrations_feed_update ON members_member;
CREATE TRIGGER integrations_feed_update AFTER UPDATE ON members_member
    FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username OR OLD.email IS DISTINCT FROM NEW.email OR OLD.legacy_id IS DISTINCT FROM NEW.legacy_id OR OLD.identity IS DISTINCT FROM NEW.identity OR OLD.status IS DISTINCT FROM NEW.status OR OLD.access IS DISTINCT FROM NEW.access OR OLD.authorizations IS DISTINCT FROM NEW.authorizations)
    EXECUTE FUNCTION integrations_capture_member_change();

"""


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_capture"),
        ("members", "0010_erasurerequest"),
    ]

    operations = [
        migrations.RunSQL(CAPTURE_SQL, BACK),
    ]
