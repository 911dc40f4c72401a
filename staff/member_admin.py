"""The member admin: find incomplete members and repair them, activate new members
after onboarding, edit any column, merge duplicates, and read every change from the
audit history."""

import copy
from collections.abc import Mapping
from typing import cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import smart_split, unescape_string_literal

from dhportal.adminkit import SafeModelAdmin, member_panels
from members import services, shapes
from members.audit import audit
from members.models import Member
from members.partial import in_words
from members.scaffolding import missing_columns
from members.search import member_search_q
from staff import authorize_page, merge_page, rights
from staff.activation import activate_members
from staff.add_member import add_member_view
from staff.display import membership_text
from staff.erasure_admin import open_erasure_requests
from staff.fieldsets import structured_fieldsets
from staff.filters import (
    AwaitingActivationFilter,
    MembershipStatusFilter,
    MergedFilter,
    PossibleDuplicatesFilter,
    ScaffoldingFilter,
)
from staff.history import member_history
from staff.keys import ADD_NOTE
from staff.locking import LockedMemberForm
from staff.notification_admin import invite_members
from staff.raw_form import MemberAdminForm
from staff.structured import StructuredMemberForm


def partial_notice(request) -> dict:
    """The partial-members notice for the member list."""
    if not request.user.has_perm("members.view_member"):
        return {}
    return {
        "partial_count": Member.objects.partial().count(),
        "partial_url": reverse("admin:members_member_changelist") + "?scaffolding=partial",
    }


