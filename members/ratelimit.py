"""The cache counter every rate limit of the project counts with (signup's, the access
API's, the dashboard's): a counter is created with `add` and bumped with `incr`, both
atomic in Redis, so every gunicorn worker sharing CACHE_URL counts together. The window
opens at the first hit and lasts the limit's seconds (the counter's expiry)."""

import contextlib

from django.core.cache import cache

# Wrong passwords a login may type on the dashboard's password-confirmed forms (the
# login email change, the password change, the erasure request) in an hour, together.
PASSWORD_FAILURES_PER_HOUR = 5
PASSWORD_LOCKED_MESSAGE = "Too many wrong passwords this hour; try again later."


def counter_hit(key: str, *, seconds: int) -> int:
    """Count one hit on `key`; the count so far in its window, this hit included."""
    cache.add(key, 0, timeout=seconds)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this is the first hit
        cache.set(key, 1, timeout=seconds)
        return 1


class PasswordLocked(Exception):
    """Too many wrong passwords for this login this hour; no check was made."""


def password_check_limited(user, password: str) -> bool:
    """`user.check_password(password)`, at most PASSWORD_FAILURES_PER_HOUR failures an
    hour per login, so a session left open cannot be used to guess the password.

    Raises PasswordLocked, without checking, once the limit is used up. The attempt is
    counted before the check and given back when the password is right, so parallel
    requests cannot make more failing checks than the limit between them."""
    key = f"password-failures:{user.pk}"
    if counter_hit(key, seconds=3600) > PASSWORD_FAILURES_PER_HOUR:
        raise PasswordLocked(PASSWORD_LOCKED_MESSAGE)
    if user.check_password(password):
        # The window may have ended meanwhile; then there is nothing to give back.
        with contextlib.suppress(ValueError):
            cache.decr(key)
        return True
    return False
