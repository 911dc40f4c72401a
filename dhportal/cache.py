"""The cache when CACHE_URL is unset: Django's database cache on the project's own
PostgreSQL (table `dhportal_cache`, created by migration members 0015), so every
process of the site (gunicorn's workers, the worker) counts rate limits together.
Redis through CACHE_URL stays the choice for scale.

Django's `incr` is a read then a write: two processes bumping one counter at once could
both read 4 and both write 5, letting a burst past a limit. Here it holds the row's lock
from the read to the write, so concurrent hits are counted one after the other.
"""

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections, router, transaction


class DatabaseCache(DjangoDatabaseCache):
    def incr(self, key, delta=1, version=None):
        made = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        table = connection.ops.quote_name(self.cache_model_class._meta.db_table)
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {table} WHERE cache_key = %s FOR UPDATE",  # noqa: S608 - fixed name
                [made],
            )
            value = self.get(key, self._missing_key, version=version)
            if value is self._missing_key:
                raise ValueError(f"Key '{key}' not found")
            value += delta
            self.set(key, value, version=version)
        return value
