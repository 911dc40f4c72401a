import json
import secrets
from typing import ClassVar

import pghistory
import pgtrigger
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import IntegrityError, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Lower
from django.utils import timezone

from members import shapes, subscriptions

# The canonical email (docs/shapes.md) is computed in members/emails.py; importers of
# members.models keep finding normalize_email here.
from members.emails import (  # noqa: F401 - re-exported for importers of members.models
    canonical_email,
    normalize_email,
    stored_email,
)
from members.lookups import ci_equals
from members.partial import PARTIAL_Q, missing_q
from members.rfid import (  # noqa: F401 - re-exported for importers of members.models
    _SYNC_RFID_TAGS,
    RFID_APPEND,
    RFID_DROP,
    RFID_HOLDS,
    RFID_WRITABLE,
    check_rfid_tag,
    rfid_tag_form,
)
from members.rights import COLUMN_PERMISSIONS
from members.shapes import NULLABLE_COLUMNS, MemberStatus
from members.validators import (  # noqa: F401 - re-exported for importers of members.models
    BILLING_REF_RE,
    USERNAME_RE,
    username_validator,
)


def new_billing_ref() -> str:
    return secrets.token_urlsafe(18)


# The field each unique index guards, so a write refused by one can be answered like
# the friendly check that would have caught it a moment earlier.
UNIQUE_FIELD_BY_CONSTRAINT = {
    "member_email_ci_unique": "email",
    "user_email_ci_unique": "email",
    "unique_verified_email": "email",  # allauth's EmailAddress
    "member_username_ci_unique": "username",
    "user_username_ci_unique": "username",
    "members_user_username_key": "username",
    "rfid_tag_unique": "access",
}


def violated_field(error: IntegrityError) -> str | None:
    """ "email", "username" or "access" for a unique violation on one of ours, else None."""
    constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
    if not isinstance(constraint, str):
        return None
    return UNIQUE_FIELD_BY_CONSTRAINT.get(constraint)


class UserQuerySet(models.QuerySet):
    # Written as user_email_ci_unique and user_username_ci_unique are (members/lookups.py).
    def with_email(self, email):
        return self.filter(ci_equals("email", email))

    def with_username(self, username):
        return self.filter(ci_equals("username", username))


class PortalUserManager(UserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    def get_by_natural_key(self, username):
        return self.get(ci_equals("username", username))


class User(AbstractUser):
    objects: ClassVar[PortalUserManager] = PortalUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="user_email_ci_unique"
            ),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def save(self, *args, **kwargs):
        self.email = stored_email(self.email)
        super().save(*args, **kwargs)


