"""Scrub tokens from the audit history: requests recorded before routes were elided kept
their full URL (`/signup/continue/<token>/`, password-reset keys) in the context
metadata. The same rule as today's recording (dhportal.routes.elide_tokens) rewrites
them; nothing else in a row changes. There is no way back: the tokens are gone."""

from django.db import migrations

from dhportal.routes import elide_tokens

BATCH = 1000


def scrub_history_tokens(apps, schema_editor):
    Context = apps.get_model("pghistory", "Context")
    contexts = Context.objects.using(schema_editor.connection.alias)
    rows = contexts.filter(metadata__has_key="url").only("id", "metadata")
    changed = []
    for context in rows.iterator(chunk_size=BATCH):
        url = context.metadata.get("url")
        if not isinstance(url, str):
            continue
        elided = elide_tokens(url)
        if elided != url:
            context.metadata["url"] = elided
            changed.append(context)
        if len(changed) >= BATCH:
            contexts.bulk_update(changed, ["metadata"])
            changed = []
    if changed:
        contexts.bulk_update(changed, ["metadata"])


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0006_activation_id_check"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [migrations.RunPython(scrub_history_tokens, migrations.RunPython.noop)]
