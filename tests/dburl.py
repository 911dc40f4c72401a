from urllib.parse import quote

from django.db import connection


def test_database_url() -> str:
    """A DATABASE_URL for the database this test runs on, for subprocesses (gunicorn,
    manage.py) that must see the test's rows."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    # The embedded PostgreSQL listens on a socket directory: percent-encode it as the host.
    host = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else db["HOST"]
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{quote(db['USER'])}{password}@{host}{port}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test
