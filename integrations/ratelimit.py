"""The access API's limit per key, counted in Django's cache by members.ratelimit's
counter (`add` then `incr`, atomic in Redis, so all workers count together).
`INTEGRATIONS_ACCESS_RATE_LIMIT` is "<count>/<seconds>" (120 a minute by default: a
door controller polling every few seconds stays far below it)."""

from django.conf import settings

from members.ratelimit import counter_hit

DEFAULT_RATE = "120/60"


def _rate() -> tuple[int, int]:
    rate = getattr(settings, "INTEGRATIONS_ACCESS_RATE_LIMIT", DEFAULT_RATE)
    amount, _, seconds = rate.partition("/")
    return int(amount), max(int(seconds), 1)


def hit(key_hash: str) -> tuple[bool, int]:
    """Count one request with this key; (allowed, seconds of the window)."""
    amount, seconds = _rate()
    used = counter_hit(f"integrations:rl:access:{key_hash}", seconds=seconds)
    return used <= amount, seconds