class MemberAdmin(SafeModelAdmin):
    form = MemberAdminForm
    list_display = (
        "id",
        "name",
        "email",
        "username",
        "membership",
        "subscription",
        "missing",
        "legacy_id",
        "added",
    )
    list_display_links = ("id", "name")
    list_filter = (
        ScaffoldingFilter,
        MembershipStatusFilter,
        AwaitingActivationFilter,
        PossibleDuplicatesFilter,
        MergedFilter,
    )
    # get_search_results does the searching; a search field makes the box appear.
    search_fields = ("email",)
    search_help_text = "Name, email, username, RFID tag or member number."
    ordering = ("-id",)
    list_per_page = 100
    actions = (
        "repair_members",
        activate_members,
        merge_page.merge_two_members,
        invite_members,
        open_erasure_requests,
    )
    readonly_fields = (
        "missing",
        "user",
        "billing_ref",
        "date_added",
        "date_modified",
        "last_updated_by",
        "legacy_id",
        "legacy_fixes",
        "duplicates",
    )
    # The raw view (superusers, ?advanced=1); get_fieldsets gives everyone else the
    # structured fields generated from the shapes.
    fieldsets = (
        (None, {"fields": ("missing", "user", "email", "username", "billing_ref", "loaded")}),
        ("Record", {"fields": shapes.COLUMNS}),
        ("Changes", {"fields": ("date_added", "date_modified", "last_updated_by")}),
        ("Deep Harbor", {"fields": ("legacy_id", "legacy_fixes", "duplicates")}),
    )
    # The errors a save lost to a unique index, for the form shown again after it
    # (changeform_view gives them to a copy of this admin, for that one request).
    lost_race: Mapping[str, str] = {}

    @admin.display(description="name")
    def name(self, member):
        return member.full_name or "—"

    @admin.display(description="date added", ordering="date_added")
    def added(self, member):
        # The day is enough in the list (the page shows the time); it keeps the column narrow.
        return timezone.localtime(member.date_added).date().isoformat()

    @admin.display(description="subscription")
    def subscription(self, member):
        # Stripe's subscription state as the webhook recorded it: who has paid.
        return member.subscription_status.replace("_", " ") or "—"

    @admin.display(description="membership status")
    def membership(self, member):
        # A record merged away is no member of its own: never listed under a status.
        if member.merged_into_id is not None:
            return f"merged into #{member.merged_into_id}"
        return membership_text(member)

    @admin.display(description="import fixes")
    def legacy_fixes(self, member):
        # The import ledger's rows (legacy app) through their reverse relation.
        fixes = [fix for row in member.imported_rows.all() for fix in row.fixes]
        if not fixes:
            return "—"
        items = format_html_join("", "<li>{}</li>", ((fix,) for fix in fixes))
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="missing")
    def missing(self, member):
        return ", ".join(in_words(label) for label in missing_columns(member)) or "—"

    # A duplicate's link to its holder, and the merge page (staff/merge_page.py).
    duplicates = merge_page.duplicate_holder

    def get_urls(self):
        return [
            *authorize_page.authorize_urls(self),
            *merge_page.merge_urls(self),
            *super().get_urls(),
        ]

    # --- column rights (staff/rights.py) --------------------------------------------

    def get_list_display(self, request):
        return rights.list_display(super().get_list_display(request), request.user)

    def get_list_filter(self, request):
        return rights.list_filters(super().get_list_filter(request), request.user)

    def has_activate_permission(self, request):
        return request.user.has_perm("members.activate_member")

    def has_repair_permission(self, request):
        # The repair fills any missing column.
        return self.has_change_permission(request) and rights.column_rights(request.user).change_all

    # Staff add members through signup's rules and service (staff/add_member.py).
    def add_view(self, request, form_url="", extra_context=None):
        return add_member_view(self, request)

    # Statuses, not deletion, end a membership.
    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            queryset = queryset.filter(
                member_search_q(bit, columns=rights.column_rights(request.user).view)
            )
        return queryset, False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**partial_notice(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.MemberClash as clash:
            # A unique index refused the save (another write won a race since the
            # form was checked; the atomic view rolled it back): show the form again
            # with the error, so nothing is saved.
            again = copy.copy(self)
            again.lost_race = {clash.field: clash.message}
            return super(MemberAdmin, again).changeform_view(
                request, object_id, form_url, extra_context
            )

    # --- the change page: structured fields, or raw JSON for superusers ----------

    def _advanced(self, request) -> bool:
        return request.user.is_superuser and request.GET.get("advanced") == "1"

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self._advanced(request):
            can_fill = self.has_change_permission(request, obj)
            fieldsets = [
                fieldsets[0],
                *structured_fieldsets(obj, can_fill=can_fill),
                *fieldsets[2:],
            ]
        return rights.visible_fieldsets(fieldsets, request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = MemberAdminForm if self._advanced(request) else StructuredMemberForm
        # A subclass of that form, made for this request (modelform_factory), so what
        # is set on it stays with it.
        form = cast(type[LockedMemberForm], super().get_form(request, obj, change, **kwargs))
        form = rights.restricted_form(form, request.user)
        form.lost_race = self.lost_race
        return form

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["advanced"] = self._advanced(request)
        # What other apps show about the member (their rows), below the form.
        context["member_panels"] = (
            [authorize_page.member_grants_panel(request, obj), *member_panels(request, obj)]
            if change
            else []
        )
        if change and obj is not None and not self.has_change_permission(request, obj):
            # View-only staff see the same fields as editors, disabled (Django would
            # show them as text, and could not show fields that are not the model's).
            form = StructuredMemberForm(instance=obj, disabled=True)
            context["adminform"] = helpers.AdminForm(
                form,
                list(self.get_fieldsets(request, obj)),
                {},
                self.get_readonly_fields(request, obj),
                model_admin=self,
            )
            context["view_only"] = True
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        with audit("staff", request.user):
            # The form locked the row when it checked it; apply() builds on the row as
            # it is now: NULL columns filled, the changed keys merged in.
            fields = form.apply(obj)
            if "authorizations" in fields:
                # Tool authorizations are grants (members/grants.py): the edit grants
                # and revokes, and the service writes the column.
                authorize_page.column_edit(form, obj, request.user)
                fields.remove("authorizations")
            services.member_change_login(
                member=obj,
                email=form.cleaned_data["email"],
                username=form.cleaned_data["username"],
                by=request.user,
                fields=fields,
            )
            note = form.cleaned_data.get(ADD_NOTE) and form.note
            if note:
                # Appended in SQL, never rewriting the list.
                Member.objects.filter(pk=obj.pk).append_note(
                    note, author=request.user.get_username(), user=request.user
                )

    @admin.action(description="Repair: fill the missing columns", permissions=["repair"])
    def repair_members(self, request, queryset):
        with audit("repair", request.user):
            result = services.members_repair(queryset=queryset)
        level = messages.WARNING if result.damaged else messages.SUCCESS
        self.message_user(request, result.summary(), level)

    def history_view(self, request, object_id, extra_context=None):
        return member_history(self, request, object_id, extra_context)
