"""The table of the database cache used when CACHE_URL is unset (dhportal/cache.py):
what `manage.py createcachetable` makes for Django's DatabaseCache, as frozen SQL, so
every `migrate` (make run, make serve, a deploy, the test database) has it."""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS dhportal_cache (
    cache_key varchar(255) NOT NULL PRIMARY KEY,
    value text NOT NULL,
    expires timestamp with time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS dhportal_cache_expires ON dhportal_cache (expires);
"""

DROP = "DROP TABLE IF EXISTS dhportal_cache;"


class Migration(migrations.Migration):
    dependencies = [("members", "0014_emailchangelinkuse")]

    operations = [migrations.RunSQL(CREATE, DROP)]
