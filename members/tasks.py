"""The members app's background jobs. They live here, in tasks.py, because that is where
the worker (`manage.py procrastinate worker`) finds tasks: a task defined in any other
module works when called in the web process and fails in the worker (TaskNotFound).

Jobs carry ids only: never an address, a link or a mail body.

- `send_notification(notification_id)`: renders and sends one lifecycle mail
  (members/notifications.py), retried with backoff while SMTP is in trouble.
- periodic: `repair_members` hourly, `retry_stalled_jobs` every five minutes (jobs a
  killed worker left running), `remove_old_jobs` daily. procrastinate defers each
  periodic job once per period, however many workers run (a unique row per period).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import threading

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from procrastinate import builtin_tasks, job_context
from procrastinate.contrib.django import app

from dhportal.jobs import OUTSIDE_RETRY
from members import shapes
from members.audit import audit
from members.models import Member, Notification, NotificationState
from members.notifications import NEVER_MAILED, SUBJECTS, Kind, password_set_url
from members.services import members_repair

logger = logging.getLogger(__name__)

MAIL_QUEUE = "mail"
# An SMTP server that stops answering must not hold a worker forever.
SMTP_TIMEOUT = 30
# A worker beats every 10 s; one silent this long was killed (or lost its database).
STALLED_AFTER_SECONDS = 60


class NotSendable(Exception):
    """The notification cannot be sent as it stands (no address, member now banned...);
    retrying would not help."""


def _url(name: str, **kwargs) -> str:
    return settings.SITE_URL + reverse(name, kwargs=kwargs or None)


def _context(notification: Notification) -> dict:
    member = notification.member
    identity = shapes.read("identity", member.identity)
    first_name = (identity.first_name if identity is not None else None) or ""
    context = {
        "kind": notification.kind,
        "name": first_name.strip() or member.username or "there",
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "site_address": settings.SITE_ADDRESS,
        "contact_email": settings.SITE_CONTACT_EMAIL,
        "portal_url": settings.STRIPE_CUSTOMER_PORTAL_URL,
        "dashboard_url": _url("dashboard"),
        "login_url": _url("account_login"),
        "reset_url": _url("account_reset_password"),
        "payment_url": _url("signup:payment"),
    }
    if notification.kind == Kind.INVITATION:
        if member.user is None:
            raise NotSendable("The member has no login to set a password for.")
        context["password_url"] = password_set_url(member.user)
        context["email"] = member.email
    return context


def notification_message(notification: Notification) -> EmailMultiAlternatives:
    """The mail for a notification, rendered now (bodies are never stored)."""
    member = notification.member
    if not member.email:
        raise NotSendable("The member has no email address.")
    if member.membership_status in NEVER_MAILED:
        raise NotSendable(f"Not sent: the member is {member.membership_status}.")
    context = _context(notification)
    template = f"members/email/{notification.kind}"
    message = EmailMultiAlternatives(
        subject=SUBJECTS[notification.kind].format(site=settings.SITE_NAME),
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[member.email],
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


def error_text(error: BaseException) -> str:
    """What staff read on the notification: the SMTP code and answer where there is one."""
    if isinstance(error, smtplib.SMTPResponseException):
        answer = error.smtp_error
        if isinstance(answer, bytes):
            answer = answer.decode(errors="replace")
        text = f"{type(error).__name__}: {error.smtp_code} {answer}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:1000]


_smtp = threading.local()


def _mail_settings() -> tuple:
    return (settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT)


def _usable(backend) -> bool:
    """Whether a kept SMTP connection still answers (servers drop idle ones)."""
    smtp = getattr(backend, "connection", None)
    if smtp is None:  # not SMTP, or not open: it opens on use
        return True
    try:
        return smtp.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def mail_send(message: EmailMessage) -> None:
    """Send through this thread's kept mail connection, opening one if it has none or
    the server dropped it. One connection per worker thread serves many jobs: opening
    one costs four round trips to the server, a NOOP one."""
    backend = getattr(_smtp, "backend", None)
    if backend is not None and (_smtp.settings != _mail_settings() or not _usable(backend)):
        with contextlib.suppress(smtplib.SMTPException, OSError):
            backend.close()
        backend = None
    if backend is None:
        timeout = getattr(settings, "EMAIL_TIMEOUT", None) or SMTP_TIMEOUT
        backend = get_connection(timeout=timeout)
        _smtp.settings = _mail_settings()
    _smtp.backend = None  # kept again only once this send went through
    message.connection = backend
    try:
        backend.open()
        message.send()
    except BaseException:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            backend.close()
        raise
    _smtp.backend = backend


def notification_send(notification_id: int) -> str:
    """Send one notification unless it was sent already; mark it sent in the same
    transaction. The row lock keeps two workers (a retried stalled job and a resend)
    from sending it at once. A crash after the SMTP server accepted the mail and
    before the commit sends it again on the retry: the one window for a repeat."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("member", "member__user")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return "gone"
        if notification.state == NotificationState.SENT:
            return "already sent"
        mail_send(notification_message(notification))
        notification.state = NotificationState.SENT
        notification.attempts += 1
        notification.error = ""
        notification.sent_at = timezone.now()
        notification.save(update_fields=["state", "attempts", "error", "sent_at"])
    return "sent"


