"""Staff tooling for duplicates (README: "Moving from Deep Harbor"): the link from a duplicate's
page to its holder, the action "Merge the two selected members", and the side-by-side
merge page. The merge itself is members/merge.py; MemberAdmin (staff/member_admin.py)
hooks these in; the list's "possible duplicates" filter is in staff/filters.py."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from members import shapes
from members.merge import (
    MergeRefused,
    choice_keys,
    choice_label,
    choice_value,
    default_choices,
    fixed_choices,
    is_merged_away,
    member_merge,
    merge_refusal,
    merged_into,
    shown_value,
)
from members.models import Member
from members.rfid import TAGS_KEY
from staff import rights

# The page's sections: the choices of each, by their first part, in order.
_SECTIONS = (
    ("Login", ("email", "username")),
    ("Dates", ("date_added",)),
    ("Personal details", ("identity",)),
    ("Membership", ("status",)),
    ("Contact", ("connections",)),
    ("Forms and checks", ("forms",)),
    ("Storage and other details", ("extras",)),
)


def _change_url(pk) -> str:
    return reverse("admin:members_member_change", args=[pk])


def merge_url(member_id, other_id) -> str:
    return reverse("admin:members_member_merge", args=[member_id]) + f"?with={other_id}"


@admin.display(description="duplicates")
def duplicate_holder(model_admin, member):
    """The change page's link: a duplicate's holder and "Merge with #N"; a record merged
    away, the member it went into; a survivor, the records merged into it."""
    if member is None or member.pk is None:
        return "—"
    if member.duplicate_of_id is not None:
        holder = format_html(
            '<a href="{}">#{}</a>', _change_url(member.duplicate_of_id), member.duplicate_of_id
        )
        if is_merged_away(member):
            return format_html("Merged into member {}; this record is no longer used.", holder)
        return format_html(
            'Possible duplicate of member {}. <a class="button" href="{}">Merge with #{}</a>',
            holder,
            merge_url(member.pk, member.duplicate_of_id),
            member.duplicate_of_id,
        )
    merged = merged_into(member)
    if merged:
        links = format_html_join(
            ", ",
            '<a href="{}">#{}</a> (<a href="{}">history</a>)',
            (
                (_change_url(m.pk), m.pk, reverse("admin:members_member_history", args=[m.pk]))
                for m in merged
            ),
        )
        return format_html("Merged into this member: {}", links)
    return "—"


@admin.action(description="Merge the two selected members", permissions=["change"])
def merge_two_members(model_admin, request, queryset):
    members = sorted(queryset.values_list("pk", "duplicate_of_id")[:3])
    if len(members) != 2:
        model_admin.message_user(request, "Select exactly two members to merge.", messages.WARNING)
        return None
    (first, first_holder), (second, _) = members
    # The page opens with the holder staying when one is the other's duplicate.
    if first_holder == second:
        first, second = second, first
    return HttpResponseRedirect(merge_url(second, first))


def merge_urls(model_admin) -> list:
    """The merge page's URL, for MemberAdmin.get_urls."""
    site = model_admin.admin_site

    def merge(request, object_id):
        return merge_view(model_admin, request, object_id)

    wrapper = site.admin_view(merge)
    # As ModelAdmin.get_urls marks its own views.
    wrapper.model_admin = model_admin
    return [path("<path:object_id>/merge/", wrapper, name="members_member_merge")]


def _member(value):
    try:
        pk = int(unquote(str(value)))
    except (TypeError, ValueError):
        return None
    if not 0 < pk < 2**63:
        return None
    return Member.objects.select_related("user").filter(pk=pk).first()


