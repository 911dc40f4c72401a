"""Signal receivers of the members app (connected in MembersConfig.ready()).

Claiming a login by password reset (README, "Moving from Deep Harbor", step 4): the
import gives a member with an email a User with an unusable password and an unverified
primary allauth address. allauth's password reset looks users up by address (verified or
not; it only prefers verified ones) and does not look at the password, so "Forgot
password?" reaches them, and a staff invitation mails the same reset link. Completing
the reset proves the member reads mail at the address, so it is marked verified here:
the one receiver of allauth's `password_reset`.
"""

import logging

from allauth.account.models import EmailAddress
from allauth.account.signals import password_reset
from django.db import IntegrityError, transaction
from django.dispatch import receiver

from members.lookups import ci_equals

logger = logging.getLogger(__name__)


@receiver(password_reset, dispatch_uid="members_verify_reset_address")
def verify_reset_address(sender, request, user, **kwargs):
    """Mark the login's own address (User.email, its primary) verified. The reset key
    is the user's, not an address's, so only the address the reset form finds the user
    by and mails is taken as proven: the portal's logins have that one address.

    The password is already changed when this runs, so nothing here may fail the
    request: a reset that answered 500 would look failed to a member whose new password
    works."""
    if not user.email:
        return
    unverified = EmailAddress.objects.filter(ci_equals("email", user.email), user_id=user.pk)
    try:
        # A savepoint: the failed UPDATE must not break the request's transaction.
        with transaction.atomic():
            unverified.filter(verified=False).update(verified=True)
    except IntegrityError:
        # Another login holds this address verified (allauth's unique_verified_email):
        # the reset still stands; the address stays unverified for staff to sort out.
        logger.warning("Password reset of user %s: another login holds its address", user.pk)
