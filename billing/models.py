from django.db import models
from django.db.models import Q

from members.subscriptions import SubscriptionStatus


class EventState(models.TextChoices):
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (type not handled)"
    UNMATCHED = "unmatched", "Unmatched (no member found)"
    FAILED = "failed", "Failed"
    # Kept for the accounts and listed for staff, never applied: Stripe cannot bring an
    # erased member back (their customer id is kept, so its events still find them).
    ERASED = "erased", "Held (member erased, nothing changed)"


# A redelivery of these is answered 200 and changes nothing; the others are retried.
DONE_STATES = (EventState.PROCESSED, EventState.IGNORED, EventState.ERASED)


class StripeEvent(models.Model):
    """Every verified Stripe event, stored once under its Stripe id."""

    stripe_id = models.CharField("Stripe event id", max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    api_version = models.CharField(max_length=50, blank=True, default="")
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    payload = models.JSONField()
    # Copied out of the payload so staff can search and filter without JSON paths.
    object_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    customer_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    email = models.CharField(max_length=320, blank=True, default="")
    # Inserted as failed: if processing never finished, the event is retried.
    state = models.CharField(
        max_length=10, choices=EventState.choices, default=EventState.FAILED, db_index=True
    )
    detail = models.TextField(blank=True, default="", help_text="What processing did.")
    error = models.TextField(blank=True, default="")
    member = models.ForeignKey(
        "members.Member",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stripe_events",
    )
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=EventState.values), name="stripe_event_state_valid"
            ),
        ]

    def __str__(self):
        return f"{self.stripe_id} {self.type}"


class Subscription(models.Model):
    """Stripe subscriptions, known even before their member is: a snapshot that
    arrives before its checkout waits here until the checkout links the customer."""

    stripe_id = models.CharField("Stripe subscription id", max_length=255, unique=True)
    customer_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    # Blank until the first snapshot: a checkout only tells us the id.
    status = models.CharField(
        max_length=20, blank=True, default="", choices=SubscriptionStatus.choices
    )
    product_id = models.CharField(max_length=255, blank=True, default="")
    current_period_end = models.DateTimeField(null=True, blank=True)
    member = models.ForeignKey(
        "members.Member",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscriptions",
    )
    # High-water mark: the `created` time of the last event applied. Older snapshots
    # arriving late are not applied.
    last_event_created = models.DateTimeField(null=True, blank=True)
    snapshot = models.JSONField(null=True, blank=True, help_text="The last applied object.")
    date_added = models.DateTimeField(auto_now_add=True)
    date_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date_added", "-id"]

    def __str__(self):
        return self.stripe_id


class Plan(models.Model):
    """Staff-edited names for Stripe products; the name becomes membership_level."""

    stripe_product_id = models.CharField("Stripe product id", max_length=255, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.stripe_product_id})"


class FindingKind(models.TextChoices):
    ENDPOINT_MISSING = "endpoint_missing", "Webhook endpoint missing"
    ENDPOINT_DISABLED = "endpoint_disabled", "Webhook endpoint disabled"
    ENDPOINT_EVENTS = "endpoint_events", "Webhook endpoint lacks event types"
    ENDPOINT_VERSION = "endpoint_version", "Webhook endpoint in another API version"
    EVENT_VERSION = "event_version", "Events in another API version"
    MISSED_EVENT = "missed_event", "Event the webhook never got"
    SUBSCRIPTION = "subscription", "Subscription differs from Stripe"
    CUSTOMER = "customer", "Subscription's customer differs from Stripe"
    RUN_DEADLINE = "run_deadline", "Run stopped at its deadline"
    PAGE_LIMIT = "page_limit", "List longer than the page limit"


# The kinds that make a run report "endpoint problem".
ENDPOINT_KINDS = (
    FindingKind.ENDPOINT_MISSING,
    FindingKind.ENDPOINT_DISABLED,
    FindingKind.ENDPOINT_EVENTS,
    FindingKind.ENDPOINT_VERSION,
    FindingKind.EVENT_VERSION,
)


class ReconcileFindingQuerySet(models.QuerySet):
    def open(self) -> "ReconcileFindingQuerySet":
        """Findings no run has seen fixed yet: what staff still have to look at."""
        return self.filter(fixed__isnull=True)


class ReconcileFinding(models.Model):
    """A difference between Stripe and the portal that a reconciliation run found
    (billing/reconcile.py). One row per (kind, Stripe object): later runs update it."""

    kind = models.CharField(max_length=20, choices=FindingKind.choices)
    stripe_object = models.CharField(
        "Stripe object",
        max_length=255,
        help_text="The endpoint, event or subscription id (or URL, or API version).",
    )
    member = models.ForeignKey(
        "members.Member",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reconcile_findings",
    )
    detail = models.TextField(blank=True, default="")
    found = models.DateTimeField(help_text="The run that first found it.")
    last_seen = models.DateTimeField(help_text="The last run that found it.")
    fixed = models.DateTimeField(
        null=True, blank=True, help_text="Repaired by a run, or seen gone; empty while open."
    )

    objects = ReconcileFindingQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "stripe_object"], name="reconcile_finding_kind_object_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=FindingKind.values), name="reconcile_finding_kind_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["-last_seen"],
                condition=Q(fixed__isnull=True),
                name="reconcile_finding_open_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.stripe_object}"


class ReconcileRun(models.Model):
    """One reconciliation run. The watermark of the last complete run is where the
    next one starts listing events (less a margin)."""

    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True, help_text="Events listed from.")
    # Stripe's clock (the Date of the first events page) when the listing began; set
    # only on a complete run that is not a dry run and covered since the last one.
    watermark = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="", help_text="Why Stripe could not be read.")

    class Meta:
        ordering = ["-started", "-id"]

    def __str__(self):
        return f"reconciliation {self.started:%Y-%m-%d %H:%M}"
