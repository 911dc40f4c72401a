"""Fixed-window rate limits counted in Django's cache.

The counter is created with `add` and bumped with `incr`, both atomic in Redis, so
several gunicorn workers sharing CACHE_URL count together.
"""

import hashlib
import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render


def client_ip(request) -> str:
    """REMOTE_ADDR, or the address TRUSTED_PROXY_COUNT proxies deep in X-Forwarded-For.

    A header shorter than the proxy count, or an entry that is not an address, falls
    back to REMOTE_ADDR: it only makes the limit stricter, never a 500.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.headers.get("x-forwarded-for", "")
    if count <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    if len(hops) < count:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-count].strip("[]")))
    except ValueError:
        return remote


def _rate(action: str) -> tuple[int, int]:
    amount, _, seconds = settings.SIGNUP_RATE_LIMITS[action].partition("/")
    return int(amount), max(int(seconds), 1)


def hit(action: str, key: str) -> bool:
    """Count one request for (action, key); False once the limit is exceeded."""
    amount, seconds = _rate(action)
    window = int(time.time() // seconds)
    digest = hashlib.sha256(key.encode()).hexdigest()
    cache_key = f"signup:rl:{action}:{digest}:{window}"
    cache.add(cache_key, 0, timeout=seconds)
    try:
        used = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: this is the first hit
        cache.set(cache_key, 1, timeout=seconds)
        used = 1
    return used <= amount


def hit_ip(request, action: str) -> bool:
    return hit(action, client_ip(request))


def too_many_requests(request):
    return render(request, "signup/429.html", status=429)
