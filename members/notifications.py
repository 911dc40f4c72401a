"""Lifecycle notifications (README, "Mail to members"): which mail each transition is
due, the one way to queue one, and how it is sent.

| kind               | due when                                                       |
|--------------------|----------------------------------------------------------------|
| `payment_received` | a pending member's current subscription first becomes active or |
|                    | trialing (it was not paying before: no subscription, incomplete)|
| `activated`        | staff activate after onboarding (members.services.member_activate)|
| `payment_problem`  | `payment_problem` turns true on a subscription that was paying  |
|                    | (a new member's failed first invoice leaves it `incomplete`:    |
|                    | never a payment problem)                                       |
| `lapsed`           | active becomes lapsed                                          |
| `reactivated`      | lapsed becomes active through Stripe                           |
| `invitation`       | staff invite an imported member who never logged in (at most    |
|                    | once a week per member)                                        |

A notification is created by the code that flips the watched value, under the member
row lock and in the transaction that flips it, with the id of the cause as its key (the
Stripe event id, the audit event id of a staff action). The row's unique (member, kind,
key) makes a redelivered event or a repeated save a no-op, and the send job is deferred
in the same transaction, so a rolled-back change mails nothing and a committed one is
never lost. Banned and suspended members get none. The mail itself is rendered when the
job runs (NOTIFICATION_MAILS, an outbox whose rows are kept: state, attempts and the
last error are for staff), from templates/members/email/<kind>.txt and .html.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from allauth.account import app_settings as allauth_settings
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from dhportal.mail import NotSendable, Outbox, error_text, mail_render, site_link
from members import shapes
from members.models import (
    Member,
    MemberStatus,
    Notification,
    NotificationKind,
    NotificationState,
)
from members.subscriptions import PAYING, PROBLEM, subscription_status_form

Kind = NotificationKind

# Keyed by str: Notification.kind, as loaded from the row, is a plain str.
SUBJECTS: dict[str, str] = {
    Kind.PAYMENT_RECEIVED: "Payment received: come to an orientation",
    Kind.ACTIVATED: "You are a member of {site}",
    Kind.PAYMENT_PROBLEM: "A problem with your {site} membership payment",
    Kind.LAPSED: "Your {site} membership has ended",
    Kind.REACTIVATED: "Welcome back to {site}",
    Kind.INVITATION: "{site} has a new member portal",
}

# Members who are never mailed (staff decisions Stripe never changes).
NEVER_MAILED = frozenset({MemberStatus.BANNED.value, MemberStatus.SUSPENDED.value})
INVITATION_EVERY = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Watched:
    """The values a notification watches, read tolerantly from a `status` column."""

    membership_status: str | None
    subscription_status: str
    payment_problem: bool

    @classmethod
    def of(cls, status) -> Watched:
        reading = shapes.read("status", status)
        if reading is None:
            return cls(None, "", False)
        membership = reading.membership_status
        return cls(
            membership.value if membership is not None else None,
            subscription_status_form(reading.subscription_status),
            reading.payment_problem is True,
        )


def kind_for(before, after, *, through_stripe: bool) -> str | None:
    """The notification a change of a member's `status` column (raw JSON before and
    after the write) is due, or None. Pure: no database, no clock.

    One transition mails one kind at most: an ending membership says how to rejoin,
    which covers the payment problem that may have ended it.
    """
    old, new = Watched.of(before), Watched.of(after)
    active, lapsed, pending = (
        MemberStatus.ACTIVE.value,
        MemberStatus.LAPSED.value,
        MemberStatus.PENDING.value,
    )
    if new.membership_status in NEVER_MAILED:
        return None
    if old.membership_status == active and new.membership_status == lapsed:
        return Kind.LAPSED
    if through_stripe and old.membership_status == lapsed and new.membership_status == active:
        return Kind.REACTIVATED
    if (
        through_stripe
        and old.membership_status == pending
        and new.membership_status == pending
        and new.subscription_status in PAYING
        and old.subscription_status not in PAYING
        # Back from a payment problem (past_due, unpaid) is the same subscription
        # paying again.
        and old.subscription_status not in PROBLEM
    ):
        return Kind.PAYMENT_RECEIVED
    if (
        through_stripe
        and new.payment_problem
        and not old.payment_problem
        # Only a subscription that was paying has a problem worth a mail.
        and old.subscription_status in PAYING
    ):
        return Kind.PAYMENT_PROBLEM
    return None


def greeting_name(member: Member) -> str:
    """What a mail to the member calls them: their preferred name, else their first
    name (Member.preferred_name), else their username."""
    return member.preferred_name or member.username or "there"


class NotificationMails(Outbox):
    """Notifications are kept once sent (or failed, for staff to resend): the row
    records the state, the attempts and the last error."""

    model = Notification
    task = "members.tasks.send_notification"
    id_argument = "notification_id"
    label = "Notification"
    related = ("member", "member__user")

    def message(self, notification: Notification) -> EmailMessage:
        member = notification.member
        if not member.email:
            raise NotSendable("The member has no email address.")
        if member.membership_status in NEVER_MAILED:
            raise NotSendable(f"Not sent: the member is {member.membership_status}.")
        context = {
            "kind": notification.kind,
            "name": greeting_name(member),
            "portal_url": settings.STRIPE_CUSTOMER_PORTAL_URL,
            "dashboard_url": site_link("dashboard"),
            "login_url": site_link("account_login"),
            "reset_url": site_link("account_reset_password"),
            "payment_url": site_link("signup:payment"),
        }
        if notification.kind == Kind.INVITATION:
            if member.user is None:
                raise NotSendable("The member has no login to set a password for.")
            context["password_url"] = password_set_url(member.user)
            context["email"] = member.email
        return mail_render(
            f"members/email/{notification.kind}",
            context,
            to=[member.email],
            subject=SUBJECTS[notification.kind].format(site=settings.SITE_NAME),
            html=True,
        )

    def settled(self, notification: Notification) -> str | None:
        return "already sent" if notification.state == NotificationState.SENT else None

    def mark_sent(self, notification: Notification) -> None:
        notification.state = NotificationState.SENT
        notification.attempts += 1
        notification.error = ""
        notification.sent_at = timezone.now()
        notification.save(update_fields=["state", "attempts", "error", "sent_at"])

    def mark_failed(self, row_id: int, error: BaseException, *, final: bool) -> None:
        """Record the attempt and its error; `failed` once no retry follows (staff
        resend it from admin)."""
        state = NotificationState.FAILED if final else NotificationState.QUEUED
        Notification.objects.filter(pk=row_id).exclude(state=NotificationState.SENT).update(
            attempts=F("attempts") + 1, error=error_text(error), state=state
        )


NOTIFICATION_MAILS = NotificationMails()


# One statement: insert unless this cause already mailed this member, and never for a
# banned or suspended member (read in this transaction, so after the caller's write).
_INSERT = """
    INSERT INTO members_notification (member_id, kind, key)
    SELECT m.id, %s, %s FROM members_member m
    WHERE m.id = %s
      AND lower(btrim(COALESCE(m.status ->> 'membership_status', ''))) <> ALL(%s)
    ON CONFLICT (member_id, kind, key) DO NOTHING
    RETURNING id
