"""Sending mail, for every app: the connection, the rendering, and the outbox.

- `mail_send()` sends through a kept SMTP connection per worker thread, opened with a
  timeout (an SMTP server that stops answering must not hold a worker forever).
- `mail_render()` builds a message from templates: `<template>.txt` (and, when asked,
  `<template>.html`), the subject given or rendered from `<template>_subject.txt`, the
  site's own values (`site_context()`) under the caller's.
- `Outbox` is the one way a mail goes out of the portal ("row, job, send, give up"): the
  request stores a row holding what the mail needs, and defers one job carrying the
  row's id only (never an address, a link or a body); the job locks the row, renders the
  mail, sends it and settles the row in one transaction (a retried job and a stalled
  one cannot both send); the last failed attempt gives up on the row. Each app keeps
  its row model and says how its mail is rendered; README, "Mail to members".
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import threading
from typing import Any, ClassVar

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from procrastinate import jobs

from dhportal.jobs import defer_many, will_retry

# The queue of every job that sends mail.
MAIL_QUEUE = "mail"
# Seconds an SMTP server has to answer (unless EMAIL_TIMEOUT says otherwise).
SMTP_TIMEOUT = 30

# What a send job answers (shown in the job's log line).
SENT = "sent"
GONE = "gone"
NOT_SENDABLE = "not sendable"


class NotSendable(Exception):
    """The row cannot be mailed as it stands (no address, the member is now banned...);
    retrying would not help."""


# --- the connection -------------------------------------------------------------------

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


def error_text(error: BaseException) -> str:
    """What staff read on a row whose mail failed: the SMTP code and answer where there
    is one."""
    if isinstance(error, smtplib.SMTPResponseException):
        answer = error.smtp_error
        if isinstance(answer, bytes):
            answer = answer.decode(errors="replace")
        text = f"{type(error).__name__}: {error.smtp_code} {answer}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:1000]


# --- rendering ------------------------------------------------------------------------


def site_link(viewname: str, *args: Any, **kwargs: Any) -> str:
    """The absolute link to a view, on SITE_URL (mail has no request to build it from)."""
    return settings.SITE_URL + reverse(viewname, args=args or None, kwargs=kwargs or None)


def site_context() -> dict[str, str]:
    """What every mail may say about the site."""
    return {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "site_address": settings.SITE_ADDRESS,
        "contact_email": settings.SITE_CONTACT_EMAIL,
    }


def mail_render(
    template: str,
    context: dict[str, Any],
    *,
    to: list[str],
    subject: str | None = None,
    html: bool = False,
) -> EmailMultiAlternatives:
    """The mail from `<template>.txt` (plus `<template>.html` when `html`), its subject
    `subject` or `<template>_subject.txt`, rendered now with the site's context and
    `context`, from DEFAULT_FROM_EMAIL to `to`."""
    context = {**site_context(), **context}
    if subject is None:
        subject = render_to_string(f"{template}_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    if html:
        message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


# --- the outbox -----------------------------------------------------------------------


class Outbox:
    """One kind of mail that goes out through a job. A subclass names its row `model`,
    its send `task` (by name: the app's tasks.py imports the outbox, never the other
    way) and the job's one argument `id_argument`, and renders the mail in `message()`.

    By default a sent mail's row is deleted in the send's transaction, so the address is
    kept no longer than the mail takes, and the last failed attempt deletes it too (the
    person can ask again); a subclass that keeps its rows (a notification staff resend)
    overrides `settled()`, `mark_sent()` and `mark_failed()`.
    """

    model: ClassVar[type[models.Model]]
    task: ClassVar[str]
    id_argument: ClassVar[str]
    # What the log calls a row: "<label> #<id>". Never an address: ids say enough.
    label: ClassVar[str]
    # What message() reads through the row, fetched with it.
    related: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.logger = logging.getLogger(type(self).__module__)

    # -- what each kind says -----------------------------------------------------------

    def message(self, row: Any) -> EmailMessage:
        """The mail for this row, rendered now; NotSendable when there can be none."""
        raise NotImplementedError

    def settled(self, row: Any) -> str | None:
        """Why this row needs no mail any more (what the job answers), or None."""
        return None

    def mark_sent(self, row: Any) -> None:
        """The mail went out: settle the row, in the send's transaction."""
        row.delete()

    def mark_failed(self, row_id: int, error: BaseException, *, final: bool) -> None:
        """An attempt failed; `final` when no retry follows."""
        if final:
            self.model._default_manager.filter(pk=row_id).delete()

    # -- the shared steps --------------------------------------------------------------

    def defer(self, row_id: int) -> int:
        """Defer the send job of row `row_id`, in the current transaction."""
        [job_id] = defer_many(self.task, [{self.id_argument: row_id}])
        return job_id

    def queue(self, **fields: Any) -> int:
        """Create a row of `fields` and defer its send job, in the caller's transaction
        or, alone, in one of its own; returns the row's id."""
        with transaction.atomic(savepoint=False):
            row = self.model._default_manager.create(**fields)
            self.defer(row.pk)
        return row.pk

    def send(self, row_id: int) -> str:
        """Send the row's mail unless it is gone or settled, and settle the row, in one
        transaction. The row lock keeps a retried job and a stalled one from both
        sending; a crash after the SMTP server accepted the mail and before the commit
        sends it again on the retry: the one window for a repeat."""
        with transaction.atomic():
            row = (
                self.model._default_manager.select_for_update(of=("self",))
                .select_related(*self.related)
                .filter(pk=row_id)
                .first()
            )
            if row is None:
                return GONE
            reason = self.settled(row)
            if reason is not None:
                return reason
            mail_send(self.message(row))
            self.mark_sent(row)
        return SENT

    def run(self, job: jobs.Job, row_id: int) -> str:
        """What the send task does: send, and record a failed attempt on the row (its
        last one gives up); a failure is raised again for the retry policy."""
        try:
            return self.send(row_id)
        except NotSendable as error:
            self.mark_failed(row_id, error, final=True)
            self.logger.warning("%s #%s not sent: %s", self.label, row_id, error)
            return NOT_SENDABLE
        except Exception as error:
            final = not will_retry(job, error)
            self.mark_failed(row_id, error, final=final)
            if final:
                self.logger.error("%s #%s given up: %s", self.label, row_id, type(error).__name__)
            else:
                self.logger.warning(
                    "%s #%s: %s (will retry)", self.label, row_id, type(error).__name__
                )
            raise