def _pk(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _sections(first, second, chosen):
    """The keys where the two differ, by section, each with both values and whose
    value is chosen; keys holding the same on both are left out."""
    differing = [
        c for c in choice_keys(first, second) if choice_value(first, c) != choice_value(second, c)
    ]
    fixed = fixed_choices(first, second)
    sections = []
    for title, parts in _SECTIONS:
        rows = [
            {
                "choice": choice,
                "label": choice_label(choice),
                "values": [
                    {
                        "member": member,
                        "text": shown_value(member, choice),
                        "chosen": chosen.get(choice) == member.pk,
                        # Stripe keeps writing to its customer's record: not a choice.
                        "disabled": choice in fixed and fixed[choice] != member.pk,
                    }
                    for member in (first, second)
                ],
            }
            for choice in differing
            if choice.partition(".")[0] in parts
        ]
        if rows:
            sections.append({"title": title, "rows": rows})
    return sections


def _listed(values) -> str:
    return ", ".join(str(v) for v in values) or "(none)"


def _united(first, second):
    """What both records' lists hold, as staff read them: kept whoever stays."""

    def of(member):
        access = member.access if isinstance(member.access, dict) else {}
        grants = member.authorizations if isinstance(member.authorizations, dict) else {}
        identity = member.identity if isinstance(member.identity, dict) else {}
        listed = identity.get("emails")
        emails = listed if isinstance(listed, list) else []
        notes = member.notes if isinstance(member.notes, list) else []
        return {
            "RFID tags": _listed(access.get(TAGS_KEY) or []),
            **{
                shapes.label("authorizations", key): _listed(grants.get(key) or [])
                for key in shapes.keys("authorizations")
            },
            "Email addresses": _listed(
                e.get("email_address") for e in emails if isinstance(e, dict)
            ),
            "Notes": f"{len(notes)} note{'' if len(notes) == 1 else 's'}",
        }

    mine, theirs = of(first), of(second)
    return [
        {"label": label, "values": [(first, mine[label]), (second, theirs[label])]}
        for label in mine
    ]


def _login(member) -> str:
    user = member.user
    if user is None:
        return "no login"
    used = "logged in" if user.last_login else "never logged in"
    return f"{user.get_username()} ({used})"


def merge_view(model_admin, request, object_id):
    """GET: both members side by side, a radio per key where they differ for whose
    value wins (the choices that lose nothing preselected) and a choice of the member
    that stays. POST: the merge (change permission)."""
    rights.require_merge_rights(request)
    first = _member(object_id)
    second = _member(request.POST.get("with") or request.GET.get("with"))
    if first is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    if not model_admin.has_view_or_change_permission(request, first):
        raise PermissionDenied
    if second is None or second.pk == first.pk:
        model_admin.message_user(
            request, "Choose another member to merge with this one.", messages.WARNING
        )
        return redirect(_change_url(first.pk))
    can_change = model_admin.has_change_permission(request, first)
    # The holder stays unless staff choose otherwise.
    stays = second if first.duplicate_of_id == second.pk else first
    other = second if stays is first else first
    chosen = default_choices(stays, other)
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied
        merged, stays = _merge_posted(model_admin, request, (first, second), chosen, stays)
        if merged is not None:
            return merged
    refusal = merge_refusal(stays, second if stays is first else first)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Merge members #{first.pk} and #{second.pk}",
        "subtitle": None,
        "opts": model_admin.opts,
        "members": [first, second],
        "cards": [(first, _login(first)), (second, _login(second))],
        "stays": stays.pk,
        "sections": _sections(first, second, chosen),
        "united": _united(first, second),
        "refusal": refusal,
        "can_change": can_change,
        "with": second.pk,
    }
    return TemplateResponse(
        request,
        "admin/members/member/merge.html",
        context,
        status=200,
    )


def _merge_posted(model_admin, request, pair, chosen, stays):
    """The merge staff posted (`chosen` takes their choices): the redirect to the
    member that stayed, or None, the reason in a message, and the member to show as
    staying."""
    members = {member.pk: member for member in pair}
    for choice in chosen:
        pk = _pk(request.POST.get(f"choice_{choice}"))
        if pk in members:
            chosen[choice] = pk
    survivor_pk = _pk(request.POST.get("survivor"))
    if survivor_pk not in members:
        error = "Choose the member that stays."
    else:
        survivor = members[survivor_pk]
        merged = next(member for member in pair if member is not survivor)
        try:
            result = member_merge(survivor=survivor, merged=merged, choices=chosen, by=request.user)
        except MergeRefused as refused:
            error = str(refused)
            stays = survivor
        else:
            model_admin.message_user(request, result.summary(), messages.SUCCESS)
            return redirect(_change_url(survivor.pk)), survivor
    if error:
        model_admin.message_user(request, f"Not merged: {error}", messages.ERROR)
    return None, stays