"""


def notification_create(*, member, kind: str, key: str) -> int | None:
    """Queue notification `kind` for `member`, caused by `key`, and defer its send job,
    both in the current transaction. Returns the new notification's id, or None when
    this cause already queued it or the member is banned or suspended.

    Callers hold the member row lock and call this in the transaction that made the
    change, right after writing it.
    """
    kind = Kind(kind).value  # a plain str for the driver (ValueError if unknown)
    key = str(key)[:255]
    member_id = member if isinstance(member, int) else member.pk
    # No savepoint of its own: inside the caller's transaction the row and the job
    # commit or roll back with the change; alone, they form one transaction.
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(_INSERT, [kind, key, member_id, sorted(NEVER_MAILED)])
            row = cursor.fetchone()
        if row is None:
            return None
        NOTIFICATION_MAILS.defer(row[0])
    return row[0]


def notify_transition(*, member, before, after, key: str, through_stripe: bool) -> int | None:
    """notification_create for whatever kind `kind_for(before, after)` is due, if any."""
    kind = kind_for(before, after, through_stripe=through_stripe)
    if kind is None:
        return None
    return notification_create(member=member, kind=kind, key=key)


def notification_resend(*, notification_id: int) -> bool:
    """Queue a failed notification again (the admin's resend). False when it is not
    failed any more (sent meanwhile, or already queued again)."""
    with transaction.atomic():
        updated = Notification.objects.filter(
            pk=notification_id, state=NotificationState.FAILED
        ).update(state=NotificationState.QUEUED)
        if updated:
            NOTIFICATION_MAILS.defer(notification_id)
    return bool(updated)


# --- invitations ----------------------------------------------------------------------

INVITED = "invited"
THROTTLED = "throttled"
NOT_INVITABLE = "not invitable"


def invitable(member: Member) -> bool:
    """An imported member with an email and a login that has never been used."""
    user = member.user
    return bool(
        member.legacy_id is not None
        and member.email
        and user is not None
        and user.last_login is None
        and member.membership_status not in NEVER_MAILED
    )


def invitation_create(*, member_id: int, by) -> str:
    """Queue an invitation for an imported member who never logged in, unless one was
    queued for them in the last week. The staff action is recorded in the admin log,
    and that entry is the notification's key. Returns INVITED, THROTTLED or
    NOT_INVITABLE."""
    with transaction.atomic():
        member = (
            Member.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=member_id)
            .first()
        )
        if member is None or not invitable(member):
            return NOT_INVITABLE
        # The member row lock serialises two staff inviting the same member at once.
        recent = Notification.objects.filter(
            member=member,
            kind=Kind.INVITATION,
            created_at__gt=timezone.now() - INVITATION_EVERY,
        ).exists()
        if recent:
            return THROTTLED
        entry = LogEntry.objects.log_actions(
            user_id=by.pk,
            queryset=[member],
            action_flag=CHANGE,
            change_message="Sent a portal invitation.",
            single_object=True,
        )
        notification_create(member=member, kind=Kind.INVITATION, key=f"log:{entry.pk}")
        return INVITED


def password_set_url(user) -> str:
    """A link that sets the user's password, as allauth's password reset mails it: its
    token is made now and stops working once the password changes (or after
    PASSWORD_RESET_TIMEOUT)."""
    token = allauth_settings.PASSWORD_RESET_TOKEN_GENERATOR().make_token(user)
    path = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": token},
    )
    return settings.SITE_URL + path
