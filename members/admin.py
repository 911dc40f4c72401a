"""Staff tooling: find incomplete members and repair them, activate new members after
onboarding, edit any column, and read every change from the audit history."""

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import smart_split, unescape_string_literal

from dhportal.adminkit import SafeActionsMixin, SafeModelAdmin
from members import admin_merge, services
from members.admin_forms import (
    ADD_NOTE,
    JSON_COLUMNS,
    LOST_RACE,
    ActivateForm,
    MemberAdminForm,
    StructuredMemberForm,
    json_preview,
    structured_fieldsets,
)
from members.audit import audit
from members.models import Member, MemberStatus, RfidTag, User, missing_q
from members.rfid import rfid_tag_form
from members.scaffolding import missing_columns
from members.shapes import NULLABLE_COLUMNS


class ScaffoldingFilter(admin.SimpleListFilter):
    """Complete, partial, or which piece is missing; the same expressions as
    Member.objects.partial() and its index, so the list uses member_partial_idx."""

    title = "completeness"
    parameter_name = "scaffolding"

    def lookups(self, request, model_admin):
        return [
            ("complete", "Complete"),
            ("partial", "Partial"),
            *[(f"missing_{column}", f"Missing {column}") for column in NULLABLE_COLUMNS],
            ("missing_membership_status", "Status without membership_status"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "complete":
            return queryset.complete()
        if value == "partial":
            return queryset.partial()
        if value and value.startswith("missing_"):
            label = value.removeprefix("missing_")
            if label in NULLABLE_COLUMNS or label == "membership_status":
                return queryset.filter(missing_q(label))
        return queryset


class MembershipStatusFilter(admin.SimpleListFilter):
    title = "membership status"
    parameter_name = "membership"

    def lookups(self, request, model_admin):
        return [*MemberStatus.choices, ("none", "(none)")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in MemberStatus.values:
            return queryset.filter(status__membership_status__iexact=value)
        if value == "none":
            return queryset.filter(Q(status__isnull=True) | missing_q("membership_status"))
        return queryset


class AwaitingActivationFilter(admin.SimpleListFilter):
    title = "onboarding"
    parameter_name = "onboarding"

    def lookups(self, request, model_admin):
        return [("awaiting", "Paid, awaiting activation")]

    def queryset(self, request, queryset):
        if self.value() == "awaiting":
            return queryset.awaiting_activation()
        return queryset


def partial_notice(request) -> dict:
    """The partial-members notice for the member list and the admin index."""
    if not request.user.has_perm("members.view_member"):
        return {}
    return {
        "partial_count": Member.objects.partial().count(),
        "partial_url": reverse("admin:members_member_changelist") + "?scaffolding=partial",
    }


@admin.register(Member)
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
        admin_merge.PossibleDuplicatesFilter,
    )
    # get_search_results does the searching; a search field makes the box appear.
    search_fields = ("email",)
    search_help_text = "Name, email, username, RFID tag or member number."
    ordering = ("-id",)
    list_per_page = 100
    # Sequence, not the tuple literal's type: admin_notifications appends a callable.
    actions: Sequence[Callable[..., Any] | str] = (
        "repair_members",
        "activate_members",
        "merge_two_members",
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
        ("Record", {"fields": JSON_COLUMNS}),
        ("Changes", {"fields": ("date_added", "date_modified", "last_updated_by")}),
        ("Deep Harbor", {"fields": ("legacy_id", "legacy_fixes", "duplicates")}),
    )

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
        if member.membership_status is not None:
            return member.membership_status
        # Not a status the shapes know: staff see what is on record, to fix it.
        stored = member.status.get("membership_status") if isinstance(member.status, dict) else None
        return stored.strip().lower() or "—" if isinstance(stored, str) else "—"

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
        return ", ".join(missing_columns(member)) or "—"

    # Duplicates and merging (members/admin_merge.py).
    duplicates = admin_merge.duplicate_holder
    merge_two_members = admin_merge.merge_two_members

    def get_urls(self):
        return admin_merge.merge_urls(self, super().get_urls())

    # Members join through signup, and statuses (not deletion) end a membership.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            condition = (
                Q(email__icontains=bit)
                | Q(username__icontains=bit)
                | Q(identity__first_name__icontains=bit)
                | Q(identity__last_name__icontains=bit)
                | Q(identity__nickname__icontains=bit)
            )
            number = bit.removeprefix("#")
            if number.isascii() and number.isdigit():
                if _is_member_number(number):
                    condition |= Q(pk=int(number))
                if int(number) < 2**31:  # a Deep Harbor id (legacy_id is an integer)
                    condition |= Q(legacy_id=int(number))
                if len(number) <= 10:
                    tagged = RfidTag.objects.filter(tag=rfid_tag_form(number)).values("member_id")
                    condition |= Q(pk__in=tagged)
            queryset = queryset.filter(condition)
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
            token = LOST_RACE.set({clash.field: clash.message})
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            finally:
                LOST_RACE.reset(token)

    # --- the change page: structured fields, or raw JSON for superusers ----------

    def _advanced(self, request) -> bool:
        return request.user.is_superuser and request.GET.get("advanced") == "1"

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self._advanced(request):
            return fieldsets
        can_fill = self.has_change_permission(request, obj)
        return [fieldsets[0], *structured_fieldsets(obj, can_fill=can_fill), *fieldsets[2:]]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = MemberAdminForm if self._advanced(request) else StructuredMemberForm
        return super().get_form(request, obj, change, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["advanced"] = self._advanced(request)
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

    @admin.action(description="Repair: fill the missing columns", permissions=["change"])
    def repair_members(self, request, queryset):
        with audit("repair", request.user):
            result = services.members_repair(queryset=queryset)
        level = messages.WARNING if result.damaged else messages.SUCCESS
        self.message_user(request, result.summary(), level)

    @admin.action(description="Activate after onboarding", permissions=["change"])
    def activate_members(self, request, queryset):
        members = list(queryset.only("id", "identity", "username", "email", "status"))
        members.sort(key=lambda m: m.pk)
        if request.POST.get("confirm") == "yes":
            form = ActivateForm(request.POST)
            if form.is_valid():
                self._activate(request, members, form.cleaned_data)
                return None
        else:
            today = timezone.localdate()
            form = ActivateForm(
                initial={
                    "id_checked_on": today,
                    "id_checked_by": request.user.pk,
                    "waiver_signed_on": today,
                    "orientation_completed_on": today,
                }
            )
        rows = [(m, self.membership(m), _activatable(m)) for m in members]
        context = {
            **self.admin_site.each_context(request),
            "title": "Activate after onboarding",
            "opts": self.opts,
            "rows": rows,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "activate_members",
        }
        return TemplateResponse(request, "admin/members/member/activate.html", context)

    def _activate(self, request, members, data):
        outcome = {}
        # member_activate records each activation as a staff write by this user.
        for member in members:
            result = services.member_activate(member_id=member.pk, by=request.user, **data)
            outcome.setdefault(result, []).append(member)

        def names(result):
            return ", ".join(str(m) for m in outcome.get(result, []))

        activated = len(outcome.get(services.ACTIVATED, []))
        self.message_user(request, f"Activated {_members(activated)}.", messages.SUCCESS)
        if services.REFUSED in outcome:
            self.message_user(
                request,
                "Not activated (banned, or a status this action does not change): "
                + names(services.REFUSED)
                + ".",
                messages.ERROR,
            )
        if services.ALREADY_ACTIVE in outcome:
            self.message_user(
                request, "Already active: " + names(services.ALREADY_ACTIVE) + ".", messages.INFO
            )

    def history_view(self, request, object_id, extra_context=None):
        member = self.get_object(request, unquote(object_id))
        if member is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, member):
            raise PermissionDenied
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
                    "changes": event_changes(previous, event),
                }
            )
            previous = event
        rows.reverse()
        page = Paginator(rows, 100).get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {member}",
            "subtitle": None,
            "opts": self.opts,
            "object": member,
            "page": page,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/members/member/history.html", context)


