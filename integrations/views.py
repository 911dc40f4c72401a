"""GET /api/v1/access/: who may enter now, for door controllers (DESIGN §12).

Authenticated by a bearer key (integrations.AccessKey, looked up by its SHA-256, so no
comparison of secrets happens in Python), limited per key, answered from one SQL
statement over the member table through the same snapshot function as the feed. The
ETag is a hash of the member list alone, so a poll that changes nothing is a 304.
No session, no cookie, no CSRF (GET only; anything else is 405)."""

import datetime
import hashlib
import json
import re

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils import timezone
from django.utils.http import parse_etags
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from integrations import ratelimit
from integrations.models import AccessKey
from integrations.services import key_hash
from integrations.snapshot import MEMBER_TABLE, active_sql, field_sql

# What the list gives of each member: nothing else, whatever the snapshot holds.
ACCESS_KEYS = ("member_id", "username", "rfid_tags", "authorizations", "computer_authorizations")
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9_\-]{1,200}) *$", re.IGNORECASE)
# last_used_at is written at most this often per key (a poll every second would
# otherwise write the row every second).
TOUCH_EVERY = datetime.timedelta(seconds=60)


def _members_sql() -> str:
    pairs = ", ".join(
        "'member_id', m.id" if k == "member_id" else f"'{k}', {field_sql(k, 'm')}"
        for k in ACCESS_KEYS
    )
    return f"""
        SELECT COALESCE(json_agg(json_build_object({pairs}) ORDER BY m.id), '[]'::json)::text
        FROM {MEMBER_TABLE} AS m
        WHERE {active_sql("m")} AND {field_sql("may_enter", "m")}
    """  # noqa: S608 - constant SQL built from fixed names


def members_json() -> str:
    """The members who may enter now, as the JSON text of the list (ordered by id)."""
    with connection.cursor() as cursor:
        cursor.execute(_members_sql())
        return cursor.fetchone()[0]


def _unauthorized() -> JsonResponse:
    response = JsonResponse({"error": "A valid access key is required."}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="access"'
    return response


def _touch(key: AccessKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - TOUCH_EVERY:
        AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)


def _matches(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    tags = parse_etags(header)
    return "*" in tags or etag in tags or etag in (t.removeprefix("W/") for t in tags)


@csrf_exempt  # GET only: other methods get 405 instead of a CSRF 403
@require_GET
def access_list(request: HttpRequest) -> HttpResponse:
    match = _BEARER.match(request.headers.get("Authorization", ""))
    if match is None:
        return _unauthorized()
    digest = key_hash(match.group(1))
    key = AccessKey.objects.filter(key_hash=digest, revoked_at=None).only("last_used_at").first()
    if key is None:
        return _unauthorized()
    allowed, seconds = ratelimit.hit(digest)
    if not allowed:
        response = JsonResponse({"error": "Too many requests with this key."}, status=429)
        response["Retry-After"] = str(seconds)
        return response
    _touch(key)
    members = members_json()
    etag = '"' + hashlib.sha256(members.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if _matches(request, etag):
        not_modified = HttpResponseNotModified()
        for name, value in headers.items():
            not_modified[name] = value
        return not_modified
    generated_at = json.dumps(timezone.now().isoformat().replace("+00:00", "Z"))
    body = f'{{"generated_at": {generated_at}, "members": {members}}}'
    return HttpResponse(body, content_type="application/json", headers=headers)
