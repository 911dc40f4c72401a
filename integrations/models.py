"""The change feed (README, "Telling the door and the directory"): events captured by a
trigger on the member table, the endpoints staff configure, one delivery per endpoint and
event; the keys of the door API and their scopes; the door events that come back
(README, "The door controller's side")."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
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
    for the ordering rule: per member and endpoint, a snapshot older than one already
    sent is never sent (it is `superseded` instead). `attempts` > 0: it was sent."""

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
    # Set while the delivery is on the wire: until the request's deadline has surely
    # passed (integrations/services.py), so a worker that died mid-request blocks the
    # member's next delivery no longer than that.
    sending_until = models.DateTimeField(null=True, blank=True, editable=False)

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


class Scope(models.TextChoices):
    """What a key may do; each keyed endpoint asks for one."""

    ACCESS_READ = "access:read", "Read the access list"
    DOOR_EVENTS_WRITE = "door-events:write", "Send door events"
    METRICS_READ = "metrics:read", "Read the metrics"


DEFAULT_SCOPES = [Scope.ACCESS_READ.value]


def default_scopes() -> list[str]:
    return list(DEFAULT_SCOPES)


class AccessKey(models.Model):
    """A bearer key of the door API. Only its SHA-256 is kept: the key is shown once,
    when it is created. A key made before scopes existed reads the access list."""

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = ArrayField(
        models.CharField(max_length=32, choices=Scope.choices),
        default=default_scopes,
        db_default=DEFAULT_SCOPES,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scopes__contained_by=Scope.values) & Q(scopes__len__gt=0),
                name="accesskey_scopes_known",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class DoorEvent(models.Model):
    """One swipe at a door, as its controller sent it (or as Deep Harbor logged it).

    The table is partitioned by month of `at` (integrations/doors.py makes and drops the
    partitions), so the time index of each month stays small and retention drops whole
    months. A partitioned table cannot hold a unique index without `at`, so "once per
    key and event id" is kept by DoorEventReceipt. `key` and `member` are not foreign
    keys in the database: their per-row checks would halve the rate a batch goes in; an
    erasure or merge moves these rows itself (integrations/receivers.py)."""

    key = models.ForeignKey(
        AccessKey,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        help_text="The key that sent it; empty for events imported from Deep Harbor.",
    )
    event_id = models.CharField("event id", max_length=100)
    door = models.CharField(max_length=100)
    # The tag in its 10-digit form (members.rfid.rfid_tag_form); '' once erased.
    tag = models.CharField(max_length=32, blank=True)
    at = models.DateTimeField("time")
    granted = models.BooleanField()
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="door_events",
        help_text="Who held the tag when the event arrived; empty for an unknown tag.",
    )
    received_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())

    class Meta:
        verbose_name = "door event"
        constraints = [
            # The primary key in the database (a partitioned table's holds the partition
            # key): also the time index, for the entry log newest first and a range of
            # days.
            models.UniqueConstraint(fields=["at", "id"], name="doorevent_at_id_pk"),
        ]
        indexes = [
            # One event by its id (its admin page): ids grow as rows are added, so a
            # BRIN index finds it in a few pages and costs an insert next to nothing.
            BrinIndex(fields=["id"], name="doorevent_id_brin"),
            # A member's entries (their page, their visits, who is here).
            models.Index(
                fields=["member", "at"],
                condition=Q(member__isnull=False),
                name="doorevent_member_at_idx",
            ),
            # Search by tag.
            models.Index(fields=["tag"], name="doorevent_tag_idx"),
        ]

    def __str__(self):
        return f"{self.door} {self.at:%Y-%m-%d %H:%M} ({'granted' if self.granted else 'refused'})"


class DoorEventReceipt(models.Model):
    """That a key sent an event id: what makes a resend a duplicate. `at` is the
    event's, so retention forgets the receipt with the event."""

    key = models.ForeignKey(
        AccessKey,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    event_id = models.CharField(max_length=100)
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "event_id"], nulls_distinct=False, name="dooreventreceipt_once"
            ),
        ]
        indexes = [
            BrinIndex(fields=["at"], name="dooreventreceipt_at_brin"),
        ]

    def __str__(self):
        return self.event_id


class AccessListVersion(models.Model):
    """One row whose `version` changes in every transaction that may change the access
    list (a trigger at commit, integrations/access_version.py): the list's ETag, read
    without building the list."""

    version = models.BigIntegerField()
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="accesslistversion_one_row"),
        ]

    def __str__(self):
        return f"access list version {self.version}"
