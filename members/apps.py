from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # A completed password reset verifies the address it was mailed to (claim).
        from members import signals  # noqa: F401
