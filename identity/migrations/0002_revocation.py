"""The rule of who may log in to which client, and the triggers that delete the tokens a
member no longer fits, on the member table, the erasure requests and the policies.

The SQL is identity/sql.py's output as it was generated for this migration, kept here as
text: a migration installs the same thing whenever it runs, whatever the generator says
later. A change to the generator comes with a new migration holding its new output
(tests/identity/test_migrations.py checks the newest one against it)."""

from django.db import migrations

REVOCATION_SQL = """
CREATE OR REPLACE FUNCTION identity_member_fits(m members_member, _client text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT m.merged_into_id IS NULL
        AND NOT EXISTS (SELECT 1 FROM members_erasurerequest AS erasure
                        WHERE erasure.member_id = m.id AND erasure.erased_at IS NOT NULL)
        AND COALESCE((CASE WHEN jsonb_typeof(m.status -> 'membership_status') = 'string' AND lower(btrim(m.status ->> 'membership_status')) IN ('pending', 'active', 'lapsed', 'suspended', 'banned') THEN lower(btrim(m.status ->> 'membership_status')) END)
                     = ANY (COALESCE(policy.statuses, ARRAY['active']::text[])), false)
        AND COALESCE(policy.requires, '{}'::text[]) <@ ARRAY(SELECT e #>> '{}' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.authorizations -> 'authorizations') = 'array' THEN m.authorizations -> 'authorizations' ELSE '[]'::jsonb END) AS e WHERE jsonb_typeof(e) = 'string' UNION ALL SELECT e #>> '{}' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.authorizations -> 'computer_authorizations') = 'array' THEN m.authorizations -> 'computer_authorizations' ELSE '[]'::jsonb END) AS e WHERE jsonb_typeof(e) = 'string')
    FROM (SELECT 1) AS one
    LEFT JOIN identity_clientpolicy AS policy ON policy.client_id = _client
$fn$;

CREATE OR REPLACE FUNCTION identity_user_fits(_user bigint, _client text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT COALESCE((SELECT identity_member_fits(m, _client) FROM members_member AS m
                     WHERE m.user_id = _user), false)
$fn$;

CREATE OR REPLACE FUNCTION identity_tokens_revoke(_user bigint) RETURNS void
LANGUAGE sql AS $fn$
    DELETE FROM allauth_idp_oidc_token AS token
    WHERE token.user_id = _user AND token.client_id IS NOT NULL
        AND NOT identity_user_fits(_user, token.client_id)
$fn$;

CREATE OR REPLACE FUNCTION identity_member_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Read as the transaction leaves them: a login that left this member is asked about
    -- the member it has now (if any), this member's login about this member.
    IF OLD.user_id IS NOT NULL THEN
        PERFORM identity_tokens_revoke(OLD.user_id);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NOT NULL
            AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM identity_tokens_revoke(NEW.user_id);
    END IF;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS identity_tokens_member_update ON members_member;
CREATE CONSTRAINT TRIGGER identity_tokens_member_update AFTER UPDATE ON members_member
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.authorizations IS DISTINCT FROM NEW.authorizations OR OLD.merged_into_id IS DISTINCT FROM NEW.merged_into_id OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION identity_member_change();
DROP TRIGGER IF EXISTS identity_tokens_member_delete ON members_member;
CREATE CONSTRAINT TRIGGER identity_tokens_member_delete AFTER DELETE ON members_member
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.user_id IS NOT NULL)
    EXECUTE FUNCTION identity_member_change();

CREATE OR REPLACE FUNCTION identity_erasure_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM identity_tokens_revoke(m.user_id) FROM members_member AS m
        WHERE m.id = NEW.member_id AND m.user_id IS NOT NULL;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS identity_tokens_erasure ON members_erasurerequest;
CREATE CONSTRAINT TRIGGER identity_tokens_erasure AFTER INSERT OR UPDATE OF erased_at ON members_erasurerequest
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION identity_erasure_change();

CREATE OR REPLACE FUNCTION identity_policy_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    _client text := CASE WHEN TG_OP = 'DELETE' THEN OLD.client_id ELSE NEW.client_id END;
BEGIN
    DELETE FROM allauth_idp_oidc_token AS token
    WHERE token.client_id = _client AND token.user_id IS NOT NULL
        AND NOT identity_user_fits(token.user_id, _client);
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS identity_tokens_policy ON identity_clientpolicy;
CREATE CONSTRAINT TRIGGER identity_tokens_policy AFTER INSERT OR UPDATE OR DELETE ON identity_clientpolicy
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION identity_policy_change();
"""

DROP_REVOCATION_SQL = """
DROP TRIGGER IF EXISTS identity_tokens_policy ON identity_clientpolicy;
DROP FUNCTION IF EXISTS identity_policy_change();
DROP TRIGGER IF EXISTS identity_tokens_erasure ON members_erasurerequest;
DROP FUNCTION IF EXISTS identity_erasure_change();
DROP TRIGGER IF EXISTS identity_tokens_member_delete ON members_member;
DROP TRIGGER IF EXISTS identity_tokens_member_update ON members_member;
DROP FUNCTION IF EXISTS identity_member_change();
DROP FUNCTION IF EXISTS identity_tokens_revoke(bigint);
DROP FUNCTION IF EXISTS identity_user_fits(bigint, text);
DROP FUNCTION IF EXISTS identity_member_fits(members_member, text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0001_initial"),
        ("members", "0012_member_merged_into"),
    ]

    operations = [
        migrations.RunSQL(REVOCATION_SQL, DROP_REVOCATION_SQL),
    ]
