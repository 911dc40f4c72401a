"""Who may log in to which client, as SQL, and the triggers that delete the tokens a
member no longer fits (README, "Log in to other systems with the portal").

The rule is one SQL function, `identity_member_fits(member, client)`: the member is not
merged away, not erased, has a membership status the client's policy allows (default:
active) and holds every authorization it requires (default: none). The authorization
page and the token endpoint ask it (identity/policy.py), and triggers ask it whenever
something it reads changes, whatever made the change (the webhook, staff, a merge, an
erasure, a repair, the import, raw SQL): the member's status, authorizations, merge
mark or login; an erasure request being closed; a client's policy. The tokens that no
longer fit are deleted in the same transaction, so a refresh then fails with
`invalid_grant` and the access tokens stop working at once.

The triggers are deferred to the end of the transaction (constraint triggers), so they
judge what the transaction leaves, not a step on the way: a merge first takes the login
from the merged record and then gives it to the survivor, and the login's tokens stay
when the survivor fits.

Readings are tolerant, like the shapes' readers (members/shapes.py): a NULL column, a
missing key or a value of the wrong type is no status and no authorization.

The migrations install this as text they keep: a change here needs a new migration
holding `revocation_sql()`'s new output as its REVOCATION_SQL, which
tests/identity/test_migrations.py asks for.
"""

from __future__ import annotations

import re

from members import shapes
from members.shapes import MemberStatus

MEMBER_TABLE = "members_member"
ERASURE_TABLE = "members_erasurerequest"
POLICY_TABLE = "identity_clientpolicy"
TOKEN_TABLE = "allauth_idp_oidc_token"

FITS = "identity_member_fits"
USER_FITS = "identity_user_fits"
REVOKE = "identity_tokens_revoke"
MEMBER_FUNCTION = "identity_member_change"
ERASURE_FUNCTION = "identity_erasure_change"
POLICY_FUNCTION = "identity_policy_change"
MEMBER_UPDATE_TRIGGER = "identity_tokens_member_update"
MEMBER_DELETE_TRIGGER = "identity_tokens_member_delete"
ERASURE_TRIGGER = "identity_tokens_erasure"
POLICY_TRIGGER = "identity_tokens_policy"

# Where the shapes keep what the rule reads.
STATUS_COLUMN, STATUS_KEY = "status", "membership_status"
AUTHORIZATIONS_COLUMN = "authorizations"
assert STATUS_KEY in shapes.keys(STATUS_COLUMN)
# The member columns an update must touch to change what the rule says (besides the
# login and the merge mark).
READ_COLUMNS = (STATUS_COLUMN, AUTHORIZATIONS_COLUMN)

# What a client's policy allows unless it says otherwise (and what a client without a
# policy row gets): active members.
DEFAULT_STATUSES = (MemberStatus.ACTIVE.value,)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _literal(text: str) -> str:
    """A SQL string literal for a name taken from the shapes (checked, never input)."""
    if not _IDENTIFIER.match(text):
        raise ValueError(f"unexpected key {text!r}")
    return f"'{text}'"


def status_sql(row: str) -> str:
    """The membership status of the member in `row`, trimmed and lower-cased as the
    shapes read it, or NULL when it is not one of the statuses."""
    value = f"{row}.{STATUS_COLUMN} -> {_literal(STATUS_KEY)}"
    raw = f"lower(btrim({row}.{STATUS_COLUMN} ->> {_literal(STATUS_KEY)}))"
    statuses = ", ".join(_literal(s) for s in MemberStatus.values)
    return f"(CASE WHEN jsonb_typeof({value}) = 'string' AND {raw} IN ({statuses}) THEN {raw} END)"


def authorizations_sql(row: str) -> str:
    """The names in every list of the member's authorizations column (physical and
    computer), as a text[]; elements that are not text are left out."""
    selects = []
    for key in shapes.keys(AUTHORIZATIONS_COLUMN):
        value = f"{row}.{AUTHORIZATIONS_COLUMN} -> {_literal(key)}"
        listed = f"CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} ELSE '[]'::jsonb END"
        selects.append(
            f"SELECT e #>> '{{}}' FROM jsonb_array_elements({listed}) AS e"  # noqa: S608
            " WHERE jsonb_typeof(e) = 'string'"
        )
    return "ARRAY(" + " UNION ALL ".join(selects) + ")"


