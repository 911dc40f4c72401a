from django.db import migrations


class Migration(migrations.Migration):
    # Placeholder: its data migration is written with the change it belongs to.
    dependencies = [("members", "0006_activation_id_check")]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
