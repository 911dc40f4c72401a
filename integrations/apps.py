from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Integrations"

    def ready(self):
        # integrations' answers to members' hooks; what is counted and linked on the
        # admin index (dhportal/needs_staff.py); the door entries on a member's admin
        # page (dhportal/adminkit.py).
        from dhportal.adminkit import register_member_panel
        from dhportal.needs_staff import register, register_link
        from integrations import receivers  # noqa: F401
        from integrations.door_admin import VIEW_PERMISSION, member_entries_panel
        from integrations.models import Delivery

        register(
            "dead_deliveries",
            ("dead feed delivery", "dead feed deliveries"),
            count=lambda: Delivery.objects.dead().count(),
            url="admin:integrations_delivery_changelist",
            query="needs=dead",
            permission="integrations.view_delivery",
            order=55,
        )
        register_link(
            "who_is_here",
            "Who is here",
            url="admin:integrations_doorevent_here",
            permission=VIEW_PERMISSION,
            order=10,
        )
        register_link(
            "entry_log",
            "Entry log",
            url="admin:integrations_doorevent_changelist",
            permission=VIEW_PERMISSION,
            order=11,
        )
        register_member_panel(member_entries_panel)
        # Visits, and the gauges of deliveries and door events (dhportal/reports.py).
        from integrations.report_figures import register_integration_reports

        register_integration_reports()
