"""The authorize page (/admin/members/member/<id>/authorizations/): a member's tool
authorizations as grants (who granted each, when, until when, revoked), a form to grant
a tool and a revoke button per live grant, all through members/grants.py, which decides
who may grant what. Also its entry page from the admin index (find the member), the
panel on the member's page, and the member form's edit of the column."""

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from members import grants, shapes
from members.models import Authorization, Member
from members.search import member_search_q
from members.services import MemberClash
from staff.rights import column_rights


def may_open(user) -> bool:
    """Staff who may see authorizations, and every trainer."""
    return user.is_active and (
        user.has_perm("members.view_authorizations") or user.trained_authorizations.exists()
    )


class GrantForm(forms.Form):
    authorization = forms.ModelChoiceField(
        queryset=Authorization.objects.all(), label="Tool", empty_label="(choose a tool)"
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        help_text="Leave empty for a grant that does not expire.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    note = forms.CharField(required=False, max_length=1000, label="Note")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the tools this user may grant are offered; a posted other one is refused
        # by the service, with its reason.
        offered = grants.grantable(user).order_by("kind", "name")
        self.fields["authorization"].choices = [  # type: ignore[attr-defined]
            ("", "(choose a tool)"),
            *((tool.pk, f"{tool.name} ({tool.get_kind_display().lower()})") for tool in offered),
        ]


def _member_label(user, member) -> str:
    return str(member) if column_rights(user).may_view("identity") else f"#{member.pk}"


def authorize_view(model_admin, request, object_id):
    if not may_open(request.user):
        raise PermissionDenied
    pk = _pk(unquote(object_id))
    member = Member.objects.filter(pk=pk).first() if pk is not None else None
    if member is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    form = GrantForm(user=request.user)
    if request.method == "POST":
        if "revoke" in request.POST:
            return _revoke(request, member)
        if "grant" in request.POST:
            form = GrantForm(request.POST, user=request.user)
            if form.is_valid():
                done = _grant(request, member, form.cleaned_data)
                if done is not None:
                    return done
    rows = member.grants.select_related("authorization", "granted_by", "revoked_by").order_by(
        "revoked_at", "authorization__name", "-granted_at"
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Tool authorizations: {_member_label(request.user, member)}",
        "subtitle": None,
        "opts": model_admin.opts,
        "member": member,
        "member_label": _member_label(request.user, member),
        "grants": rows,
        "form": form,
        "may_change": request.user.has_perm("members.view_member"),
    }
    return TemplateResponse(request, "admin/members/member/authorizations.html", context)


def _pk(value) -> int | None:
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and int(text) < 2**63 else None


def _grant(request, member, data):
    try:
        grant = grants.authorization_grant(
            member_id=member.pk,
            authorization=data["authorization"],
            by=request.user,
            expires_on=data["expires_on"],
            note=data["note"],
        )
    except grants.GrantRefused as refused:
        messages.error(request, f"Not granted: {refused.reason}")
        return None
    messages.success(request, f"Granted {grant.authorization.name}.")
    return redirect(request.path)


def _revoke(request, member):
    grant_id = _pk(request.POST.get("revoke"))
    try:
        if grant_id is None:
            raise grants.GrantRefused("This member has no such grant.")
        grant = grants.authorization_revoke(member_id=member.pk, grant_id=grant_id, by=request.user)
    except grants.GrantRefused as refused:
        messages.error(request, f"Not revoked: {refused.reason}")
    else:
        messages.success(request, f"Revoked {grant.authorization.name}.")
    return redirect(request.path)


def pick_view(model_admin, request):
    """The admin index's "Grant a tool authorization": find the member, then their
    authorize page."""
    if not may_open(request.user):
        raise PermissionDenied
    query = (request.GET.get("q") or "").strip()[:100]
    found = []
    if query:
        columns = column_rights(request.user).view
        found = [
            (m.pk, _member_label(request.user, m))
            for m in Member.objects.filter(member_search_q(query, columns=columns))
            .filter(merged_into__isnull=True)
            .only("identity", "username", "email")
            .order_by("-id")[:20]
        ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Grant a tool authorization",
        "subtitle": None,
        "opts": model_admin.opts,
        "query": query,
        "found": found,
    }
    return TemplateResponse(request, "admin/members/member/authorize_pick.html", context)


def authorize_urls(model_admin) -> list:
    """The authorize page and its entry page, for MemberAdmin.get_urls."""
    site = model_admin.admin_site

    def member_page(request, object_id):
        return authorize_view(model_admin, request, object_id)

    def entry_page(request):
        return pick_view(model_admin, request)

    views = [site.admin_view(entry_page), site.admin_view(member_page)]
    for view in views:
        # As ModelAdmin.get_urls marks its own views.
        view.model_admin = model_admin
    return [
        path("authorizations/", views[0], name="members_member_authorize"),
        path("<path:object_id>/authorizations/", views[1], name="members_member_authorizations"),
    ]


def member_grants_panel(request, member) -> str:
    """The link to the authorize page on the member's page, with the live tools."""
    if member is None or not may_open(request.user):
        return ""
    live = [
        g.authorization.name
        for g in member.grants.filter(revoked_at__isnull=True)
        .select_related("authorization")
        .order_by("authorization__name")
    ]
    return format_html(
        '<div class="module member-grants"><h2>Tool authorizations</h2><p>{}</p>'
        '<p><a href="{}">Grant or revoke tool authorizations</a></p></div>',
        ", ".join(live) or "None yet.",
        reverse("admin:members_member_authorizations", args=[member.pk]),
    )


def column_edit(form, member, user) -> None:
    """The member form's edit of the authorizations column, made as grants and
    revocations; a refusal is shown next to the field and nothing is saved."""
    reading = shapes.read("authorizations", member.authorizations)
    physical = [n for n in (getattr(reading, "authorizations", None) or []) if n]
    computer = [n for n in (getattr(reading, "computer_authorizations", None) or []) if n]
    try:
        grants.authorizations_set(
            member_id=member.pk, physical=physical, computer=computer, by=user
        )
    except grants.GrantRefused as refused:
        field = (
            "authorizations"
            if "authorizations" in form.fields
            else "authorizations__authorizations"
        )
        raise MemberClash(field, refused.reason) from None
    member.authorizations = Member.objects.values_list("authorizations", flat=True).get(
        pk=member.pk
    )
