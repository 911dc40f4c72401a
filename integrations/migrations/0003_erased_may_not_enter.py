"""An erased member never may enter (DESIGN §14): the snapshot function's may_enter
reads the erasure requests, and closing a request records the member's event. Runs the
generated `capture_sql()` again (it replaces the functions and the triggers); going
back drops the erasure trigger and puts back the function as 0002 installed it."""

from django.db import migrations

from integrations.snapshot import ERASURE_FUNCTION, ERASURE_TABLE, ERASURE_TRIGGER, capture_sql

BACK = f"""
DROP TRIGGER IF EXISTS {ERASURE_TRIGGER} ON {ERASURE_TABLE};
DROP FUNCTION IF EXISTS {ERASURE_FUNCTION}();
{capture_sql(erasure=False)}
"""


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_capture"),
        ("members", "0010_erasurerequest"),
    ]

    operations = [
        migrations.RunSQL(capture_sql(), BACK),
    ]
