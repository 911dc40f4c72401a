"""A member changes their own login email (DESIGN §6): a signed, time-limited link
mailed to the new address proves they read mail there; only the link's POST changes
anything (members.services.member_email_change).

The mail goes out the way signup step 1's do (signup/mail.py): the request stores one
row (the member and the canonical new address) and defers one job carrying the row's
id only; the job signs the link, sends the mail and deletes the row in one
transaction, so the address is kept no longer than the mail takes and no link is ever
stored. The link binds the member, the address it changes from and the one it changes
to: once used (the member's email is then the new one) or superseded by another
change, it no longer applies.
"""

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from dhportal.jobs import defer
from members import shapes
from members.emails import canonical_email
from members.models import EmailChangeMail, Member

logger = logging.getLogger(__name__)

SALT = "members.email_change"


class BadEmailChangeLink(Exception):
    """The link is malformed, altered or expired."""


def email_change_token(*, member_id: int, old_email: str, new_email: str) -> str:
    return signing.dumps({"m": member_id, "from": old_email, "to": new_email}, salt=SALT)


def email_change_read(token) -> dict:
    """The link's {"m": member id, "from": old address, "to": new address}, or
    BadEmailChangeLink (never another exception, whatever the token holds)."""
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
    ):
        raise BadEmailChangeLink()
    return data


def email_change_mail_queue(*, member: Member, email: str) -> int:
    """Queue the confirmation mail to `email` (canonical) for `member`; an earlier
    change the member asked for and that is still waiting for its job is dropped.
    Returns the row's id."""
    from members.tasks import send_email_change_mail

    with transaction.atomic():
        EmailChangeMail.objects.filter(member=member).delete()
        row = EmailChangeMail.objects.create(member=member, email=email)
        defer(send_email_change_mail, email_change_mail_id=row.pk)
    return row.pk


def email_change_message(row: EmailChangeMail) -> EmailMultiAlternatives:
    member = row.member
    identity = shapes.read("identity", member.identity)
    first_name = (identity.first_name if identity is not None else None) or ""
    token = email_change_token(member_id=member.pk, old_email=member.email, new_email=row.email)
    context = {
        "name": first_name.strip() or member.username or "there",
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "contact_email": settings.SITE_CONTACT_EMAIL,
        "email": row.email,
        "hours": settings.EMAIL_CHANGE_MAX_AGE // 3600,
        "confirm_url": settings.SITE_URL + reverse("dashboard_email_confirm", args=[token]),
    }
    subject = render_to_string("members/email/email_change_subject.txt", context).strip()
    body = render_to_string("members/email/email_change.txt", context)
    return EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [row.email])


def email_change_mail_send(email_change_mail_id: int) -> str:
    """Send the mail and delete its row, in one transaction (the row lock keeps a
    retried job and a stalled one from both sending)."""
    from members.tasks import mail_send

    with transaction.atomic():
        row = (
            EmailChangeMail.objects.select_for_update(of=("self",))
            .select_related("member")
            .filter(pk=email_change_mail_id)
            .first()
        )
        if row is None:
            return "gone"
        mail_send(email_change_message(row))
        row.delete()
    return "sent"


def email_change_mail_give_up(email_change_mail_id: int, error: BaseException) -> None:
    """The last attempt failed: forget the address (the member can ask again)."""
    EmailChangeMail.objects.filter(pk=email_change_mail_id).delete()
    # No address in the log: the row id and the error class say enough.
    logger.error("Email change mail #%s given up: %s", email_change_mail_id, type(error).__name__)
