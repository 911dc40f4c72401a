from django.apps import AppConfig


class LegacyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "legacy"
    verbose_name = "Deep Harbor import"

    def ready(self):
        # Marks the import ledger when members merges a legacy member away.
        from legacy import signals  # noqa: F401
