"""A member's audit history page: every write to the member, newest first, each as
what changed (old → new), with who or what made it."""

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.template.response import TemplateResponse

from members import shapes
from members.merge import merged_into
from members.models import User
from staff.display import json_preview
from staff.rights import history_fields

HISTORY_FIELDS = ("email", "username", "user_id", *shapes.COLUMNS)
_ABSENT = object()


def member_history(model_admin, request, object_id, extra_context=None):
    """MemberAdmin's history page (its history_view)."""
    member = model_admin.get_object(request, unquote(object_id))
    if member is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    if not model_admin.has_view_or_change_permission(request, member):
        raise PermissionDenied
    fields = history_fields(HISTORY_FIELDS, request.user)
    page = Paginator(history_rows(member, fields), 100).get_page(request.GET.get("p"))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"History: {member}",
        "subtitle": None,
        "opts": model_admin.opts,
        "object": member,
        "page": page,
        # The records merged into this member, each with its own history.
        "merged_members": merged_into(member),
        **(extra_context or {}),
    }
    return TemplateResponse(request, "admin/members/member/history.html", context)


# Where a write came from (members/audit.py's sources), as staff read it.
SOURCE_WORDS = {
    "signup": "signup",
    "member": "the member",
    "staff": "staff",
    "webhook": "Stripe (webhook)",
    "repair": "repair",
    "command": "a command",
    "import": "the Deep Harbor import",
    "merge": "a merge",
    "reconcile": "Stripe reconciliation",
    "erasure": "erasure",
    "request": "a web request",
    "unlabelled": "outside the portal (e.g. SQL)",
}
FIELD_LABELS = {"email": "Email", "username": "Username", "user_id": "Login"}


def _who(user, source: str) -> str:
    """ "Grace Hopper (staff)", or the source alone for writes without a user."""
    words = SOURCE_WORDS.get(source, source)
    if user is None:
        return words
    name = user.get_full_name() or user.get_username()
    return f"{name} ({words})"


def history_rows(member, fields=HISTORY_FIELDS) -> list[dict]:
    """The member's audit events, newest first, each with its source, user, who made it
    in words, and its changes."""
    events = list(member.events.select_related("pgh_context").order_by("pgh_id"))
    metadata = [e.pgh_context.metadata if e.pgh_context else {} for e in events]
    user_ids = {m.get("user") for m in metadata if isinstance(m.get("user"), int)}
    users = User.objects.in_bulk(user_ids)
    rows, previous = [], None
    for event, meta in zip(events, metadata, strict=True):
        source = meta.get("source") or ("request" if meta else "unlabelled")
        user = users.get(meta.get("user"))
        rows.append(
            {
                "time": event.pgh_created_at,
                "label": event.pgh_label,
                "source": source,
                "user": user,
                "who": _who(user, source),
                "url": meta.get("url", ""),
                "changes": event_changes(previous, event, fields),
            }
        )
        previous = event
    rows.reverse()
    return rows


Change = tuple[str, str | None, str | None]


def event_changes(previous, event, fields=HISTORY_FIELDS) -> list[Change]:
    """(label, before, after) in words for each value that differs from the previous
    event (before None: there was nothing); object columns key by key, each key by its
    label from the shapes; appended notes as "Note added"."""
    changes: list[Change] = []
    for field in fields:
        new = getattr(event, field)
        old = getattr(previous, field) if previous is not None else _ABSENT
        if old == new or (old is _ABSENT and new in (None, "", {}, [])):
            continue
        if field in shapes.COLUMNS:
            changes.extend(_column_changes(field, old, new))
        else:
            changes.append((FIELD_LABELS[field], _before(old), words(new)))
    return changes


def _column_changes(column: str, old, new) -> list[Change]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            (shapes.label(column, key), _before(old.get(key, _ABSENT)), words(new.get(key)))
            for key in _keys(old, new)
            if old.get(key, _ABSENT) != new.get(key, _ABSENT)
        ]
    if old in (None, _ABSENT) and isinstance(new, dict | list):
        # A column set up (signup, repair, staff filling it): said once, then the
        # values it was set up with, leaving out the empty defaults.
        changes: list[Change] = [(shapes.label(column), "not set up", "set up")]
        items = (
            [(key, new[key]) for key in _keys({}, new)]
            if isinstance(new, dict)
            else [(None, entry) for entry in new]
        )
        for key, value in items:
            if value not in (None, "", [], {}, False):
                label = shapes.label(column, key) if key else "Note added"
                changes.append((label, None, words(value)))
        return changes
    if isinstance(old, list) and isinstance(new, list) and new[: len(old)] == old:
        added = "Note added" if column == "notes" else shapes.label(column)
        return [(added, None, words(entry)) for entry in new[len(old) :]]
    return [(shapes.label(column), _before(old), words(new))]


def _keys(old: dict, new: dict) -> list[str]:
    """Both values' keys, known keys in the shape's order, then the others sorted."""
    present = old.keys() | new.keys()
    return sorted(present, key=lambda k: (k not in _ORDER, _ORDER.get(k, 0), k))


_ORDER = {key: i for column in shapes.COLUMNS for i, key in enumerate(shapes.keys(column))}


def _before(value) -> str | None:
    return None if value is _ABSENT else words(value)


def words(value) -> str:
    """A stored value as staff read it: text as it is, "empty", "not set", yes/no,
    lists joined, a note as its text with who wrote it and when."""
    if value is _ABSENT or value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if value.strip() else "empty"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ", ".join(words(item) for item in value) if value else "none"
    if isinstance(value, dict) and "email_address" in value:
        kind = value.get("type")
        return words(value["email_address"]) + (f" ({kind})" if kind else "")
    if isinstance(value, dict) and "note" in value:
        by = ", ".join(str(value[k]) for k in ("from", "timestamp") if value.get(k))
        return f"{words(value.get('note'))}" + (f" ({by})" if by else "")
    return json_preview(value)
