"""The access API's limit per key, counted in Django's cache as signup/ratelimit.py
counts its limits (`add` then `incr`, atomic in Redis, so all workers count together).
`INTEGRATIONS_ACCESS_RATE_LIMIT` is "<count>/<seconds>" (120 a minute by default: a
door controller polling every few seconds stays far below it)."""

from django.conf import settings
from django.core.cache import cache

DEFAULT_RATE = "120/60"


def _rate() -> tuple[int, int]:
    rate = getattr(settings, "INTEGRATIONS_ACCESS_RATE_LIMIT", DEFAULT_RATE)
    amount, _, seconds = rate.partition("/")
    return int(amount), max(int(seconds), 1)


def hit(key_hash: str) -> tuple[bool, int]:
    """Count one request with this key; (allowed, seconds of the window)."""
    amount, seconds = _rate()
    cache_key = f"integrations:rl:access:{key_hash}"
    cache.add(cache_key, 0, timeout=seconds)
    try:
        used = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: this is the first hit
        cache.set(cache_key, 1, timeout=seconds)
        used = 1
    return used <= amount, seconds
