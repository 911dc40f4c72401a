"""Staff tooling for lifecycle notifications: the list of notifications (kind, state,
error) with a resend action for failed ones, and the member list's invitation action
for imported members who never logged in (listed in MemberAdmin.actions)."""

from django.contrib import admin, messages

from dhportal.adminkit import RecordAdmin
from members import notifications
from members.models import NotificationState


class FailedFirst(admin.SimpleListFilter):
    title = "needs staff"
    parameter_name = "needs"

    def lookups(self, request, model_admin):
        return [("failed", "failed (resend once the mail server works)")]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(state=NotificationState.FAILED)
        return queryset


class NotificationAdmin(RecordAdmin):
    # Notifications are made by the transitions that cause them, never by hand.
    list_display = ("id", "member", "kind", "state", "attempts", "error", "created_at", "sent_at")
    list_display_links = ("id",)
    list_filter = (FailedFirst, "state", "kind", "created_at")
    list_select_related = ("member",)
    search_fields = ("=member__id", "key")
    search_help_text = "Member number or cause (Stripe event id, audit event id)."
    ordering = ("-created_at", "-id")
    list_per_page = 100
    actions = ("resend",)
    readonly_fields = (
        "member",
        "kind",
        "key",
        "state",
        "attempts",
        "error",
        "created_at",
        "sent_at",
    )

    def has_resend_permission(self, request):
        return request.user.has_perm("members.view_notification") and request.user.has_perm(
            "members.change_member"
        )

    @admin.action(description="Resend failed notifications", permissions=["resend"])
    def resend(self, request, queryset):
        ids = list(
            queryset.filter(state=NotificationState.FAILED).values_list("pk", flat=True)[:1000]
        )
        resent = sum(notifications.notification_resend(notification_id=pk) for pk in ids)
        skipped = queryset.count() - resent
        text = f"Queued {resent} notifications again."
        if skipped:
            text += f" {skipped} were not failed and were left alone."
        self.message_user(request, text, messages.SUCCESS if resent else messages.WARNING)


@admin.action(
    description="Invite to the portal (imported members who never logged in)",
    permissions=["change"],
)
def invite_members(modeladmin, request, queryset):
    """Mail each selected imported member a link to set their password; at most once a
    week per member. The admin log entry of the invitation is the notification's key."""
    counts = dict.fromkeys(
        (notifications.INVITED, notifications.THROTTLED, notifications.NOT_INVITABLE), 0
    )
    for member_id in queryset.order_by("pk").values_list("pk", flat=True)[:1000]:
        result = notifications.invitation_create(member_id=member_id, by=request.user)
        counts[result] += 1
    parts = [f"Invited {counts[notifications.INVITED]} members."]
    if counts[notifications.THROTTLED]:
        parts.append(
            f"{counts[notifications.THROTTLED]} were invited in the last week and were skipped."
        )
    if counts[notifications.NOT_INVITABLE]:
        parts.append(
            f"{counts[notifications.NOT_INVITABLE]} are not imported members with an unused "
            "login and an email, or are banned or suspended; nothing sent to them."
        )
    level = messages.SUCCESS if counts[notifications.INVITED] else messages.WARNING
    modeladmin.message_user(request, " ".join(parts), level)
