"""RFID tags: their compared form, and the SQL that reads, mirrors and edits the tag
list in `access.rfid_tags` (docs/shapes.md: a tag belongs to at most one member, compared
in its 10-digit, zero-padded form)."""

import re

# The key of the tag list in the `access` column (members/shapes.py declares it).
TAGS_KEY = "rfid_tags"


def rfid_tag_form(tag: str) -> str:
    """A tag as the database compares it: digits zero-padded to 10 (other text trimmed)."""
    tag = tag.strip()
    return tag.zfill(10) if tag.isascii() and tag.isdigit() else tag


def check_rfid_tag(tag: object) -> None:
    """Refuse anything but a tag in its 10-digit form (the only form the SQL writes)."""
    if not isinstance(tag, str) or not re.fullmatch(r"[0-9]{10}", tag):
        raise ValueError("an RFID tag is 10 digits")


def padded_tag_sql(expr: str) -> str:
    """rfid_tag_form() in SQL, for the text expression `expr`: the one copy of the
    padding rule in SQL (the tag mirror below, and the change feed's snapshot, whose
    installed trigger keeps this exact text in its migrations)."""
    return (
        f"(CASE WHEN length(btrim({expr})) < 10 THEN lpad(btrim({expr}), 10, '0')"
        f" ELSE btrim({expr}) END)"
    )


def _tag_array_sql(access: str) -> str:
    """access.rfid_tags as a JSON array, whatever the row holds."""
    return (
        f"(CASE WHEN jsonb_typeof({access} -> '{TAGS_KEY}') = 'array'"
        f" THEN {access} -> '{TAGS_KEY}' ELSE '[]'::jsonb END)"
    )


# Mirrors a member's tags into RfidTag, whose unique index then refuses a tag held by
# another member whatever path wrote it (save, update(), raw SQL, admin).
_SYNC_RFID_TAGS = f"""
    INSERT INTO members_rfidtag (tag, member_id)
    SELECT DISTINCT {padded_tag_sql("t")}, NEW.id
    FROM jsonb_array_elements_text({_tag_array_sql("NEW.access")}) AS t
    WHERE btrim(t) <> '';
    RETURN NULL;
"""  # noqa: S608 - constant SQL fragments, no input

# Tags are compared in their 10-digit form (legacy rows may hold unpadded tags),
# and access.rfid_tags is read as an array whatever the row holds.
RFID_HOLDS = f"""
    EXISTS (
        SELECT 1 FROM jsonb_array_elements_text({_tag_array_sql("access")}) AS t
        WHERE {padded_tag_sql("t")} = %s
    )
"""  # noqa: S608 - constant SQL fragments; the tag is a parameter
RFID_APPEND = f"""
    jsonb_set(
        COALESCE(access, '{{}}'::jsonb),
        '{{{TAGS_KEY}}}',
        {_tag_array_sql("access")} || to_jsonb(%s::text)
    )
"""
RFID_DROP = f"""
    jsonb_set(
        access,
        '{{{TAGS_KEY}}}',
        (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb)
         FROM jsonb_array_elements(access -> '{TAGS_KEY}') WITH ORDINALITY AS x(e, i)
         WHERE {padded_tag_sql("(e #>> '{}')")} <> %s)
    )
"""  # noqa: S608 - constant SQL fragments; the tag is a parameter
# Where a tag can be appended without replacing a damaged value staff should see.
RFID_WRITABLE = f"""
    (access IS NULL OR (jsonb_typeof(access) = 'object'
        AND COALESCE(jsonb_typeof(access -> '{TAGS_KEY}'), 'null') IN ('array', 'null')))
"""
