"""The door API (README, "Polling the access list" and "The door controller's side"):
keyed endpoints, checked by integrations/keyed.py (401, 403 outside the key's scopes,
429).

- GET /api/v1/access/ (`access:read`): who may enter now, from one SQL statement over
  the member table through the same snapshot SQL as the feed. Its ETag is the access
  list's version (integrations/access_version.py), read with the key: a poll that
  changes nothing is a 304 answered without building the list.
- POST /api/v1/door-events/ (`door-events:write`): a batch of door events
  (integrations/doors.py).
"""

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils import timezone
from django.utils.http import parse_etags
from django.views.decorators.http import require_GET, require_POST

from integrations import doors
from integrations.access_version import VERSION_TABLE
from integrations.keyed import UsedKey, keyed
from integrations.models import Scope
from integrations.ratelimit import Limit
from integrations.snapshot import MEMBER_TABLE, active_sql, field_sql

# What the list gives of each member: nothing else, whatever the snapshot holds.
ACCESS_KEYS = ("member_id", "username", "rfid_tags", "authorizations", "computer_authorizations")
# A batch of 1,000 events is about 150 kB; anything much larger is refused unread.
MAX_BODY = 1024 * 1024


def members_sql() -> str:
    """The access list's version and the members who may enter now (as the JSON text
    of the list, ordered by id), in one statement: the ETag and the body are read in
    one snapshot."""
    pairs = ", ".join(
        "'member_id', m.id" if k == "member_id" else f"'{k}', {field_sql(k, 'm')}"
        for k in ACCESS_KEYS
    )
    return f"""
        SELECT COALESCE((SELECT v.version FROM {VERSION_TABLE} AS v WHERE v.id = 1), 0),
               COALESCE(json_agg(json_build_object({pairs}) ORDER BY m.id), '[]'::json)::text
        FROM {MEMBER_TABLE} AS m
        WHERE {active_sql("m")} AND {field_sql("may_enter", "m")}
    """  # noqa: S608 - constant SQL built from fixed names


def members_json() -> tuple[int, str]:
    """(the list's version, the members who may enter now as JSON text)."""
    with connection.cursor() as cursor:
        cursor.execute(members_sql())
        return cursor.fetchone()


def etag_of(version: int) -> str:
    return f'"v{version}"'


def _matches(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    tags = parse_etags(header)
    return "*" in tags or etag in tags or etag in (t.removeprefix("W/") for t in tags)


def _caching_headers(etag: str) -> dict:
    return {"ETag": etag, "Cache-Control": "private, no-cache"}


@require_GET
@keyed(Scope.ACCESS_READ, Limit.ACCESS)
def access_list(request: HttpRequest, key: UsedKey) -> HttpResponse:
    etag = etag_of(key.access_version)
    if _matches(request, etag):
        response = HttpResponseNotModified()
        for name, value in _caching_headers(etag).items():
            response[name] = value
        return response
    version, members = members_json()
    generated_at = json.dumps(timezone.now().isoformat().replace("+00:00", "Z"))
    body = f'{{"generated_at": {generated_at}, "members": {members}}}'
    return HttpResponse(
        body, content_type="application/json", headers=_caching_headers(etag_of(version))
    )


def _refused(status: int, message: str, index: int | None = None) -> JsonResponse:
    return JsonResponse({"error": message, "index": index}, status=status)


@require_POST
@keyed(Scope.DOOR_EVENTS_WRITE, Limit.DOOR_EVENTS)
def door_events(request: HttpRequest, key: UsedKey) -> JsonResponse:
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return _refused(413, f"At most {doors.MAX_EVENTS} events in one request.")
    try:
        events = doors.parse_batch(request.body)
    except doors.BatchTooLarge as error:
        return _refused(413, str(error))
    except doors.BatchError as error:
        return _refused(400, str(error), error.index)
    recorded = doors.door_events_record(key_id=key.id, events=events)
    return JsonResponse(recorded.as_json())
