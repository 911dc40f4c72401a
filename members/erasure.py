"""Erasure of a member's personal data (README "Privacy"), and the ban hash that
survives it.

`member_erase` runs in one transaction under the member's row lock, audited as
`erasure` with the staff user who approved it. It removes the person's names, contact
details, birthday, usernames, tags and free text from the member row and the login, and
then every other copy the portal keeps. A record merged into the member (its
`merged_into`, members/merge.py) is the same person: its row and copies are erased with
the member's, in the same transaction, its merge notes kept (they say where the record
went and name no one but staff). The copies members keeps itself:

- allauth's addresses and the login's sessions;
- the notifications' errors, pending mail jobs (cancelled: their rows would mail an
  address that no longer exists) and pending login-email-change mails;
- the admin log's object names (`#<id>`) and the audit history's earlier copies of the
  row (the events stay, their personal values are blanked).

The other apps' copies (the change feed's snapshots and deliveries' answers, the import
ledger's detail, queued signup mails) are theirs to blank: members sends `member_erased`
(members/hooks.py) for each row inside the transaction and each app answers for its own
tables. Before anything is written, `member_refusal` lets an app refuse (billing: a live
subscription).

It keeps the member number, `date_added`, the status column (membership status, plan,
Stripe customer and subscription ids), authorizations and storage, the billing event
log (what Stripe sent, kept for the accounts), and for a banned member the keyed hash of
each of their canonical addresses, so that signup and the import refuse them again.

The member update itself fires the change feed's trigger, which records the event that
takes the member's access away.
"""

import hashlib
import hmac
import json

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models.fields.json import KT
from django.utils import timezone
from procrastinate import manager
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.models import ProcrastinateJob

from members import shapes
from members.audit import audit
from members.emails import canonical_email
from members.hooks import Action, member_erased, refusal
from members.logins import login_sessions_end
from members.merge import MERGE_NOTE_FROM
from members.models import (
    AuthorizationGrant,
    BannedEmailHash,
    EmailChangeMail,
    ErasureRequest,
    Member,
    MemberStatus,
    Notification,
    User,
)
from members.subscriptions import FINAL
from members.validators import placeholder_username

LIVE_SUBSCRIPTION_REFUSAL = "Cancel the subscription first."
STAFF_LOGIN_REFUSAL = "This member's login is a staff login: take its staff rights away first."
PLACEHOLDER_TAKEN_REFUSAL = (
    "Another login already uses the name {name}, which this member's login takes when it is"
    " erased: rename that login first."
)

# members' mail tasks that wait on a row erasure removes or blanks: the task's name and
# the argument holding the row's id.
_MAIL_JOB_NOTIFICATION = ("send_notification", "notification_id")
_MAIL_JOB_EMAIL_CHANGE = ("send_email_change_mail", "email_change_mail_id")


class ErasureRefused(Exception):
    """The member cannot be erased now; the message says why, for staff."""


# --- the ban hash ----------------------------------------------------------------------


def ban_digest(email: str) -> str:
    """HMAC-SHA256 of a canonical address under settings.ERASURE_HASH_KEY (hex)."""
    key = settings.ERASURE_HASH_KEY.encode()
    return hmac.new(key, email.encode(), hashlib.sha256).hexdigest()


def ban_digest_of(email) -> str:
    """The digest of an address's canonical form, or "" when it has none."""
    canonical = canonical_email(email)
    return ban_digest(canonical) if canonical else ""


def ban_spellings(email) -> set[str]:
    """The canonical forms a ban compares for one address: the canonical form (which
    already folds case, spaces and Unicode look-alikes) and the same without its
    sub-address (`name+tag@` is `name@`'s mailbox). Empty for an address without one."""
    canonical = canonical_email(email)
    if not canonical:
        return set()
    local, _, domain = canonical.rpartition("@")
    base = local.split("+", 1)[0]
    return {canonical, f"{base}@{domain}"} if base else {canonical}


