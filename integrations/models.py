"""The change feed (DESIGN.md §12): events captured by a trigger on the member table,
the endpoints staff configure, one delivery per endpoint and event, and the keys of the
access API."""

from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.snapshot import FIELD_KEYS

HTTP_SCHEMES = ("http", "https")
validate_endpoint_url = URLValidator(
    schemes=list(HTTP_SCHEMES), message="Enter an http:// or https:// URL."
)


class FeedEvent(models.Model):
    """One committed change of a member's feed fields, with the snapshot after it.

    Written only by the trigger (integrations/snapshot.py), whatever path changed the
    member. `xact` is the writing transaction, so a second write in the same
    transaction updates its event; `changed` lists the snapshot fields that changed;
    `pumped` is set once deliveries were made for it."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="feed_events"
    )
    sequence = models.PositiveIntegerField()
    xact = models.BigIntegerField(null=True, blank=True, editable=False)
    changed = models.JSONField(default=list)
    snapshot = models.JSONField()
    changed_at = models.DateTimeField(default=timezone.now)
    pumped = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "sequence"], name="feedevent_member_sequence_unique"
            ),
        ]
        indexes = [
            # The pump takes the events not yet pumped, oldest first.
            models.Index(fields=["id"], condition=Q(pumped=False), name="feedevent_unpumped_idx"),
        ]

    def __str__(self):
        return f"Event {self.pk}: member #{self.member_id}, change {self.sequence}"


class Endpoint(models.Model):
    """A receiver of the feed. `secret` signs each delivery; it is kept as given (it
    must sign) and never shown again after it is set. `fields`: the snapshot fields
    the receiver cares about (an event changing none of them is not sent to it, and
    the payload carries only them and the event's keys); empty means all."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=2000, validators=[validate_endpoint_url])
    secret = models.CharField(max_length=200)
    fields = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def wants(self, changed) -> bool:
        """Whether an event that changed `changed` (snapshot keys) concerns it."""
        chosen = [f for f in (self.fields or []) if f in FIELD_KEYS]
        return not chosen or bool(set(chosen) & set(changed or ()))


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    SUPERSEDED = "superseded", "Superseded"
    DEAD = "dead", "Dead"


class DeliveryQuerySet(models.QuerySet):
    def dead(self):
        """Deliveries that failed for good and wait for staff (the admin index panel)."""
        return self.filter(state=DeliveryState.DEAD)

    def pending(self):
        return self.filter(state=DeliveryState.PENDING)


class Delivery(models.Model):
    """One event for one endpoint. `member_id` and `sequence` are the event's, kept here
    for the ordering rule: per member and endpoint, an older snapshot is never
    delivered after a newer one (it is `superseded` instead)."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(FeedEvent, on_delete=models.CASCADE, related_name="deliveries")
    member_id = models.BigIntegerField()
    sequence = models.PositiveIntegerField()
    state = models.CharField(
        max_length=10,
        choices=DeliveryState.choices,
        default=DeliveryState.PENDING,
        db_default=DeliveryState.PENDING,
    )
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    # What the receiver answered last (status and the start of its body), or the error.
    last_answer = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_event"),
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "member_id", "sequence"], name="delivery_member_order_idx"
            ),
            # The admin index counts dead deliveries on every visit.
            models.Index(fields=["-id"], condition=Q(state="dead"), name="delivery_dead_idx"),
        ]

    def __str__(self):
        return f"Event {self.event_id} to {self.endpoint} ({self.state})"


class AccessKey(models.Model):
    """A bearer key of the access API. Only its SHA-256 is kept: the key is shown once,
    when it is created."""

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
