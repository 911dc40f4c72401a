from django.contrib import admin, messages
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from billing import webhook
from billing.models import (
    DONE_STATES,
    Plan,
    ReconcileFinding,
    ReconcileRun,
    StripeEvent,
    Subscription,
)
from dhportal.adminkit import RecordAdmin, SafeModelAdmin


def _member_link(member):
    if member is None:
        return "-"
    try:
        url = reverse("admin:members_member_change", args=[member.pk])
    except NoReverseMatch:
        return str(member)
    return format_html('<a href="{}">{}</a>', url, str(member))


class StripeRecordAdmin(SafeModelAdmin):
    """Records written by Stripe's events: staff read them, never add or delete them."""

    list_select_related = ("member",)
    exclude = ("member",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="member")
    def member_link(self, obj):
        return _member_link(obj.member)


@admin.register(StripeEvent)
class StripeEventAdmin(StripeRecordAdmin):
    list_display = ("stripe_id", "type", "state", "member_link", "short_error", "created")
    # A list filter on `created`, not a date_hierarchy: the hierarchy's links for
    # ?created__year=9999&created__month=12 overflow the date range (a 500).
    list_filter = ("state", "type", "livemode", "created")
    search_fields = ("stripe_id", "object_id", "customer_id", "email", "member__email")
    actions = ["reprocess"]
    readonly_fields = [f.name for f in StripeEvent._meta.fields if f.name != "member"] + [
        "member_link"
    ]

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:80] + ("..." if len(obj.error) > 80 else "")

    @admin.action(
        description="Reprocess selected failed or unmatched events", permissions=["change"]
    )
    def reprocess(self, request, queryset):
        # Runs each event under its own row lock; an event already processed (by an
        # earlier run of this action or a redelivery) is left alone, so twice is safe.
        counts: dict[str, int] = {}
        skipped = 0
        for pk in queryset.order_by("created", "pk").values_list("pk", flat=True):
            event, ran = webhook.reprocess(pk)
            if ran:
                counts[event.state] = counts.get(event.state, 0) + 1
            else:
                skipped += 1
        if counts:
            summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
            level = messages.WARNING if set(counts) - set(DONE_STATES) else messages.SUCCESS
            self.message_user(request, f"Reprocessed: {summary}.", level)
        if skipped:
            self.message_user(
                request, f"{skipped} already processed or ignored; left unchanged.", messages.INFO
            )


@admin.register(Subscription)
class SubscriptionAdmin(StripeRecordAdmin):
    list_display = (
        "stripe_id",
        "customer_id",
        "status",
        "product_id",
        "member_link",
        "current_period_end",
        "last_event_created",
    )
    list_filter = ("status",)
    search_fields = ("stripe_id", "customer_id", "product_id", "member__email")
    readonly_fields = [f.name for f in Subscription._meta.fields if f.name != "member"] + [
        "member_link"
    ]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(SafeModelAdmin):
    list_display = ("name", "stripe_product_id")
    search_fields = ("name", "stripe_product_id")


class FindingState(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("fixed", "Fixed")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.open()
        if self.value() == "fixed":
            return queryset.filter(fixed__isnull=False)
        return queryset


@admin.register(ReconcileFinding)
class ReconcileFindingAdmin(StripeRecordAdmin):
    """What reconciliation found (billing/reconcile.py); a later run updates each row
    and marks it fixed when it repaired it or no longer finds it."""

    list_display = ("kind", "stripe_object", "member_link", "short_detail", "last_seen", "fixed")
    list_filter = (FindingState, "kind", "last_seen")
    search_fields = ("stripe_object", "detail", "member__email")
    readonly_fields = [f.name for f in ReconcileFinding._meta.fields if f.name != "member"] + [
        "member_link"
    ]

    @admin.display(description="detail")
    def short_detail(self, obj):
        return obj.detail[:120] + ("..." if len(obj.detail) > 120 else "")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReconcileRun)
class ReconcileRunAdmin(RecordAdmin):
    list_display = ("started", "finished", "dry_run", "summary", "error", "watermark")
    list_filter = ("dry_run", "started")
    readonly_fields = [f.name for f in ReconcileRun._meta.fields]