def banned_email_hashes(*emails):
    """The BannedEmailHash rows matching any spelling of these addresses (a queryset;
    none for addresses without a canonical form): for callers that probe it with other
    tables at once."""
    digests = {ban_digest(s) for email in emails for s in ban_spellings(email)}
    if not digests:
        return BannedEmailHash.objects.none()
    return BannedEmailHash.objects.filter(digest__in=sorted(digests))


def is_erased_ban(*emails) -> bool:
    """Whether any of these addresses (any spelling of it, with or without a `+tag`)
    belongs to an erased, banned member."""
    return banned_email_hashes(*emails).exists()


# --- what is erased, computed from the shapes --------------------------------------------


def _text_keys(column: str) -> tuple[str, ...]:
    """The column's keys that hold free text."""
    return tuple(
        k for k in shapes.keys(column) if shapes.key_kind(column, k) == shapes.KeyKind.TEXT
    )


def erased_forms(raw):
    """`forms` with its free text blanked and unknown keys dropped (they may hold
    anything); dates and booleans stay, they say what was done, not who."""
    if not isinstance(raw, dict):
        return raw
    text = set(_text_keys("forms"))
    kept = {k: v for k, v in raw.items() if k in shapes.keys("forms") and k not in text}
    return {**kept, **{k: "" for k in text}}


def erased_status(raw):
    """`status` with its known keys only: they name no one (status, plan, Stripe ids)."""
    if not isinstance(raw, dict):
        return raw
    return {k: v for k, v in raw.items() if k in shapes.keys("status")}


def _merge_notes(notes) -> list:
    """The notes a merge left on a record it merged away ("merged into #N by <staff>"):
    they name no one but staff, and say on the record's own page where it went."""
    return [n for n in notes if isinstance(n, dict) and n.get("from") == MERGE_NOTE_FROM]


def _erased_values(member, *, merged_away: bool = False) -> dict:
    """The member's columns after erasure. A NULL column stays NULL (nothing is
    invented, and the record stays as partial as it was)."""

    def blank(column):
        return None if getattr(member, column) is None else shapes.default(column)

    notes = blank("notes")
    if merged_away and isinstance(member.notes, list):
        notes = _merge_notes(member.notes)
    return {
        "email": "",
        "username": "",
        "identity": shapes.default("identity"),
        "connections": blank("connections"),
        "notes": notes,
        "access": blank("access"),
        "forms": erased_forms(member.forms),
        "status": erased_status(member.status),
    }


# --- refusals ------------------------------------------------------------------------


def _live_subscription(member) -> bool:
    """Whether the member's status column names a subscription that may still bill:
    any status but a final one (billing answers for its subscription rows itself,
    through member_refusal, where a blank status known only from a checkout is live)."""
    state = member.subscription_status
    return bool(state) and state not in FINAL


def erasure_refusal(member) -> str | None:
    """Why the member cannot be erased now, or None."""
    if _live_subscription(member):
        return LIVE_SUBSCRIPTION_REFUSAL
    reason = refusal(Action.ERASE, member)
    if reason:
        return reason
    user = member.user
    if user is not None and (user.is_staff or user.is_superuser):
        return STAFF_LOGIN_REFUSAL
    # Usernames of this form are refused since placeholders exist, but an older login
    # may hold one; the erased login's rename would then break the unique index.
    name = placeholder_username(member.pk)
    if user is not None and User.objects.with_username(name).exclude(pk=user.pk).exists():
        return PLACEHOLDER_TAKEN_REFUSAL.format(name=name)
    return None


# --- the other copies ------------------------------------------------------------------


def _addresses(member, user) -> set[str]:
    """Every canonical address the person is known by, for the ban hash."""
    found = {member.email}
    identity = member.read("identity")
    for entry in (identity.emails or []) if identity is not None else []:
        found.add(entry.email_address or "")
    if user is not None:
        found.add(user.email)
        found.update(EmailAddress.objects.filter(user=user).values_list("email", flat=True))
    return {c for c in (canonical_email(a) for a in found if a) if c}


