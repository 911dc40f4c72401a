"""The default cache (no CACHE_URL): Django's database cache on the project's PostgreSQL
(dhportal/cache.py), whose counters hold under concurrent hits and are seen by every
process."""

import subprocess
import sys

import pytest
from django.conf import settings

from dhportal.cache import DatabaseCache
from tests.dburl import test_database_url
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

HITS = 25

# A separate process counting on the same key, through the project's own settings and
# rate-limit counter, as another gunicorn worker would.
OTHER_PROCESS = """
import django, os, sys
django.setup()
from members.ratelimit import counter_hit
print(counter_hit(sys.argv[1], seconds=60))
"""


def database_cache():
    cache = DatabaseCache("dhportal_cache", {})
    cache.clear()
    return cache


def test_it_loses_no_hit_when_threads_count_on_one_key_at_once():
    cache = database_cache()
    cache.add("counter", 0, timeout=60)

    def hits():
        return [cache.incr("counter") for _ in range(HITS)]

    seen = [n for result in run_in_threads(hits, 4) for n in result]
    assert cache.get("counter") == 4 * HITS
    # Each hit saw its own count: none read a value another was still writing.
    assert sorted(seen) == list(range(1, 4 * HITS + 1))


def test_it_adds_only_over_an_absent_or_expired_key_and_sets_over_anything():
    cache = database_cache()
    assert cache.add("k", 1, timeout=60) is True
    assert cache.add("k", 2, timeout=60) is False
    assert cache.get("k") == 1
    cache.set("k", 3, timeout=60)
    assert cache.get("k") == 3
    cache.set("gone", 4, timeout=-1)  # already expired
    assert cache.get("gone") is None
    with pytest.raises(ValueError):
        cache.incr("gone")
    assert cache.add("gone", 5, timeout=60) is True
    assert cache.incr("gone", 2) == 7 and cache.decr("gone") == 6


def test_it_counts_a_limit_together_with_another_process():
    cache = database_cache()
    key = "signup:rl:shared-test"
    env = {
        "DJANGO_SETTINGS_MODULE": "dhportal.settings",
        "DATABASE_URL": test_database_url(),
        "SECRET_KEY": "x" * 50,
        "CACHE_URL": "",
        "PATH": "/usr/bin:/bin",
    }

    def other_process() -> int:
        result = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS, key],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return int(result.stdout.strip().splitlines()[-1])

    assert other_process() == 1
    assert other_process() == 2
    # This process sees (and adds to) what the others counted.
    assert cache.get(key) == 2
    assert cache.incr(key) == 3
    assert other_process() == 4
