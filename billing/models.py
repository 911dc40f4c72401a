from django.db import models
from django.db.models import Q


class EventState(models.TextChoices):
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (type not handled)"
    UNMATCHED = "unmatched", "Unmatched (no member found)"
    FAILED = "failed", "Failed"


# A redelivery of these is answered 200 and changes nothing; the others are retried.
DONE_STATES = (EventState.PROCESSED, EventState.IGNORED)


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


class SubscriptionStatus(models.TextChoices):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


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
