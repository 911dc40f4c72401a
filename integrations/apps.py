from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Integrations"

    def ready(self):
        # integrations' answers to members' erasure hook, and what is counted on the
        # admin index (dhportal/needs_staff.py).
        from dhportal.needs_staff import register
        from integrations import receivers  # noqa: F401
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
