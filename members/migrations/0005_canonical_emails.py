from django.db import migrations


class Migration(migrations.Migration):
    # Placeholder: its data migration is written with the change it belongs to.
    dependencies = [("members", "0004_member_legacy_id_duplicate_of_authorization")]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
