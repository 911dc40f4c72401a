"""A member changes their own login email (`/dashboard/account/`): a signed,
time-limited link mailed to the new address proves they read mail there; only the
link's POST changes anything (members.services.member_email_change).

The mail goes out through an outbox (dhportal.mail.Outbox), as signup step 1's do: the
request stores one row (the member and the canonical new address) and defers one job
carrying the row's id only; the job signs the link, sends the mail and deletes the row
in one transaction, so the address is kept no longer than the mail takes and no link is
ever stored. The link binds the member, the address it changes from and the one it
changes to: once superseded by another change, it no longer applies. It also carries a
random id, recorded when the link is used (members.EmailChangeLinkUse), so each link
works once: confirmed, then reverted by a second change, it does not confirm again.
"""

import datetime
import secrets

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from dhportal.mail import Outbox, mail_render, site_link
from members.emails import canonical_email
from members.models import EmailChangeLinkUse, EmailChangeMail, Member
from members.notifications import greeting_name

SALT = "members.email_change"


class BadEmailChangeLink(Exception):
    """The link is malformed, altered or expired."""


def email_change_token(*, member_id: int, old_email: str, new_email: str) -> str:
    link_id = secrets.token_urlsafe(12)
    return signing.dumps(
        {"m": member_id, "from": old_email, "to": new_email, "n": link_id}, salt=SALT
    )


def email_change_read(token) -> dict:
    """The link's {"m": member id, "from": old address, "to": new address, "n": its
    id}, or BadEmailChangeLink (never another exception, whatever the token holds). A
    link without an id (mailed before links had one) is refused: it could not be
    spent."""
    if not isinstance(token, str) or len(token) > 2000:
        raise BadEmailChangeLink()
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.EMAIL_CHANGE_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        raise BadEmailChangeLink() from None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("m"), int)
        and isinstance(data.get("from"), str)
        and isinstance(data.get("to"), str)
        and canonical_email(data["to"]) == data["to"]
        and isinstance(data.get("n"), str)
        and 0 < len(data["n"]) <= 64
    ):
        raise BadEmailChangeLink()
    return data


def email_change_link_used(link_id: str) -> bool:
    return EmailChangeLinkUse.objects.filter(link_id=link_id).exists()


def email_change_link_spend(link_id: str) -> bool:
    """Record the link as used, in the caller's transaction (which holds the member's
    row lock, so two confirmations of one link wait for each other); False when it was
    used already. Rows older than any link can be are dropped on the way."""
    oldest = timezone.now() - datetime.timedelta(seconds=settings.EMAIL_CHANGE_MAX_AGE)
    EmailChangeLinkUse.objects.filter(used_at__lt=oldest).delete()
    _, created = EmailChangeLinkUse.objects.get_or_create(link_id=link_id)
    return created


class EmailChangeMails(Outbox):
    model = EmailChangeMail
    task = "members.tasks.send_email_change_mail"
    id_argument = "email_change_mail_id"
    label = "Email change mail"
    related = ("member",)

    def message(self, row: EmailChangeMail) -> EmailMessage:
        member = row.member
        token = email_change_token(member_id=member.pk, old_email=member.email, new_email=row.email)
        context = {
            "name": greeting_name(member),
            "email": row.email,
            "hours": settings.EMAIL_CHANGE_MAX_AGE // 3600,
            "confirm_url": site_link("dashboard_email_confirm", token),
        }
        return mail_render("members/email/email_change", context, to=[row.email])


EMAIL_CHANGE_MAILS = EmailChangeMails()


def email_change_mail_queue(*, member: Member, email: str) -> int:
    """Queue the confirmation mail to `email` (canonical) for `member`; an earlier
    change the member asked for and that is still waiting for its job is dropped.
    Returns the row's id."""
    with transaction.atomic():
        EmailChangeMail.objects.filter(member=member).delete()
        return EMAIL_CHANGE_MAILS.queue(member=member, email=email)
