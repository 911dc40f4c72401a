from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The one receiver of allauth's password_reset: a completed reset verifies
        # the address it was mailed to (a claim, an invitation).
        from members import signals  # noqa: F401