def _admin_log_blank(member, user, address_ids) -> None:
    """The admin log names objects as they were (`#12 Ada Lovelace`, a username, an
    address): from now on it names them by number only."""
    types = ContentType.objects.get_for_models(Member, User, EmailAddress)
    targets = [(types[Member], [member.pk])]
    if user is not None:
        targets.append((types[User], [user.pk]))
    targets.append((types[EmailAddress], address_ids))
    for content_type, ids in targets:
        for pk in ids:
            LogEntry.objects.filter(content_type=content_type, object_id=str(pk)).update(
                object_repr=f"#{pk}"
            )


def _history_blank(member_id: int, erased: dict) -> None:
    """The audit history's earlier copies of the row: personal columns blanked, each
    NULL left NULL; `forms` keeps its dates and booleans, `status` its known keys."""
    forms_text = list(_text_keys("forms"))
    forms_kept = [k for k in shapes.keys("forms") if k not in forms_text]
    status_kept = list(shapes.keys("status"))

    def replaced(column):
        return f"{column} = CASE WHEN {column} IS NULL THEN NULL ELSE %s::jsonb END"

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_memberevent SET email = '', username = '', "  # noqa: S608
            + ", ".join(replaced(c) for c in ("identity", "connections", "notes", "access"))
            + ", forms = CASE WHEN jsonb_typeof(forms) = 'object' THEN"
            " COALESCE((SELECT jsonb_object_agg(k, v) FROM jsonb_each(forms) AS e(k, v)"
            " WHERE k = ANY(%s)), '{}'::jsonb) || %s::jsonb ELSE forms END"
            ", status = CASE WHEN jsonb_typeof(status) = 'object' THEN"
            " COALESCE((SELECT jsonb_object_agg(k, v) FROM jsonb_each(status) AS e(k, v)"
            " WHERE k = ANY(%s)), '{}'::jsonb) ELSE status END"
            " WHERE pgh_obj_id = %s",
            [
                json.dumps(erased["identity"]),
                json.dumps(shapes.default("connections")),
                json.dumps(shapes.default("notes")),
                json.dumps(shapes.default("access")),
                forms_kept,
                json.dumps(dict.fromkeys(forms_text, "")),
                status_kept,
                member_id,
            ],
        )


def _waiting_jobs(job: tuple[str, str], ids) -> list[int]:
    """The ids of the jobs of `job` (task, argument) still to run for these rows. The
    argument is compared as text, as procrastinate keeps whatever JSON it was given."""
    if not ids:
        return []
    task, argument = job
    return list(
        ProcrastinateJob.objects.filter(status="todo", task_name__endswith=task)
        .alias(row_id=KT(f"args__{argument}"))
        .filter(row_id__in=[str(i) for i in ids])
        .values_list("pk", flat=True)
    )


def _pending_jobs_cancel(notification_ids, email_change_ids) -> None:
    """Cancel the mail jobs still waiting for this member (their args are ids only, but
    the mail would go to an address that is gone), through procrastinate's own job
    manager on Django's connection, so the cancellation commits with the erasure."""
    waiting = _waiting_jobs(_MAIL_JOB_NOTIFICATION, notification_ids) + _waiting_jobs(
        _MAIL_JOB_EMAIL_CHANGE, email_change_ids
    )
    if not waiting:
        return
    jobs = manager.JobManager(connector=DjangoConnector(alias="default"))
    for job_id in waiting:
        jobs.cancel_job_by_id(job_id)


# --- the erasure -------------------------------------------------------------------------


def _locked_rows(member_id: int) -> tuple[Member, list[Member]]:
    """The member and the records merged into it (kept rows holding the same person's
    identity, connections, forms, notes and history), locked in id order as a merge
    locks its pair, so the two queue instead of deadlocking."""
    merged_ids = list(Member.objects.filter(merged_into=member_id).values_list("pk", flat=True))
    locked = {
        m.pk: m
        for m in Member.objects.select_for_update()
        .filter(pk__in=[member_id, *merged_ids])
        .order_by("pk")
    }
    if member_id not in locked:
        raise Member.DoesNotExist(f"Member #{member_id} does not exist.")
    # A merge into the member that committed before its lock was taken: locked now too
    # (merges into it wait for this transaction from here on).
    late = Member.objects.select_for_update().filter(merged_into=member_id)
    locked.update({m.pk: m for m in late.exclude(pk__in=list(locked)).order_by("pk")})
    member = locked.pop(member_id)
    merged = [m for m in locked.values() if m.merged_into_id == member_id]
    return member, merged


