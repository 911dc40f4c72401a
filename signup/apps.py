from django.apps import AppConfig


class SignupConfig(AppConfig):
    name = "signup"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # signup's answer to members' erasure hook.
        # The funnel's first step (dhportal/reports.py).
        from dhportal.reports import register_funnel_step
        from signup import receivers  # noqa: F401
        from signup.models import SignupMailPurpose, SignupStart

        register_funnel_step(
            "started",
            "Signups started (step 1, new address)",
            count=lambda start, end: SignupStart.objects.filter(
                purpose=SignupMailPurpose.CONTINUE, started_at__gte=start, started_at__lt=end
            ).count(),
            order=10,
        )
