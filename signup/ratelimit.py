"""Rate limits counted in Django's cache.

A counter is created with `add` and bumped with `incr`, both atomic in Redis, so
several gunicorn workers sharing CACHE_URL count together. The window opens at the
first request and lasts the limit's seconds (the counter's expiry), so it never resets
part-way through a burst at a clock boundary.

allauth's public limiter is not used: it never limits GET requests (the username
check is a GET) and is marked in allauth for deprecation. Both use the same client
address (members.net.client_ip, through the account adapter), and both count an IPv6
client by its /64 (members.net.rate_limit_key).
"""

import hashlib

from django.conf import settings
from django.shortcuts import render

from members.net import client_ip, rate_limit_key
from members.ratelimit import counter_hit


def _rate(action: str) -> tuple[int, int]:
    amount, _, seconds = settings.SIGNUP_RATE_LIMITS[action].partition("/")
    return int(amount), max(int(seconds), 1)


def hit(action: str, key: str) -> bool:
    """Count one request for (action, key); False once the limit is exceeded."""
    amount, seconds = _rate(action)
    digest = hashlib.sha256(key.encode()).hexdigest()
    return counter_hit(f"signup:rl:{action}:{digest}", seconds=seconds) <= amount


def hit_ip(request, action: str) -> bool:
    return hit(action, rate_limit_key(client_ip(request)))


def too_many_requests(request):
    return render(request, "signup/429.html", status=429)
