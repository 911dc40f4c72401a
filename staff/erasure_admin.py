"""Erasure requests in admin (README: "Privacy"): the list of requests, the action
`erase` (a confirmation page; staff with the change permission only, so view-only
staff cannot), and staff opening a request for a member (the add form, or the member
list's action, listed in MemberAdmin.actions)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from dhportal.adminkit import SafeModelAdmin
from members.erasure import (
    ErasureRefused,
    erasure_refusal,
    erasure_request_open,
    member_erase,
)
from staff.display import plural


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("erased", "Erased"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(erased_at=None)
        if self.value() == "erased":
            return queryset.exclude(erased_at=None)
        return queryset


class ErasureRequestAdmin(SafeModelAdmin):
    list_display = ("__str__", "member_link", "requested_at", "approved_by", "erased_at")
    list_filter = (OpenFilter,)
    list_select_related = ("approved_by", "member")
    raw_id_fields = ("member",)
    actions = ("erase",)
    fields = ("member", "requested_at", "approved_by", "erased_at")

    def get_readonly_fields(self, request, obj=None):
        # Only the member is chosen, and only when opening a request; the rest is
        # written by the erasure.
        if obj is None:
            return ("requested_at", "approved_by", "erased_at")
        return self.fields

    @admin.display(description="Member")
    def member_link(self, obj):
        # Number and name, linked to the member's page (an erased member keeps its
        # number; its name is gone with the rest).
        url = reverse("admin:members_member_change", args=[obj.member_id])
        return format_html('<a href="{}">#{} {}</a>', url, obj.member_id, obj.member.display_name)

    def has_change_permission(self, request, obj=None):
        # Requests are not edited by hand; the change permission is what `erase` needs.
        return super().has_change_permission(request, obj) and obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # One open request per member: an existing one is kept rather than doubled.
        request_row, _ = erasure_request_open(member=obj.member)
        obj.pk = request_row.pk
        obj.requested_at = request_row.requested_at

    @admin.action(description="Erase the members of the selected requests", permissions=["change"])
    def erase(self, request, queryset):
        rows = list(queryset.select_related("member", "member__user").order_by("pk"))
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Erase members' personal data",
                "opts": self.opts,
                "rows": [(r, None if r.erased_at else erasure_refusal(r.member)) for r in rows],
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "action": "erase",
            }
            return TemplateResponse(
                request, "admin/members/erasurerequest/erase_confirmation.html", context
            )
        erased, again, refused = 0, 0, []
        for row in rows:
            was_done = row.erased_at is not None
            try:
                member_erase(request=row, by=request.user)
            except ErasureRefused as refusal:
                refused.append(f"member #{row.member_id}: {refusal}")
                continue
            if was_done:
                again += 1
            else:
                erased += 1
        parts = [f"Erased {plural(erased, 'member', 'members')}."]
        if again:
            parts.append(f"{plural(again, 'request was', 'requests were')} already done.")
        if refused:
            parts.append("Refused: " + "; ".join(refused))
        self.message_user(
            request, " ".join(parts), messages.WARNING if refused else messages.SUCCESS
        )
        return None


@admin.action(description="Open an erasure request", permissions=["change"])
def open_erasure_requests(modeladmin, request, queryset):
    opened = sum(
        erasure_request_open(member=member)[1] for member in queryset.only("id").order_by("pk")
    )
    selected = queryset.count()
    text = f"Opened {plural(opened, 'erasure request', 'erasure requests')}."
    if selected - opened:
        text += f" {plural(selected - opened, 'member', 'members')} already had one open."
    modeladmin.message_user(request, text, messages.SUCCESS)
