from django.apps import AppConfig


class LegacyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "legacy"
    verbose_name = "Deep Harbor import"

    def ready(self):
        # The import ledger's answers to members' merge and erasure hooks.
        from legacy import receivers  # noqa: F401
