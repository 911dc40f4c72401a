"""A member's copy of everything the portal holds on them (DESIGN §14), as one JSON
document.

The member's JSON columns are laid out by the shapes (members/shapes.py): each known key
in the shape's order, then any other key the row holds, so nothing stored is left out;
values are given as stored (a reading would turn a value of the wrong type into null,
and the member is owed what is on record, not what the portal can read).

Subscriptions and Stripe events belong to the billing app, which imports members; they
are reached through the app registry at call time (`apps.get_model`), never imported,
so imports keep pointing one way and a site without billing still exports.
"""

import datetime

from allauth.account.models import EmailAddress
from django.apps import apps
from django.utils import timezone

from members import shapes
from members.models import ErasureRequest, Member, Notification

FORMAT_VERSION = 1
_MEMBER_FIELDS = ("id", "email", "username", "legacy_id", "date_added", "date_modified")


def _value(value):
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
    data = {field: _value(getattr(member, field)) for field in _MEMBER_FIELDS}
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
        "date_joined": _value(user.date_joined),
        "last_login": _value(user.last_login),
        "email_addresses": [
            {"email": a.email, "verified": a.verified, "primary": a.primary}
            for a in EmailAddress.objects.filter(user=user).order_by("pk")
        ],
    }


def _billing(member) -> tuple[list, list]:
    if not apps.is_installed("billing"):
        return [], []
    subscription = apps.get_model("billing", "Subscription")
    event = apps.get_model("billing", "StripeEvent")
    subscriptions = [
        {
            "stripe_subscription_id": s.stripe_id,
            "stripe_customer_id": s.customer_id,
            "status": s.status,
            "product_id": s.product_id,
            "current_period_end": _value(s.current_period_end),
            "date_added": _value(s.date_added),
        }
        for s in subscription.objects.filter(member_id=member.pk).order_by("date_added", "pk")
    ]
    # Summaries: what happened when, not Stripe's whole payload (which may name others,
    # e.g. the person who paid).
    events = [
        {
            "stripe_event_id": e.stripe_id,
            "type": e.type,
            "created": _value(e.created),
            "state": e.state,
            "processed_at": _value(e.processed_at),
        }
        for e in event.objects.filter(member_id=member.pk).order_by("created", "pk")
    ]
    return subscriptions, events


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
                "at": _value(event.pgh_created_at),
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
    """Everything the portal holds on the member, as JSON-ready data."""
    subscriptions, stripe_events = _billing(member)
    return {
        "format": FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "member": _member(member),
        "login": _login(member),
        "subscriptions": subscriptions,
        "stripe_events": stripe_events,
        "notifications": [
            {
                "kind": n.kind,
                "state": n.state,
                "attempts": n.attempts,
                "error": n.error,
                "created_at": _value(n.created_at),
                "sent_at": _value(n.sent_at),
            }
            for n in Notification.objects.filter(member=member).order_by("created_at", "pk")
        ],
        "erasure_requests": [
            {"requested_at": _value(r.requested_at), "erased_at": _value(r.erased_at)}
            for r in ErasureRequest.objects.filter(member=member).order_by("requested_at")
        ],
        "history": _history(member, member.user_id),
    }