def _activatable(member) -> bool:
    """As services.member_activate decides: no status yet, or one it may change."""
    status = member.read("status")
    if status is not None and "membership_status" in status.unreadable:
        return False
    return member.membership_status is None or member.membership_status in services.ACTIVATABLE


def _members(count: int) -> str:
    return f"{count} member" if count == 1 else f"{count} members"


def _is_member_number(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) < 2**63


HISTORY_FIELDS = ("email", "username", "user_id", *JSON_COLUMNS)
_ABSENT = object()


def event_changes(previous, event) -> list[tuple[str, str | None, str | None]]:
    """(what, before, after) as JSON for each value that differs from the previous
    event (None: absent); object columns are compared key by key and appended notes
    shown as added."""
    changes = []
    for field in HISTORY_FIELDS:
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


class PortalUserAdmin(SafeActionsMixin, UserAdmin):
    """Logins. A member's email and username are edited on the member page, which keeps
    the login, its address and the member record in step."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and Member.objects.filter(user=obj).exists():
            readonly += ["username", "email"]
        return readonly


admin.site.register(User, PortalUserAdmin)

# The notifications list and the member list's invitation action (they extend MemberAdmin).
import members.admin_notifications  # noqa: E402, F401

# Erasure requests, and the member list's action opening one (they extend MemberAdmin).
from members import admin_erasure  # noqa: E402, F401
