"""Signup step 1's two mails (the continue link, "you already have an account"), sent
by a job so step 1 answers without waiting for the mail server and does the same work
for every address: one row, one job, whichever mail it is.

The job carries the row's id only; the row holds the canonical address and which mail,
and is deleted in the transaction that sends it (or when the job gives up), so the
address is kept no longer than the mail takes. Links are built from SITE_URL when the
job runs, the continue link signed then. The steps are dhportal.mail.Outbox's.
"""

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from dhportal.mail import Outbox, mail_render, site_link
from signup.models import SignupMail, SignupMailPurpose, SignupStart
from signup.tokens import make_token


class SignupMails(Outbox):
    model = SignupMail
    task = "signup.tasks.send_signup_mail"
    id_argument = "signup_mail_id"
    label = "Signup mail"

    def message(self, row: SignupMail) -> EmailMessage:
        context = {
            "hours": settings.SIGNUP_TOKEN_MAX_AGE // 3600,
            "login_url": site_link("account_login"),
            "reset_url": site_link("account_reset_password"),
        }
        if row.purpose == SignupMailPurpose.CONTINUE:
            context["continue_url"] = site_link("signup:continue", make_token(row.email))
        return mail_render(f"signup/email/{row.purpose}", context, to=[row.email])


SIGNUP_MAILS = SignupMails()


def signup_mail_queue(*, email: str, registered: bool) -> int:
    """Queue the step-1 mail for `email` (canonical): the existing-account mail when
    `registered`, else the continue link. Returns the row's id."""
    purpose = SignupMailPurpose.ALREADY_REGISTERED if registered else SignupMailPurpose.CONTINUE
    with transaction.atomic():
        SignupStart.objects.create(purpose=purpose)
        return SIGNUP_MAILS.queue(email=email, purpose=purpose)
