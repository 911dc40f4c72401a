from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Identity"

    def ready(self):
        # identity's answers to members' hooks (export, erasure), and the checks that
        # say whether the provider has its signing key.
        from identity import checks, receivers  # noqa: F401