def _row_erase(member, user, addresses: set[str], *, merged_away, by) -> None:
    """Blank one member row and every copy of it (see the module docstring)."""
    erased = _erased_values(member, merged_away=merged_away)
    changed = {k: v for k, v in erased.items() if getattr(member, k) != v}
    if changed:
        # One write: one audit event (source erasure, the staff user) and one feed
        # event, the snapshot without tags or login that removes the access.
        Member.objects.filter(pk=member.pk).update(**changed, last_updated_by=by)

    address_ids = []
    if user is not None:
        address_ids = list(EmailAddress.objects.filter(user=user).values_list("pk", flat=True))
        EmailAddress.objects.filter(pk__in=address_ids).delete()
        user.username = placeholder_username(member.pk)
        user.email = ""
        user.first_name = ""
        user.last_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()
        login_sessions_end(user=user)

    # Grants stay, as the authorizations column does; their notes are free text.
    AuthorizationGrant.objects.filter(member=member).update(note="")
    notification_ids = list(Notification.objects.filter(member=member).values_list("pk", flat=True))
    Notification.objects.filter(pk__in=notification_ids).update(error="")
    email_change_ids = list(
        EmailChangeMail.objects.filter(member=member).values_list("pk", flat=True)
    )
    EmailChangeMail.objects.filter(pk__in=email_change_ids).delete()
    _pending_jobs_cancel(notification_ids, email_change_ids)
    _admin_log_blank(member, user, address_ids)
    # The other apps blank their own copies (members/hooks.py).
    member_erased.send(sender=Member, member=member, addresses=addresses, by=by)
    _history_blank(member.pk, erased)


def member_erase(*, request: ErasureRequest, by) -> ErasureRequest:
    """Erase the request's member in one transaction, audited as `erasure` with `by`,
    and close the request. The records merged into the member are the same person: each
    is erased the same way, its merge notes kept. Raises ErasureRefused (nothing
    written) for a member with a live subscription or a staff login, or when an app
    refuses. Erasing again is harmless: it finds nothing left to remove and closes the
    request."""
    with audit("erasure", by), transaction.atomic():
        member, merged = _locked_rows(request.member_id)
        # Only the member is asked: a merge moved the subscriptions, the Stripe ids and
        # the login to it, and a merged record's leftover status says nothing live.
        refusal = erasure_refusal(member)
        if refusal:
            raise ErasureRefused(refusal)
        rows = []
        for row in [member, *merged]:
            user = User.objects.select_for_update().filter(pk=row.user_id).first()
            rows.append((row, user, _addresses(row, user)))

        if member.membership_status == MemberStatus.BANNED:
            # Each address with and without its +tag: a ban on `name+club@` holds for
            # `name@` and any other tag of the same mailbox.
            for address in set().union(*(addresses for _, _, addresses in rows)):
                for spelling in ban_spellings(address):
                    BannedEmailHash.objects.get_or_create(digest=ban_digest(spelling))

        for row, user, addresses in rows:
            _row_erase(row, user, addresses, merged_away=row is not member, by=by)

        now = timezone.now()
        ErasureRequest.objects.filter(pk=request.pk).update(approved_by=by, erased_at=now)
        # Any other open request for the same person is answered by this erasure too.
        ErasureRequest.objects.filter(
            member_id__in=[row.pk for row, _, _ in rows], erased_at=None
        ).update(approved_by=by, erased_at=now)
    request.refresh_from_db()
    return request


def erasure_request_open(*, member) -> tuple[ErasureRequest, bool]:
    """The member's open request, or a new one. Returns (request, created)."""
    with transaction.atomic():
        Member.objects.select_for_update().filter(pk=member.pk).first()
        existing = ErasureRequest.objects.filter(member=member, erased_at=None).first()
        if existing is not None:
            return existing, False
        return ErasureRequest.objects.create(member=member), True


def open_erasure_requests_count() -> int:
    return ErasureRequest.objects.filter(erased_at=None).count()