class MemberQuerySet(models.QuerySet):
    def partial(self):
        return self.filter(PARTIAL_Q)

    def complete(self):
        return self.exclude(PARTIAL_Q)

    def missing(self, label: str):
        return self.filter(missing_q(label))

    def awaiting_activation(self):
        """Pending members who have paid: staff activate them at their first visit."""
        return self.filter(
            status__membership_status__iexact=MemberStatus.PENDING,
            status__subscription_status__in=subscriptions.PAYING,
        )

    def by_billing_ref(self, ref):
        """The member a client-reference-id names, or None for anything malformed."""
        if not isinstance(ref, str) or not BILLING_REF_RE.match(ref):
            return None
        return self.filter(billing_ref=ref).first()

    # Written as member_email_ci_unique and member_username_ci_unique are
    # (members/lookups.py).
    def with_email(self, email):
        return self.filter(ci_equals("email", email))

    def with_username(self, username):
        return self.filter(ci_equals("username", username))

    def by_email(self, email):
        """The member with this address, or None. Never raises: an address with no
        canonical form is looked up as given, so a legacy row that kept its text
        (members/emails.py) is still found by it."""
        return self.with_email(stored_email(email).strip()).first()

    def append_note(self, note: str, *, author: str, user=None) -> int:
        """Append a note to every member in the queryset in one SQL statement, so
        concurrent appends never lose each other (no read-modify-write)."""
        entry = shapes.note_entry(note, author=author)
        return self.update(
            notes=RawSQL(  # noqa: S611 - constant SQL, the note is a parameter
                "COALESCE(notes, '[]'::jsonb) || %s::jsonb", (json.dumps([entry]),)
            ),
            last_updated_by=user,
        )

    def merge_json(self, column: str, values: dict, *, user=None) -> int:
        """Set some keys of a JSON object column in one SQL statement, keeping the
        other keys (and other writers' changes to them)."""
        return self.merge_json_columns({column: values}, user=user)

    def merge_json_columns(self, changes: dict[str, dict], *, user=None) -> int:
        """merge_json for several columns at once: one UPDATE, so a page that edits
        keys in two columns writes them together or not at all. A row where one of the
        columns holds something other than an object (a damaged row) is not written:
        merging into it would make it worse. Returns the number of rows written."""
        mergeable = Q()
        for column in changes:
            if column not in ("identity",) + NULLABLE_COLUMNS or column == "notes":
                raise ValueError(f"cannot merge into {column}")
            # Q(...) around the condition: the same tree as `Q | RawSQL`, which the
            # stubs would type as a bare Combinable.
            mergeable &= Q(**{f"{column}__isnull": True}) | Q(
                RawSQL(  # noqa: S611
                    f"jsonb_typeof({column}) = 'object'", (), output_field=models.BooleanField()
                )
            )
        return self.filter(mergeable).update(
            **{
                column: RawSQL(  # noqa: S611 - column is from a fixed list
                    f"COALESCE({column}, '{{}}'::jsonb) || %s::jsonb",  # noqa: S608
                    (json.dumps(values),),
                )
                for column, values in changes.items()
            },
            last_updated_by=user,
        )

    def add_rfid_tag(self, tag: str, *, user=None) -> int:
        """Append a 10-digit tag to access.rfid_tags in one SQL statement. Rows that
        already hold it, or whose access is not an object with a tag list, are not
        written; a tag held by another member raises IntegrityError (the RfidTag
        unique index)."""
        check_rfid_tag(tag)
        # Constant SQL; the tag is a parameter.
        can_add = RawSQL(  # noqa: S611
            f"{RFID_WRITABLE} AND NOT {RFID_HOLDS}",
            (tag,),
            output_field=models.BooleanField(),
        )
        append = RawSQL(RFID_APPEND, (tag,))  # noqa: S611
        return self.filter(can_add).update(access=append, last_updated_by=user)

    def remove_rfid_tag(self, tag: str, *, user=None) -> int:
        """Remove a 10-digit tag (in any stored form) from access.rfid_tags in one SQL
        statement, keeping the other tags in order. Rows without it are not written."""
        check_rfid_tag(tag)
        # Constant SQL; the tag is a parameter.
        holds = RawSQL(  # noqa: S611
            f"jsonb_typeof(access) = 'object' AND {RFID_HOLDS}",
            (tag,),
            output_field=models.BooleanField(),
        )
        drop = RawSQL(RFID_DROP, (tag,))  # noqa: S611
        return self.filter(holds).update(access=drop, last_updated_by=user)


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    # A read worth recording that writes nothing: a data download (privacy page) by a
    # member whose notes cannot take a note (NULL or damaged).
    pghistory.ManualEvent("download"),
    model_name="MemberEvent",
)
class Member(models.Model):
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="member"
    )
    email = models.TextField(blank=True, default="")
    username = models.CharField(
        max_length=16, blank=True, default="", validators=[username_validator]
    )
    billing_ref = models.CharField(
        max_length=64, unique=True, default=new_billing_ref, editable=False
    )
    identity = models.JSONField(default=dict)
    status = models.JSONField(null=True, blank=True)
    connections = models.JSONField(null=True, blank=True)
    forms = models.JSONField(null=True, blank=True)
    notes = models.JSONField(null=True, blank=True)
    access = models.JSONField(null=True, blank=True)
    authorizations = models.JSONField(null=True, blank=True)
    extras = models.JSONField(null=True, blank=True)
    date_added = models.DateTimeField(default=timezone.now, editable=False)
    date_modified = models.DateTimeField(auto_now=True)
    last_updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The member's id in Deep Harbor, set by the import.
    legacy_id = models.IntegerField(null=True, blank=True, unique=True, editable=False)
    # Set on a row whose email or username another member already holds (the
    # canonical-email migration, the import); cleared by a merge or a staff edit.
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
    )
    # Set by a merge on the record it emptied: the one mark of a record merged away
    # (members/merge.py). A column, not a note, so editing the notes cannot undo it;
    # PROTECT, so the survivor cannot be deleted from under the records merged into it.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        editable=False,
    )

    objects = MemberQuerySet.as_manager()

    class Meta:
        # Column rights, activation and reports: see the README's "Staff roles".
        permissions = [
            *COLUMN_PERMISSIONS,
            ("activate_member", "Can activate a member"),
            ("view_reports", "Can view reports"),
        ]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="member_email_ci_unique"
            ),
            models.UniqueConstraint(
                Lower("username"), condition=~Q(username=""), name="member_username_ci_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["-id"], condition=PARTIAL_Q, name="member_partial_idx"),
            # The webhook finds a member by Stripe customer when no subscription row does.
            models.Index(
                KeyTransform("stripe_customer_id", "status"), name="member_stripe_customer_idx"
            ),
        ]
        triggers = [
            # date_modified must move for update() and raw SQL too, not only save().
            pgtrigger.Trigger(
                name="member_touch_date_modified",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func="NEW.date_modified = clock_timestamp(); RETURN NEW;",
            ),
            pgtrigger.Trigger(
                name="member_sync_rfid_tags_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                func=_SYNC_RFID_TAGS,
            ),
            pgtrigger.Trigger(
                name="member_sync_rfid_tags_update",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition("OLD.access IS DISTINCT FROM NEW.access"),
                func="DELETE FROM members_rfidtag WHERE member_id = NEW.id;"  # noqa: S608
                + _SYNC_RFID_TAGS,
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.display_name}"

    def save(self, *args, **kwargs):
        self.email = stored_email(self.email)
        super().save(*args, **kwargs)

    def read(self, column: str):
        """A tolerant, typed reading of one JSON column (members/shapes.py), or None
        when the column is NULL or damaged. For showing and deciding only: writes are
        key-level merges, never a reading written back."""
        return shapes.read(column, getattr(self, column))

    def _get(self, column: str, key: str):
        """One key's typed value, or None when missing, null or of the wrong type."""
        reading = self.read(column)
        return getattr(reading, key) if reading is not None else None

    @property
    def membership_status(self) -> MemberStatus | None:
        return self._get("status", "membership_status")

    @property
    def subscription_status(self) -> str:
        return subscriptions.subscription_status_form(self._get("status", "subscription_status"))

    @property
    def awaiting_activation(self) -> bool:
        """Paid but still pending: staff activate after the in-person ID check."""
        return (
            self.membership_status == MemberStatus.PENDING
            and self.subscription_status in subscriptions.PAYING
        )

    def payment_state(self, *, stripe_configured: bool) -> str:
        """What the payment page offers: "paid" (pending, paid, awaiting activation),
        "pay" (pending or lapsed; "not_configured" when Stripe is not set up) or
        "settled" (nothing to pay for). A member with no status yet counts as pending."""
        status = self.membership_status or MemberStatus.PENDING
        if status == MemberStatus.PENDING and (self.subscription_status in subscriptions.PAYING):
            return "paid"
        if status in (MemberStatus.PENDING, MemberStatus.LAPSED):
            return "pay" if stripe_configured else "not_configured"
        return "settled"

    @property
    def full_name(self) -> str:
        identity = self.read("identity")
        if identity is None:
            return ""
        return f"{identity.first_name or ''} {identity.last_name or ''}".strip()

    @property
    def preferred_name(self) -> str:
        """What pages and mails call the member: the preferred name asked at signup
        (identity.nickname) when set, else the first name ("" when neither is)."""
        identity = self.read("identity")
        if identity is None:
            return ""
        return (identity.nickname or "").strip() or (identity.first_name or "").strip()

    @property
    def display_name(self) -> str:
        return self.full_name or self.username or self.email or "(no name)"


class RfidTag(models.Model):
    """One row per tag, written only by the trigger on Member."""

    tag = models.CharField(max_length=10)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tag_rows")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tag"], name="rfid_tag_unique"),
            models.CheckConstraint(
                condition=Q(tag__regex=r"^[0-9]{10}$"), name="rfid_tag_ten_digits"
            ),
        ]

    def __str__(self):
        return self.tag


