"""A member's login, the rules written once: who holds an email or a username, the User
that follows its member's email and username, and ending a login's sessions.

Lookups go through the `lower(...)` indexes (members/lookups.py); callers pass the
canonical email (members/emails.py).
"""

from importlib import import_module
from typing import NamedTuple

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.utils import timezone

from members.emails import stored_email
from members.lookups import ci_equals, email_addresses_with
from members.models import Member, User
from members.validators import placeholder_username

# --- who holds an email or a username ---------------------------------------------------


class EmailHolders(NamedTuple):
    users: QuerySet[User]
    members: QuerySet[Member]
    addresses: QuerySet[EmailAddress]  # allauth's, verified or not


class UsernameHolders(NamedTuple):
    users: QuerySet[User]
    members: QuerySet[Member]


def email_holders(email: str, *, besides: Member | None = None) -> EmailHolders:
    """The rows holding this address, one queryset per table, each looked up through
    its lower(email) index; anything but a canonical address is looked up as given,
    never raising. `besides`: a member whose own rows (itself, its User and that User's
    addresses) do not count."""
    email = stored_email(email)
    users = User.objects.with_email(email)
    members = Member.objects.with_email(email)
    addresses = email_addresses_with(email)
    if besides is not None:
        members = members.exclude(pk=besides.pk)
        if besides.user_id:
            users = users.exclude(pk=besides.user_id)
            addresses = addresses.exclude(user_id=besides.user_id)
    return EmailHolders(users, members, addresses)


def username_holders(username: str, *, besides: Member | None = None) -> UsernameHolders:
    """The rows holding this username ignoring case, through the lower(username)
    indexes; `besides` as for email_holders."""
    users = User.objects.with_username(username)
    members = Member.objects.with_username(username)
    if besides is not None:
        members = members.exclude(pk=besides.pk)
        if besides.user_id:
            users = users.exclude(pk=besides.user_id)
    return UsernameHolders(users, members)


# --- the User follows its member ------------------------------------------------------


def login_follow(user: User, *, member_id: int, email: str, username: str, vouched: bool) -> None:
    """The member's User takes the member's email and username (a member without a
    username gives its login the placeholder name: User.username is unique, so '' could
    not be shared), and its primary allauth address follows the email.

    vouched: the address is proven to be the member's (staff entered it from the member
    in person, the same trust as the ID check; or the member opened a link mailed
    there): the primary address becomes it, verified, and no other copy of it stays.
    Otherwise (a merge): it becomes the primary address, verified only where this login
    had it verified already; the login's other addresses stay as they were."""
    user.email, user.username = email, username or placeholder_username(member_id)
    user.save(update_fields=["email", "username"])
    if not email:
        return
    if vouched:
        _primary_replace(user.pk, email)
    else:
        _primary_take(user.pk, email)


def _primary_replace(user_id: int, email: str) -> None:
    addresses = EmailAddress.objects.filter(user_id=user_id)
    addresses.filter(ci_equals("email", email), primary=False).delete()
    primary = addresses.filter(primary=True).first()
    if primary is None:
        EmailAddress.objects.create(user_id=user_id, email=email, verified=True, primary=True)
    else:
        primary.email, primary.verified = email, True
        primary.save(update_fields=["email", "verified"])


def _primary_take(user_id: int, email: str) -> None:
    addresses = EmailAddress.objects.filter(user_id=user_id)
    same = addresses.filter(ci_equals("email", email)).first()
    if same is not None:
        addresses.exclude(pk=same.pk).filter(primary=True).update(primary=False)
        if not same.primary or same.email != email:
            same.primary, same.email = True, email
            same.save(update_fields=["primary", "email"])
        return
    addresses.filter(primary=True).update(primary=False)
    EmailAddress.objects.create(user_id=user_id, email=email, verified=False, primary=True)


# --- sessions -------------------------------------------------------------------------


def login_sessions_end(*, user, keep: str | None = None) -> int:
    """End the login's live sessions but the one keyed `keep` (database rows; with the
    cached_db engine, the cache copy too). Returns how many were ended."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    user_id = str(user.pk)
    ended = 0
    live = Session.objects.filter(expire_date__gt=timezone.now()).exclude(session_key=keep)
    for session in live.iterator():
        if session.get_decoded().get("_auth_user_id") == user_id:
            store(session_key=session.session_key).delete()
            ended += 1
    return ended
