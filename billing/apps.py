from functools import partial

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # billing's answers to members' merge, erasure, refusal and export hooks.
        from billing import receivers  # noqa: F401

        # What needs staff here, counted on the admin index (dhportal/needs_staff.py).
        from billing.models import EventState, Plan, ReconcileFinding, StripeEvent
        from billing.report_figures import register_billing_reports
        from dhportal.adminkit import register_plan_names
        from dhportal.needs_staff import register

        # Members per plan, the funnel's "paid" and billing's gauges (dhportal/reports.py).
        register_billing_reports()
        # The member admin offers the plans' names as membership levels.
        register_plan_names(lambda: list(Plan.objects.values_list("name", flat=True)))

        def events_in(state: str) -> int:
            return StripeEvent.objects.filter(state=state).count()

        for state, label, order in (
            (EventState.FAILED, ("failed Stripe event", "failed Stripe events"), 40),
            (EventState.UNMATCHED, ("unmatched Stripe event", "unmatched Stripe events"), 41),
        ):
            register(
                f"stripe_{state}",
                label,
                count=partial(events_in, state),
                url="admin:billing_stripeevent_changelist",
                query=f"state__exact={state}",
                permission="billing.view_stripeevent",
                order=order,
            )
        register(
            "reconcile_open",
            ("open reconciliation finding", "open reconciliation findings"),
            count=lambda: ReconcileFinding.objects.open().count(),
            url="admin:billing_reconcilefinding_changelist",
            query="state=open",
            permission="billing.view_reconcilefinding",
            order=50,
        )
