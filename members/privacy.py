"""A member's copy of everything the portal holds on them (README "Privacy"), as one
JSON document.

The member's JSON columns are laid out by the shapes (members/shapes.py): each known key
in the shape's order, then any other key the row holds, so nothing stored is left out;
values are given as stored (a reading would turn a value of the wrong type into null,
and the member is owed what is on record, not what the portal can read).

What the other apps hold (billing: subscriptions and Stripe events) they add
themselves, answering `member_exporting` (members/hooks.py): members knows none of
their tables, and a site without an app still exports.
"""

import datetime

from allauth.account.models import EmailAddress
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from members import shapes
from members.hooks import export_parts
from members.models import ErasureRequest, Member, Notification

FORMAT_VERSION = 1
_MEMBER_FIELDS = ("id", "email", "username", "legacy_id", "date_added", "date_modified")


def export_value(value):
    """A value as the export gives it: dates and times in ISO 8601, the rest as is."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def _shaped_object(column: str, raw):
    if not isinstance(raw, dict):
        return raw  # NULL, or a damaged column: as stored
    known = shapes.keys(column)
    laid_out = {key: raw.get(key) for key in known}
    laid_out.update({k: v for k, v in raw.items() if k not in known})
    return laid_out


def shaped_column(column: str, raw):
    """A raw column value laid out by its shape (notes: each entry)."""
    if column == "notes":
        if not isinstance(raw, list):
            return raw
        return [_shaped_object("notes", entry) for entry in raw]
    return _shaped_object(column, raw)


def _member(member) -> dict:
    data = {field: export_value(getattr(member, field)) for field in _MEMBER_FIELDS}
    data["member_number"] = member.pk
    for column in shapes.COLUMNS:
        data[column] = shaped_column(column, getattr(member, column))
    return data


def _login(member) -> dict | None:
    user = member.user
    if user is None:
        return None
    return {
        "login_name": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "date_joined": export_value(user.date_joined),
        "last_login": export_value(user.last_login),
        "email_addresses": [
            {"email": a.email, "verified": a.verified, "primary": a.primary}
            for a in EmailAddress.objects.filter(user=user).order_by("pk")
        ],
    }


def _history(member, user_id) -> list:
    """The member row's audit history: each write, when, from where, and the row after
    it. Who wrote it is said as "you", "staff" or nobody (a webhook, the import):
    staff logins are not the member's data."""
    entries = []
    events = member.events.select_related("pgh_context").order_by("pgh_created_at", "pgh_id")
    for event in events:
        meta = event.pgh_context.metadata if event.pgh_context else {}
        writer = meta.get("user")
        entries.append(
            {
                "at": export_value(event.pgh_created_at),
                "what": event.pgh_label,
                "source": meta.get("source") or ("request" if meta else ""),
                "by": "you" if writer == user_id and writer else ("staff" if writer else None),
                "row": {
                    "email": event.email,
                    "username": event.username,
                    **{c: shaped_column(c, getattr(event, c)) for c in shapes.COLUMNS},
                },
            }
        )
    return entries


def member_export(*, member: Member) -> dict:
    """Everything the portal holds on the member, as JSON-ready data: members' own
    parts, with the other apps' parts (members/hooks.py) after the login."""
    head = {
        "format": FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "member": _member(member),
        "login": _login(member),
    }
    tail = {
        "notifications": [
            {
                "kind": n.kind,
                "state": n.state,
                "attempts": n.attempts,
                "error": n.error,
                "created_at": export_value(n.created_at),
                "sent_at": export_value(n.sent_at),
            }
            for n in Notification.objects.filter(member=member).order_by("created_at", "pk")
        ],
        "erasure_requests": [
            {"requested_at": export_value(r.requested_at), "erased_at": export_value(r.erased_at)}
            for r in ErasureRequest.objects.filter(member=member).order_by("requested_at")
        ],
        "history": _history(member, member.user_id),
    }
    parts = export_parts(member)
    taken = parts.keys() & (head.keys() | tail.keys())
    if taken:
        raise ImproperlyConfigured(f"An app exports keys members gives itself: {sorted(taken)}")
    return {**head, **parts, **tail}
