"""Rate-limit counter benchmark: what one hit costs in each cache the site can count in.

Without CACHE_URL the site counts its rate limits in Django's database cache on its own
PostgreSQL (dhportal/cache.py, whose incr holds the row lock so no concurrent hit is
lost); CACHE_URL may name Redis; a per-process memory cache is the old default (fast,
but each worker counts alone). Measured in the same run, as members.ratelimit's
counter_hit does it (`add` then `incr`):

  * one hit at a time: p50 and p95 per hit, and the ratio to the memory cache;
  * 4 threads hitting one key together: hits/s, and hits lost (must be 0 for the shared
    caches: the final count must equal the hits made).

The database is BENCH_DATABASE_URL (by default
postgres://postgres@127.0.0.1:5432/dh_bench_ratelimit), dropped and re-created, then
migrated (which creates the cache table). Redis is 127.0.0.1:6379/13 when it answers.

Run from the repository root: .venv/bin/python bench/ratelimit.py
"""

import os
import statistics
import sys
import threading
import time
from pathlib import Path

import _setup

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dh_bench_ratelimit"
)
REDIS_URL = "redis://127.0.0.1:6379/13"
HITS = 2_000
THREADS, THREAD_HITS = 4, 250


def hit(cache, key: str, seconds: int = 3600) -> int:
    # members.ratelimit.counter_hit, on a given cache.
    cache.add(key, 0, timeout=seconds)
    return cache.incr(key)


def sequential(cache) -> list[float]:
    times = []
    for n in range(HITS):
        started = time.perf_counter()
        hit(cache, f"bench:seq:{n % 50}")
        times.append(time.perf_counter() - started)
    return times


def concurrent(cache) -> tuple[float, int]:
    from django.db import connections

    key = "bench:together"
    cache.delete(key)
    gate = threading.Barrier(THREADS)

    def work():
        gate.wait()
        for _ in range(THREAD_HITS):
            hit(cache, key)
        connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return THREADS * THREAD_HITS / elapsed, THREADS * THREAD_HITS - (cache.get(key) or 0)


def main() -> None:
    _setup.recreate_database(DATABASE_URL)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="dhportal.settings",
        DATABASE_URL=DATABASE_URL,
        SECRET_KEY="bench-ratelimit-" + "x" * 40,
        CACHE_URL="",
    )
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache
    from django.core.management import call_command

    from dhportal.cache import DatabaseCache

    call_command("migrate", verbosity=0)
    caches = {
        "memory (per process)": LocMemCache("bench", {}),
        "database (default)": DatabaseCache("dhportal_cache", {}),
    }
    if _setup.fresh_redis(REDIS_URL):
        caches["redis (CACHE_URL)"] = RedisCache(REDIS_URL, {})
    else:
        print("Redis does not answer at", REDIS_URL, "- measured without it")

    rows = {}
    for name, cache in caches.items():
        times = sequential(cache)
        rate, lost = concurrent(cache)
        p50 = statistics.median(times) * 1000
        p95 = statistics.quantiles(times, n=20)[18] * 1000
        rows[name] = (p50, p95, rate, lost)
    base = rows["memory (per process)"][0]
    print(f"{HITS} hits one at a time; {THREADS} threads x {THREAD_HITS} hits on one key")
    print(
        f"{'cache':22} {'p50 ms':>8} {'p95 ms':>8} {'x memory':>9}"
        f" {'hits/s (4 thr)':>15} {'lost':>5}"
    )
    for name, (p50, p95, rate, lost) in rows.items():
        print(f"{name:22} {p50:8.3f} {p95:8.3f} {p50 / base:9.1f} {rate:15.0f} {lost:5d}")


if __name__ == "__main__":
    main()
