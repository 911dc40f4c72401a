"""Activation used to write the ID check's date into `forms.id_check_1` and the checking
staff user's username into `forms.id_check_2`, keys that hold the ID document's issuer
and number (Deep Harbor's use). It now writes `id_check_date` and `id_check_by`; this
moves what it already wrote there and restores the two keys to "".

A row is moved only when activation is sure to have written it: `id_check_1` is a
"YYYY-MM-DD" date, `id_check_2` is not empty, `id_check_date` and `id_check_by` are not
set yet, and the member's notes hold activation's own note for that very check
("Activated after onboarding by <staff> (...): ID checked <date> by <checker>, ...").
Anything else (an issuer that happens to look like a date, a hand edit) is left alone.
"""

from django.db import migrations

_ACTIVATED = "Activated after onboarding by %"

# One statement: every key is merged (`||`), so the rest of `forms` stays as it was.
_FORWARD = r"""
    UPDATE members_member AS m
    SET forms = m.forms || jsonb_build_object(
        'id_check_date', m.forms ->> 'id_check_1',
        'id_check_by', m.forms ->> 'id_check_2',
        'id_check_1', '',
        'id_check_2', ''
    )
    WHERE jsonb_typeof(m.forms) = 'object'
      AND jsonb_typeof(m.forms -> 'id_check_1') = 'string'
      AND jsonb_typeof(m.forms -> 'id_check_2') = 'string'
      AND m.forms ->> 'id_check_1' ~ '^\d{4}-\d{2}-\d{2}$'
      AND m.forms ->> 'id_check_2' <> ''
      AND COALESCE(jsonb_typeof(m.forms -> 'id_check_date'), 'null') = 'null'
      AND COALESCE(m.forms ->> 'id_check_by', '') = ''
      AND jsonb_typeof(m.notes) = 'array'
      AND EXISTS (
          SELECT 1 FROM jsonb_array_elements(m.notes) AS n
          WHERE jsonb_typeof(n) = 'object'
            AND jsonb_typeof(n -> 'note') = 'string'
            AND n ->> 'note' LIKE %(activated)s
            AND strpos(
                n ->> 'note',
                'ID checked ' || (m.forms ->> 'id_check_1')
                    || ' by ' || (m.forms ->> 'id_check_2') || ','
            ) > 0
      )
"""

# Back to where activation used to write, for the same rows only (the note names them).
_BACKWARD = r"""
    UPDATE members_member AS m
    SET forms = (m.forms - 'id_check_date' - 'id_check_by') || jsonb_build_object(
        'id_check_1', m.forms ->> 'id_check_date',
        'id_check_2', m.forms ->> 'id_check_by'
    )
    WHERE jsonb_typeof(m.forms) = 'object'
      AND jsonb_typeof(m.forms -> 'id_check_date') = 'string'
      AND jsonb_typeof(m.forms -> 'id_check_by') = 'string'
      AND COALESCE(m.forms ->> 'id_check_1', '') = ''
      AND COALESCE(m.forms ->> 'id_check_2', '') = ''
      AND jsonb_typeof(m.notes) = 'array'
      AND EXISTS (
          SELECT 1 FROM jsonb_array_elements(m.notes) AS n
          WHERE jsonb_typeof(n) = 'object'
            AND jsonb_typeof(n -> 'note') = 'string'
            AND n ->> 'note' LIKE %(activated)s
            AND strpos(
                n ->> 'note',
                'ID checked ' || (m.forms ->> 'id_check_date')
                    || ' by ' || (m.forms ->> 'id_check_by') || ','
            ) > 0
      )
"""


def _run(sql):
    def run(apps, schema_editor):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql, {"activated": _ACTIVATED})

    return run


move_id_checks = _run(_FORWARD)
restore_id_checks = _run(_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("members", "0005_canonical_emails")]

    operations = [migrations.RunPython(move_id_checks, restore_id_checks)]
