from django.db import migrations


class Migration(migrations.Migration):
    # Placeholder: its indexes are written with the change it belongs to.
    dependencies = [("members", "0007_scrub_history_tokens")]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
