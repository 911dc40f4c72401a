"""The cache when CACHE_URL is unset: Django's database cache on the project's own
PostgreSQL (table `dhportal_cache`, created by migration members 0015), so every
process of the site (gunicorn's workers, the worker) counts rate limits together.
Redis through CACHE_URL stays the choice for scale.

Django's backend is kept for reading; what a rate limit does on every request is
rewritten for PostgreSQL:

- `incr` holds the row's lock from the read to the write: Django's reads then writes,
  so two processes bumping one counter at once could both read 4 and both write 5,
  letting a burst past a limit.
- `add` and `set` are one upsert each. Django's count the whole table first
  (`SELECT COUNT(*)`, on every write) and past MAX_ENTRIES delete a third of it, live
  counters included; here expired rows are swept now and then instead (one write in
  SWEEP_EVERY), and no live entry is ever culled.
- Each runs in a transaction of its own that does not wait for its commit to reach the
  disk (when the caller is not in a transaction already, whose commit must): a crash may
  forget the last few milliseconds of counts, and each hit costs no WAL flush.
"""

import base64
import contextlib
import pickle
import random
from datetime import UTC, datetime

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections, router, transaction
from django.utils import timezone

SWEEP_EVERY = 500


@contextlib.contextmanager
def _quick_commit(db, connection):
    """A transaction for one cache write; when it is the cache's own (not the caller's),
    its commit does not wait for the disk."""
    own = not connection.in_atomic_block
    with transaction.atomic(using=db), connection.cursor() as cursor:
        if own:
            cursor.execute("SET LOCAL synchronous_commit TO off")
        yield cursor


class DatabaseCache(DjangoDatabaseCache):
    def _where(self):
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        return db, connection, connection.ops.quote_name(self.cache_model_class._meta.db_table)

    def _expiry(self, timeout) -> datetime:
        seconds = self.get_backend_timeout(timeout)
        if seconds is None:
            return datetime.max.replace(tzinfo=UTC)
        return datetime.fromtimestamp(seconds, tz=UTC)

    def _encode(self, value) -> str:
        return base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")

    def _upsert(self, key, value, timeout, version, *, only_if_expired: bool) -> bool:
        made = self.make_and_validate_key(key, version=version)
        db, connection, table = self._where()
        condition = f" WHERE {table}.expires < %s" if only_if_expired else ""
        params = [made, self._encode(value), self._expiry(timeout)]
        with _quick_commit(db, connection) as cursor:
            if random.randrange(SWEEP_EVERY) == 0:  # noqa: S311 - not for security
                cursor.execute(f"DELETE FROM {table} WHERE expires < %s", [timezone.now()])  # noqa: S608
            cursor.execute(
                f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, %s, %s)"  # noqa: S608
                " ON CONFLICT (cache_key) DO UPDATE"
                f" SET value = EXCLUDED.value, expires = EXCLUDED.expires{condition}"
                " RETURNING 1",
                params + ([timezone.now()] if only_if_expired else []),
            )
            return cursor.fetchone() is not None

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._upsert(key, value, timeout, version, only_if_expired=False)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        # Stored when the key is absent or expired (Django's rule), in one statement.
        return self._upsert(key, value, timeout, version, only_if_expired=True)

    def incr(self, key, delta=1, version=None):
        made = self.make_and_validate_key(key, version=version)
        db, connection, table = self._where()
        with _quick_commit(db, connection) as cursor:
            cursor.execute(
                f"SELECT value FROM {table} WHERE cache_key = %s AND expires >= %s"  # noqa: S608
                " FOR UPDATE",
                [made, timezone.now()],
            )
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(row[0].encode()))  # noqa: S301 - our own rows
            value += delta
            cursor.execute(
                f"UPDATE {table} SET value = %s WHERE cache_key = %s",  # noqa: S608
                [self._encode(value), made],
            )
        return value
