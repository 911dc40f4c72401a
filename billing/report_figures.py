"""billing's reports and gauges (dhportal/reports.py, README "Reports and metrics"):
members per plan, the funnel's "paid", Stripe events by state and the time since the
last reconciliation."""

import datetime

from django.db.models import Count, Min
from django.db.models.fields.json import KT
from django.db.models.functions import Trim
from django.utils import timezone

from billing.models import EventState, Plan, ReconcileRun, StripeEvent, Subscription
from dhportal import reports
from dhportal.reports import Figure, Period
from members.models import Member
from members.shapes import MemberStatus

NO_PLAN = "no plan (no Stripe product)"


def members_per_plan() -> list[tuple[str, int]]:
    """Active members (not merged away) by the plan of their Stripe product; a product no
    plan names is shown by its id."""
    names = dict(Plan.objects.values_list("stripe_product_id", "name"))
    rows = (
        Member.objects.filter(
            merged_into__isnull=True, status__membership_status__iexact=MemberStatus.ACTIVE
        )
        .annotate(product=Trim(KT("status__stripe_product_id")))
        .values_list("product")
        .annotate(n=Count("id"))
    )
    counts: dict[str, int] = {}
    for product, n in rows:
        label = names.get(product, f"product {product}") if product else NO_PLAN
        counts[label] = counts.get(label, 0) + n
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _plans_figure(period: Period) -> list[Figure]:
    return [Figure("Active members per plan now", ("plan", "members"), members_per_plan())]


def members_paid(start: datetime.datetime, end: datetime.datetime) -> int:
    """Members whose first linked subscription was recorded within [start, end)."""
    firsts = (
        Subscription.objects.filter(member__isnull=False)
        .values("member")
        .annotate(first=Min("date_added"))
        .filter(first__gte=start, first__lt=end)
    )
    return firsts.count()


def _stripe_events() -> list[reports.Sample]:
    found = dict(StripeEvent.objects.values_list("state").annotate(n=Count("id")))
    return [((state,), float(found.get(state, 0))) for state in EventState.values]


def _seconds_since_reconcile() -> list[reports.Sample]:
    """Since the last reconciliation that read Stripe through (finished, no error, not a
    dry run); NaN when there has been none."""
    last = (
        ReconcileRun.objects.filter(finished__isnull=False, dry_run=False, error="")
        .order_by("-finished")
        .values_list("finished", flat=True)
        .first()
    )
    if last is None:
        return [((), float("nan"))]
    return [((), (timezone.now() - last).total_seconds())]


def register_billing_reports() -> None:
    reports.register_report(
        "plans",
        "Members per plan",
        counts="Active members (records merged away left out) by the plan named for their"
        " Stripe product; members without a product apart.",
        build=_plans_figure,
        order=40,
    )
    reports.register_funnel_step(
        "paid", "Paid (a subscription linked)", count=members_paid, order=30
    )
    reports.register_gauge(
        "dhportal_stripe_events",
        "Stripe events by processing state.",
        labels=("state",),
        collect=_stripe_events,
    )
    reports.register_gauge(
        "dhportal_seconds_since_reconcile",
        "Seconds since the last complete Stripe reconciliation (NaN: none yet).",
        collect=_seconds_since_reconcile,
    )
