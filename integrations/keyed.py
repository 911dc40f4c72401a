"""What every keyed endpoint of the door API checks, in this order: a bearer key (401
without a valid, unrevoked one), the scope the endpoint needs (403 outside the key's
scopes), the key's limit on this endpoint (429 with Retry-After).

The key is looked up by its SHA-256 (no comparison of secrets happens in Python), in
one statement that also reads the access list's version, so a poll answered 304 costs
one query. No session, no cookie, no CSRF: a key is not a browser's credential."""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass

from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from integrations import ratelimit
from integrations.access_version import VERSION_TABLE
from integrations.models import AccessKey, Scope
from integrations.services import key_hash

_BEARER = re.compile(r"^Bearer +([A-Za-z0-9_\-]{1,200}) *$", re.IGNORECASE)
# last_used_at is written at most this often per key (a poll every second would
# otherwise write the row every second).
TOUCH_EVERY = datetime.timedelta(seconds=60)

_KEY_SQL = f"""
    SELECT k.id, k.scopes, k.last_used_at,
           COALESCE((SELECT v.version FROM {VERSION_TABLE} AS v WHERE v.id = 1), 0)
    FROM {AccessKey._meta.db_table} AS k
    WHERE k.key_hash = %s AND k.revoked_at IS NULL
"""  # noqa: S608 - constant SQL from fixed names


@dataclass(frozen=True)
class UsedKey:
    """The key a request came with."""

    id: int
    scopes: tuple[str, ...]
    # The access list's version when the key was read.
    access_version: int


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _unauthorized():
    response = _error(401, "A valid access key is required.")
    response["WWW-Authenticate"] = 'Bearer realm="access"'
    return response


def _touch(key_id: int, last_used_at) -> None:
    now = timezone.now()
    if last_used_at is None or last_used_at < now - TOUCH_EVERY:
        AccessKey.objects.filter(pk=key_id).update(last_used_at=now)


def keyed(scope: Scope, limit: ratelimit.Limit):
    """Decorate a view taking (request, key: UsedKey, ...) with the key's checks."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            match = _BEARER.match(request.headers.get("Authorization", ""))
            if match is None:
                return _unauthorized()
            digest = key_hash(match.group(1))
            with connection.cursor() as cursor:
                cursor.execute(_KEY_SQL, [digest])
                row = cursor.fetchone()
            if row is None:
                return _unauthorized()
            key_id, scopes, last_used_at, version = row
            if scope not in scopes:
                return _error(403, f"This key's scopes do not include {scope}.")
            allowed, seconds = ratelimit.hit(limit, digest)
            if not allowed:
                response = _error(429, "Too many requests with this key.")
                response["Retry-After"] = str(seconds)
                return response
            _touch(key_id, last_used_at)
            return view(request, UsedKey(key_id, tuple(scopes), version), *args, **kwargs)

        return wrapper

    return decorate
