"""signup's answer to members' erasure hook (members/hooks.py, docs/hooks.md), connected
in SignupConfig.ready(): a queued step-1 mail holds the address it goes to, so an
erasure deletes the person's (its job then finds no row and sends nothing). Signup keeps
nothing else on a member, and nothing a merge would move."""

from django.db.models.functions import Lower
from django.dispatch import receiver

from members import hooks
from signup.models import SignupMail

hooks.answers(
    SignupMail,
    merge="stays: it names an address, not a member",
    erasure="the person's addresses' queued mails deleted",
)


@receiver(hooks.member_erased, dispatch_uid="signup_mails_delete")
def mails_delete(sender, *, addresses, **kwargs):
    if addresses:
        SignupMail.objects.alias(address=Lower("email")).filter(
            address__in=sorted(addresses)
        ).delete()
