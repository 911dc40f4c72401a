"""The authorization catalog's admin: add a tool, rename it, retire it (no longer
offered; the grants made stay), and name its trainers, who alone (with the
Administrator group and superusers) may grant it."""

from django.contrib import admin, messages
from django.db.models import Count, Q

from dhportal.adminkit import SafeModelAdmin
from staff.display import plural


class AuthorizationAdmin(SafeModelAdmin):
    list_display = ("name", "kind", "offered", "trainer_names", "live_grants")
    list_filter = ("kind", "retired")
    search_fields = ("name",)
    fields = ("name", "kind", "retired", "trainers")
    filter_horizontal = ("trainers",)
    actions = ("retire", "offer_again")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(live=Count("grants", filter=Q(grants__revoked_at__isnull=True)))
            .prefetch_related("trainers")
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "trainers":
            # Trainers are staff logins.
            kwargs["queryset"] = db_field.related_model.objects.filter(
                is_staff=True, is_active=True
            ).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="offered", boolean=True, ordering="retired")
    def offered(self, tool):
        return not tool.retired

    @admin.display(description="trainers")
    def trainer_names(self, tool):
        names = sorted(t.get_username() for t in tool.trainers.all())
        return ", ".join(names) or "(none: anyone who may change authorizations)"

    @admin.display(description="members holding it", ordering="live")
    def live_grants(self, tool):
        return tool.live

    # Grants point at their tool: a tool is retired, never deleted.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retire: no longer offered (grants stay)", permissions=["change"])
    def retire(self, request, queryset):
        count = queryset.filter(retired=False).update(retired=True)
        self.message_user(request, f"Retired {plural(count, 'tool', 'tools')}.", messages.SUCCESS)

    @admin.action(description="Offer again", permissions=["change"])
    def offer_again(self, request, queryset):
        count = queryset.filter(retired=True).update(retired=False)
        self.message_user(
            request, f"{plural(count, 'tool', 'tools')} offered again.", messages.SUCCESS
        )
