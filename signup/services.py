"""Signup: the critical transaction and the best-effort scaffolding after it."""

import datetime
import functools
import logging

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from members import scaffolding, shapes
from members.audit import audit
from members.erasure import banned_email_hashes
from members.logins import email_holders, username_holders
from members.models import Member, normalize_email, violated_field
from members.services import NewMember, member_create

logger = logging.getLogger(__name__)

SIGNUP_NOTE = "New signup via member portal"


class SignupRefused(Exception):
    """The signup cannot go ahead; the subclass says why."""


class EmailTaken(SignupRefused):
    pass


class UsernameTaken(SignupRefused):
    pass


def email_registered(email: str) -> bool:
    # One query that probes all three tables whatever the answer: stopping at the first
    # hit made a held address measurably faster to refuse than a new one, which told
    # step 1's visitors who is a member.
    # An erased, banned member's address (its keyed hash, README, "Privacy") counts as held,
    # probed in the same query so it answers no faster or slower than the others.
    users, members, addresses = (rows.values_list("pk") for rows in email_holders(email))
    bans = banned_email_hashes(email).values_list("pk")
    return bool(list(users.union(members, addresses, bans, all=True)))


def username_taken(username: str) -> bool:
    users, members = (rows.values_list("pk") for rows in username_holders(username))
    return bool(list(users.union(members, all=True)[:1]))


def _refusal_for(error: IntegrityError, *, email: str, username: str) -> SignupRefused | None:
    # A race loser waited for the winner's commit, so the winner's rows are visible now.
    # The same person submitting twice trips whichever unique index PostgreSQL checks
    # first; telling them their signup is complete is the truer answer, so email wins.
    if email_registered(email):
        return EmailTaken()
    field = violated_field(error)
    if field == "username" or username_taken(username):
        return UsernameTaken()
    if field == "email":
        return EmailTaken()
    return None


def member_signup(
    *,
    email: str,
    username: str,
    password: str,
    first_name: str,
    last_name: str,
    birthday: datetime.date,
    phone: str,
    is_21_or_older: bool,
    preferred_name: str = "",
    pronouns: str = "",
    discord_username: str = "",
) -> Member:
    """Create the User, its verified primary address and the Member in one transaction
    (members.services.member_create, which staff adding a member use too), then
    schedule the four scaffolding steps for after the commit.

    Raises EmailTaken or UsernameTaken (never a second row: the unique indexes decide
    races); any other database error propagates with nothing written.
    """
    email = normalize_email(email)
    # Cheap checks first, so a duplicate costs no password hash.
    if email_registered(email):
        raise EmailTaken()
    if username_taken(username):
        # A twin submit of this same signup may have committed between the two checks;
        # then the signup is complete, not the username taken.
        raise EmailTaken() if email_registered(email) else UsernameTaken()
    # Hashed outside the transaction: no row locks are held while it runs.
    password_hash = make_password(password)
    new = NewMember(
        email=email,
        username=username,
        first_name=first_name,
        last_name=last_name,
        birthday=birthday,
        phone=phone,
        is_21_or_older=is_21_or_older,
        preferred_name=preferred_name,
        pronouns=pronouns,
        discord_username=discord_username,
    )
    try:
        return member_create(
            new=new,
            password_hash=password_hash,
            verified=True,
            source="signup",
            after_commit=lambda member_id: schedule_scaffolding(member_id=member_id),
        )
    except IntegrityError as error:
        refusal = _refusal_for(error, email=email, username=username)
        if refusal is None:
            raise
        raise refusal from error


def schedule_scaffolding(*, member_id: int) -> None:
    """Register the four best-effort steps to run, in order, after the commit."""
    for label in scaffolding.SCAFFOLDING_COLUMNS:
        transaction.on_commit(
            functools.partial(run_scaffolding_step, member_id=member_id, label=label),
            robust=True,
        )


def _values_for(label: str) -> dict:
    if label == "notes":
        return {"notes": [shapes.note_entry(SIGNUP_NOTE, author="signup")]}
    return {label: scaffolding.default(label)}


def run_scaffolding_step(*, member_id: int, label: str) -> bool:
    """Fill one scaffolding column; log the outcome; never raise.

    The ERROR line names only the exception class: database messages can quote the
    row, and the row holds personal data.
    """
    try:
        with audit("signup"):
            scaffolding.complete_member(member_id, only=[label], values=_values_for(label))
    except Exception as error:
        logger.error("Signup member %s: %s failed: %s", member_id, label, type(error).__name__)
        return False
    logger.info("Signup member %s: %s initialized", member_id, label)
    return True