class AuthorizationKind(models.TextChoices):
    PHYSICAL = "physical", "Physical"
    COMPUTER = "computer", "Computer"


class Authorization(models.Model):
    """The catalog of tool authorizations staff can grant. A member's `authorizations`
    column keeps the names of their live grants (AuthorizationGrant), as Deep Harbor
    kept names."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(
        max_length=10, choices=AuthorizationKind.choices, default=AuthorizationKind.PHYSICAL
    )
    # A retired tool is no longer offered; the grants already made stay.
    retired = models.BooleanField(default=False, db_default=False)
    # Who may sign members off on this tool (with the Administrator group and
    # superusers); none listed: anyone with the right to change authorizations.
    trainers = models.ManyToManyField(
        User, blank=True, related_name="trained_authorizations", verbose_name="trainers"
    )

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self):
        return self.name


class AuthorizationGrant(models.Model):
    """One member signed off on one tool: by whom (no one for an imported grant), when,
    until when; revoked (or ended by expiry) when `revoked_at` is set. Written only by
    members/grants.py, which keeps the member's `authorizations` column in step."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="grants")
    authorization = models.ForeignKey(
        Authorization, on_delete=models.PROTECT, related_name="grants"
    )
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    expires_on = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="", db_default="")

    class Meta:
        constraints = [
            # One live grant per member and tool: two trainers granting at once make one.
            models.UniqueConstraint(
                fields=["member", "authorization"],
                condition=Q(revoked_at__isnull=True),
                name="authorization_grant_live_unique",
            ),
        ]
        indexes = [
            # The daily job finds the live grants that have expired.
            models.Index(
                fields=["expires_on"],
                condition=Q(revoked_at__isnull=True, expires_on__isnull=False),
                name="authorization_grant_expiry_idx",
            ),
        ]

    def __str__(self):
        return f"{self.authorization} for member #{self.member_id}"


