"""Signup step 1's two mails (the continue link, "you already have an account"), sent
by a job so step 1 answers without waiting for the mail server and does the same work
for every address: one row, one job, whichever mail it is.

The job carries the row's id only; the row holds the canonical address and which mail,
and is deleted in the transaction that sends it (or when the job gives up), so the
address is kept no longer than the mail takes. Links are built from SITE_URL when the
job runs, the continue link signed then.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from dhportal.jobs import defer
from members.tasks import mail_send
from signup.models import SignupMail, SignupMailPurpose
from signup.tokens import make_token

logger = logging.getLogger(__name__)


def signup_mail_queue(*, email: str, registered: bool) -> int:
    """Queue the step-1 mail for `email` (canonical): the existing-account mail when
    `registered`, else the continue link. Returns the row's id."""
    from signup.tasks import send_signup_mail

    purpose = SignupMailPurpose.ALREADY_REGISTERED if registered else SignupMailPurpose.CONTINUE
    with transaction.atomic():
        row = SignupMail.objects.create(email=email, purpose=purpose)
        defer(send_signup_mail, signup_mail_id=row.pk)
    return row.pk


def _url(path: str) -> str:
    return settings.SITE_URL + path


def signup_mail_message(row: SignupMail) -> EmailMessage:
    context = {
        "site": _url("/"),
        "site_name": settings.SITE_NAME,
        "hours": settings.SIGNUP_TOKEN_MAX_AGE // 3600,
        "login_url": _url(reverse("account_login")),
        "reset_url": _url(reverse("account_reset_password")),
    }
    if row.purpose == SignupMailPurpose.CONTINUE:
        context["continue_url"] = _url(reverse("signup:continue", args=[make_token(row.email)]))
    template = f"signup/email/{row.purpose}"
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context)
    return EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [row.email])


def signup_mail_send(signup_mail_id: int) -> str:
    """Send the mail and delete its row, in one transaction (the row lock keeps a
    retried job and a stalled one from both sending)."""
    with transaction.atomic():
        row = SignupMail.objects.select_for_update().filter(pk=signup_mail_id).first()
        if row is None:
            return "gone"
        mail_send(signup_mail_message(row))
        row.delete()
    return "sent"


def signup_mail_give_up(signup_mail_id: int, error: BaseException) -> None:
    """The last attempt failed: forget the address (the visitor can ask again)."""
    SignupMail.objects.filter(pk=signup_mail_id).delete()
    # No address in the log: the row id and the error class say enough.
    logger.error("Signup mail #%s given up: %s", signup_mail_id, type(error).__name__)