def notification_failed(notification_id: int, error: BaseException, *, final: bool) -> None:
    """Record a failed attempt on the notification: its error, and `failed` once no
    retry follows (staff resend it from admin)."""
    state = NotificationState.FAILED if final else NotificationState.QUEUED
    Notification.objects.filter(pk=notification_id).exclude(state=NotificationState.SENT).update(
        attempts=F("attempts") + 1, error=error_text(error), state=state
    )


@app.task(queue=MAIL_QUEUE, retry=OUTSIDE_RETRY, pass_context=True)
def send_notification(context: job_context.JobContext, notification_id: int) -> str:
    try:
        return notification_send(notification_id)
    except NotSendable as error:
        notification_failed(notification_id, error, final=True)
        logger.warning("Notification %s not sent: %s", notification_id, error)
        return "not sendable"
    except Exception as error:
        final = not OUTSIDE_RETRY.will_retry(exception=error, job=context.job)
        notification_failed(notification_id, error, final=final)
        logger.warning(
            "Notification %s: %s (%s)",
            notification_id,
            type(error).__name__,
            "failed for good" if final else "will retry",
        )
        raise


@app.periodic(cron="23 * * * *", periodic_id="hourly")
@app.task(queueing_lock="repair_members")
def repair_members(timestamp: int) -> str:
    """What `manage.py repair_members` does, every hour."""
    with audit("repair"):
        return members_repair(queryset=Member.objects.all()).summary()


async def retry_stalled(job_manager, *, seconds_since_heartbeat: float) -> list[int]:
    """Put back in the queue the jobs still marked running by workers that stopped
    beating (killed, or cut from the database); returns their ids."""
    stalled = await job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    for job in stalled:
        await job_manager.retry_job(job)
    return [job.id for job in stalled]


@app.periodic(cron="*/5 * * * *", periodic_id="stalled")
@app.task(queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context: job_context.JobContext, timestamp: int) -> str:
    ids = await retry_stalled(
        context.app.job_manager, seconds_since_heartbeat=STALLED_AFTER_SECONDS
    )
    if ids:
        logger.warning("Retried %d jobs left running by a stopped worker", len(ids))
    return f"retried {len(ids)}"


@app.periodic(cron="41 3 * * *", periodic_id="daily")
@app.task(queueing_lock="remove_old_jobs", pass_context=True)
async def remove_old_jobs(context: job_context.JobContext, timestamp: int) -> None:
    """Finished jobs go after a week; failed ones after a month (their notification
    keeps the error and state for staff)."""
    await builtin_tasks.remove_old_jobs(context, max_hours=7 * 24)
    await builtin_tasks.remove_old_jobs(
        context, max_hours=30 * 24, remove_failed=True, remove_cancelled=True, remove_aborted=True
    )


@app.task(queue=MAIL_QUEUE, retry=OUTSIDE_RETRY, pass_context=True)
def send_email_change_mail(context: job_context.JobContext, email_change_mail_id: int) -> str:
    """The confirmation link of a login email change, to the new address
    (members/email_change.py)."""
    from members.email_change import email_change_mail_give_up, email_change_mail_send

    try:
        return email_change_mail_send(email_change_mail_id)
    except Exception as error:
        if not OUTSIDE_RETRY.will_retry(exception=error, job=context.job):
            email_change_mail_give_up(email_change_mail_id, error)
        raise