class NotificationKind(models.TextChoices):
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    ACTIVATED = "activated", "Activated"
    PAYMENT_PROBLEM = "payment_problem", "Payment problem"
    LAPSED = "lapsed", "Lapsed"
    REACTIVATED = "reactivated", "Reactivated"
    INVITATION = "invitation", "Invitation"


class NotificationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One lifecycle mail to a member (members/notifications.py). `key` is the id of its
    cause (a Stripe event id, a staff action's audit event id), so the unique
    constraint lets each cause mail once however often it is applied again. The body
    is rendered when the job sends it, never stored."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    key = models.CharField(max_length=255)
    state = models.CharField(
        max_length=10,
        choices=NotificationState.choices,
        default=NotificationState.QUEUED,
        db_default=NotificationState.QUEUED,
    )
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    # The last delivery error (procrastinate keeps none); blanked by erasure.
    error = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "key"], name="notification_once_per_cause"
            ),
        ]
        indexes = [
            # The admin index counts failed notifications on every visit.
            models.Index(
                fields=["-created_at"],
                condition=Q(state="failed"),
                name="notification_failed_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to member #{self.member_id} ({self.state})"


class EmailChangeMail(models.Model):
    """A login email change's confirmation mail waiting for its job
    (members/email_change.py): the member and the canonical new address. The job
    carries only this row's id and deletes the row once the mail is sent or given up,
    so the address stays no longer than the mail takes; the link is signed then."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    email = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())

    def __str__(self):
        return f"Email change mail #{self.pk} for member #{self.member_id}"


class EmailChangeLinkUse(models.Model):
    """A login-email-change link that was used (members/email_change.py): its random id,
    never the link, so each link confirms once; a link confirmed, reverted by a second
    change and opened again finds its id here. Kept as long as a link lives
    (EMAIL_CHANGE_MAX_AGE); older rows are dropped as new ones are written."""

    link_id = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())

    def __str__(self):
        return f"Used email change link {self.link_id[:6]}…"


class ErasureRequest(models.Model):
    """A member's (or staff's, on their behalf) request to erase the member's personal
    data (README, "Privacy"). Open until staff approve it with the admin action `erase`, which
    runs members.erasure.member_erase and sets `approved_by` and `erased_at`."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="erasure_requests")
    requested_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())
    approved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            # The admin index counts open requests on every visit.
            models.Index(
                fields=["-requested_at"], condition=Q(erased_at=None), name="erasure_open_idx"
            ),
        ]

    def __str__(self):
        return f"Erasure request #{self.pk} for member #{self.member_id}"


class BannedEmailHash(models.Model):
    """What an erased, banned member leaves so the ban survives erasure: the HMAC-SHA256
    (key: settings.ERASURE_HASH_KEY) of their canonical email, never the address. Signup
    and the import refuse an address whose canonical form matches (members/erasure.py)."""

    digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())

    def __str__(self):
        return f"Ban hash {self.digest[:8]}…"