def fits_sql() -> str:
    """The rule, and the same asked of a login (false when no member has it)."""
    default_statuses = ", ".join(_literal(s) for s in DEFAULT_STATUSES)
    return f"""
CREATE OR REPLACE FUNCTION {FITS}(m {MEMBER_TABLE}, _client text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT m.merged_into_id IS NULL
        AND NOT EXISTS (SELECT 1 FROM {ERASURE_TABLE} AS erasure
                        WHERE erasure.member_id = m.id AND erasure.erased_at IS NOT NULL)
        AND COALESCE({status_sql("m")}
                     = ANY (COALESCE(policy.statuses, ARRAY[{default_statuses}]::text[])), false)
        AND COALESCE(policy.requires, '{{}}'::text[]) <@ {authorizations_sql("m")}
    FROM (SELECT 1) AS one
    LEFT JOIN {POLICY_TABLE} AS policy ON policy.client_id = _client
$fn$;

CREATE OR REPLACE FUNCTION {USER_FITS}(_user bigint, _client text) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT COALESCE((SELECT {FITS}(m, _client) FROM {MEMBER_TABLE} AS m
                     WHERE m.user_id = _user), false)
$fn$;
"""  # noqa: S608 - constant SQL from fixed names and the shapes' keys


def revocation_sql() -> str:
    """The rule's functions, the function that deletes a login's tokens it no longer
    fits, and the triggers on the member table, the erasure requests and the policies.
    Authorization codes are tokens too (allauth keeps them in the same table)."""
    changed = " OR ".join(
        f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in (*READ_COLUMNS, "merged_into_id", "user_id")
    )
    return f"""{fits_sql()}
CREATE OR REPLACE FUNCTION {REVOKE}(_user bigint) RETURNS void
LANGUAGE sql AS $fn$
    DELETE FROM {TOKEN_TABLE} AS token
    WHERE token.user_id = _user AND token.client_id IS NOT NULL
        AND NOT {USER_FITS}(_user, token.client_id)
$fn$;

CREATE OR REPLACE FUNCTION {MEMBER_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Read as the transaction leaves them: a login that left this member is asked about
    -- the member it has now (if any), this member's login about this member.
    IF OLD.user_id IS NOT NULL THEN
        PERFORM {REVOKE}(OLD.user_id);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NOT NULL
            AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM {REVOKE}(NEW.user_id);
    END IF;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS {MEMBER_UPDATE_TRIGGER} ON {MEMBER_TABLE};
CREATE CONSTRAINT TRIGGER {MEMBER_UPDATE_TRIGGER} AFTER UPDATE ON {MEMBER_TABLE}
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN ({changed})
    EXECUTE FUNCTION {MEMBER_FUNCTION}();
DROP TRIGGER IF EXISTS {MEMBER_DELETE_TRIGGER} ON {MEMBER_TABLE};
CREATE CONSTRAINT TRIGGER {MEMBER_DELETE_TRIGGER} AFTER DELETE ON {MEMBER_TABLE}
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.user_id IS NOT NULL)
    EXECUTE FUNCTION {MEMBER_FUNCTION}();

CREATE OR REPLACE FUNCTION {ERASURE_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM {REVOKE}(m.user_id) FROM {MEMBER_TABLE} AS m
        WHERE m.id = NEW.member_id AND m.user_id IS NOT NULL;
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS {ERASURE_TRIGGER} ON {ERASURE_TABLE};
CREATE CONSTRAINT TRIGGER {ERASURE_TRIGGER} AFTER INSERT OR UPDATE OF erased_at ON {ERASURE_TABLE}
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION {ERASURE_FUNCTION}();

CREATE OR REPLACE FUNCTION {POLICY_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    _client text := CASE WHEN TG_OP = 'DELETE' THEN OLD.client_id ELSE NEW.client_id END;
BEGIN
    DELETE FROM {TOKEN_TABLE} AS token
    WHERE token.client_id = _client AND token.user_id IS NOT NULL
        AND NOT {USER_FITS}(token.user_id, _client);
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS {POLICY_TRIGGER} ON {POLICY_TABLE};
CREATE CONSTRAINT TRIGGER {POLICY_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {POLICY_TABLE}
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION {POLICY_FUNCTION}();
"""  # noqa: S608 - constant SQL from fixed names and the shapes' keys


def drop_sql() -> str:
    """What reverses revocation_sql()."""
    return f"""
DROP TRIGGER IF EXISTS {POLICY_TRIGGER} ON {POLICY_TABLE};
DROP FUNCTION IF EXISTS {POLICY_FUNCTION}();
DROP TRIGGER IF EXISTS {ERASURE_TRIGGER} ON {ERASURE_TABLE};
DROP FUNCTION IF EXISTS {ERASURE_FUNCTION}();
DROP TRIGGER IF EXISTS {MEMBER_DELETE_TRIGGER} ON {MEMBER_TABLE};
DROP TRIGGER IF EXISTS {MEMBER_UPDATE_TRIGGER} ON {MEMBER_TABLE};
DROP FUNCTION IF EXISTS {MEMBER_FUNCTION}();
DROP FUNCTION IF EXISTS {REVOKE}(bigint);
DROP FUNCTION IF EXISTS {USER_FITS}(bigint, text);
DROP FUNCTION IF EXISTS {FITS}({MEMBER_TABLE}, text);
"""
