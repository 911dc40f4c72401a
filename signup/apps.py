from django.apps import AppConfig


class SignupConfig(AppConfig):
    name = "signup"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # signup's answer to members' erasure hook.
        from signup import receivers  # noqa: F401
