"""The door API's limits per key and endpoint, counted in Django's cache by
members.ratelimit's counter (`add` then `incr`, atomic in Redis, so all workers count
together). Each limit is "<count>/<seconds>":

- `INTEGRATIONS_ACCESS_RATE_LIMIT` (120 a minute by default: a door controller polling
  every few seconds stays far below it);
- `INTEGRATIONS_METRICS_RATE_LIMIT` (60 a minute: Prometheus scrapes every 15 s or so);
- `INTEGRATIONS_DOOR_EVENTS_RATE_LIMIT` (600 a minute: a controller sending each swipe
  as it happens, or its backlog in batches after an outage).
"""

from enum import StrEnum

from django.conf import settings

from members.ratelimit import counter_hit


class Limit(StrEnum):
    """A keyed endpoint's limit: its value names the counter."""

    ACCESS = "access"
    DOOR_EVENTS = "door-events"
    METRICS = "metrics"


SETTINGS = {
    Limit.ACCESS: ("INTEGRATIONS_ACCESS_RATE_LIMIT", "120/60"),
    Limit.DOOR_EVENTS: ("INTEGRATIONS_DOOR_EVENTS_RATE_LIMIT", "600/60"),
    Limit.METRICS: ("INTEGRATIONS_METRICS_RATE_LIMIT", "60/60"),
}


def _rate(limit: Limit) -> tuple[int, int]:
    name, default = SETTINGS[limit]
    amount, _, seconds = getattr(settings, name, default).partition("/")
    return int(amount), max(int(seconds), 1)


def hit(limit: Limit, key_hash: str) -> tuple[bool, int]:
    """Count one request with this key; (allowed, seconds of the window)."""
    amount, seconds = _rate(limit)
    used = counter_hit(f"integrations:rl:{limit}:{key_hash}", seconds=seconds)
    return used <= amount, seconds
