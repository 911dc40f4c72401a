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


def history_rows(member, fields=HISTORY_FIELDS) -> list[dict]:
    """The member's audit events, newest first, each with its source, user and changes."""
    events = list(member.events.select_related("pgh_context").order_by("pgh_id"))
    metadata = [e.pgh_context.metadata if e.pgh_context else {} for e in events]
    user_ids = {m.get("user") for m in metadata if isinstance(m.get("user"), int)}
    users = User.objects.in_bulk(user_ids)
    rows, previous = [], None
    for event, meta in zip(events, metadata, strict=True):
        rows.append(
            {
                "time": event.pgh_created_at,
                "label": event.pgh_label,
                "source": meta.get("source") or ("request" if meta else "unlabelled"),
                "user": users.get(meta.get("user")),
                "url": meta.get("url", ""),
                "changes": event_changes(previous, event, fields),
            }
        )
        previous = event
    rows.reverse()
    return rows


def event_changes(
    previous, event, fields=HISTORY_FIELDS
) -> list[tuple[str, str | None, str | None]]:
    """(what, before, after) as JSON for each value that differs from the previous
    event (None: absent); object columns are compared key by key and appended notes
    shown as added."""
    changes = []
    for field in fields:
        new = getattr(event, field)
        old = getattr(previous, field) if previous is not None else _ABSENT
        if old == new or (old is _ABSENT and new in (None, "", {}, [])):
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(old.keys() | new.keys()):
                before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
                if before != after:
                    changes.append((f"{field}.{key}", _show(before), _show(after)))
        elif isinstance(old, list) and isinstance(new, list) and new[: len(old)] == old:
            changes.extend((field, None, f"+ {_show(item)}") for item in new[len(old) :])
        else:
            changes.append((field, _show(old), _show(new)))
    return changes


def _show(value) -> str | None:
    return None if value is _ABSENT else json_preview(value)
