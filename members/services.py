"""Member writes: login details kept in step with the User and allauth's address,
staff activation after onboarding, repair, and the member's own dashboard edits.

The functions that write set their audit source and own their transaction, so no
caller can forget either."""

import datetime
import json
from dataclasses import dataclass

import pghistory
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from members import scaffolding, shapes
from members.audit import audit
from members.email_change import email_change_link_spend
from members.emails import normalize_email
from members.logins import email_holders, login_follow, username_holders
from members.models import (
    Member,
    MemberQuerySet,
    MemberStatus,
    NotificationKind,
    User,
    stored_email,
    violated_field,
)
from members.notifications import kind_for, notification_create
from members.privacy import member_export

_CLASH_MESSAGES = {
    "email": "Another member or login already uses this email.",
    "username": "Another member or login already uses this username.",
    "access": "One of these RFID tags belongs to another member.",
}


class MemberClash(Exception):
    """A write refused by a unique index; `field` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def login_clashes(*, member: Member, email: str, username: str) -> dict[str, str]:
    """Why this email or username cannot be the member's, by field (empty when fine).

    A cheap check for a friendly form error; the unique indexes stay the real guard.
    """
    errors = {}
    email = stored_email(email)
    if email:
        holders = email_holders(email, besides=member)
        other = holders.members.values_list("pk", flat=True).first()
        if other is not None:
            errors["email"] = f"Member #{other} already uses this email."
        # Only a verified address of another login clashes: an unverified one is no
        # proof, and allauth's unique index covers verified addresses only.
        elif member.user_id and (
            holders.users.exists() or holders.addresses.filter(verified=True).exists()
        ):
            errors["email"] = "Another login already uses this email."
    if username:
        names = username_holders(username, besides=member)
        other = names.members.values_list("pk", flat=True).first()
        if other is not None:
            errors["username"] = f"Member #{other} already uses this username."
        elif member.user_id and names.users.exists():
            errors["username"] = "Another login already uses this username."
    return errors


def _identity_with_email(identity, email: str):
    identity = dict(identity) if isinstance(identity, dict) else scaffolding.default("identity")
    emails = [e for e in identity.get("emails") or [] if isinstance(e, dict)]
    for entry in emails:
        if entry.get("type") == "primary":
            entry["email_address"] = email
            break
    else:
        emails.insert(0, {"type": "primary", "email_address": email})
    identity["emails"] = emails
    return identity


def member_change_login(*, member: Member, email: str, username: str, by=None, fields=()) -> None:
    """Save `member` with this email and username, keeping its User, the User's primary
    allauth address and `identity` in step; `fields` are other columns the caller
    changed on the instance, saved in the same write.

    Raises MemberClash when a unique index refuses the write; nothing is written then.
    """
    email = stored_email(email)
    with transaction.atomic():
        before = (
            Member.objects.select_for_update()
            .values("email", "username", "status")
            .get(pk=member.pk)
        )
        update_fields = set(fields) | {"last_updated_by"}
        member.email, member.username = email, username
        member.last_updated_by = by
        email_changed = email != before["email"]
        username_changed = username != before["username"]
        if email_changed:
            member.identity = _identity_with_email(member.identity, email)
            update_fields |= {"email", "identity"}
        if username_changed:
            update_fields.add("username")
            identity = member.identity if isinstance(member.identity, dict) else {}
            # The directory name follows the username only where it was the username.
            ad_name = identity.get("active_directory_username")
            if before["username"] and isinstance(ad_name, str) and ad_name == before["username"]:
                member.identity = {**identity, "active_directory_username": username}
                update_fields.add("identity")
        try:
            with transaction.atomic():
                member.save(update_fields=sorted(update_fields))
                if member.user_id and (email_changed or username_changed):
                    login_follow(
                        User.objects.select_for_update().get(pk=member.user_id),
                        member_id=member.pk,
                        email=email,
                        username=username,
                        vouched=True,
                    )
                if "status" in update_fields:
                    _notify_status_edit(member, before["status"])
        except IntegrityError as error:
            field = violated_field(error)
            if field is None:
                raise
            raise MemberClash(field, _CLASH_MESSAGES[field]) from error


EMAIL_IN_USE = "Another member or login already uses this email address."


@dataclass(frozen=True)
class NewMember:
    """What a new member gives, as signup's details form and staff's add form clean it."""

    email: str  # canonical, or "" (staff may add someone without email)
    username: str
    first_name: str
    last_name: str
    birthday: datetime.date
    phone: str
    is_21_or_older: bool
    preferred_name: str = ""
    pronouns: str = ""
    discord_username: str = ""
    terms_accepted: bool = True


def member_create(
    *,
    new: NewMember,
    password_hash: str,
    verified: bool,
    source: str,
    by=None,
    after_commit=None,
) -> Member:
    """The critical transaction of a new member (signup's, and staff adding one): the
    Member with its identity, status, connections and forms, and, when there is an
    email, its User (with `password_hash`, an unusable one from staff) and primary
    allauth address (`verified` when the visitor proved it). `after_commit(member_id)`
    is registered inside the transaction (signup's scaffolding steps).

    Raises IntegrityError when a unique index refuses it (nothing is written); the
    caller says which field to the visitor.
    """
    now = timezone.now()
    identity = scaffolding.default("identity")
    identity.update(
        first_name=new.first_name,
        last_name=new.last_name,
        nickname=new.preferred_name,
        pronouns=new.pronouns,
        birthday=new.birthday.isoformat(),
        emails=[{"type": "primary", "email_address": new.email}] if new.email else [],
    )
    status = scaffolding.default("status")
    status.update(member_since=timezone.localdate(now).isoformat())
    connections = scaffolding.default("connections")
    connections.update(phone=new.phone, discord_username=new.discord_username)
    forms = scaffolding.default("forms")
    forms.update(
        terms_of_use_accepted=new.terms_accepted,
        terms_accepted_at=now.isoformat() if new.terms_accepted else None,
        is_21_or_older=new.is_21_or_older,
    )
    with audit(source, by), transaction.atomic():
        user = None
        if new.email:
            user = User.objects.create(
                username=new.username,
                email=new.email,
                password=password_hash,
                first_name=new.first_name,
                last_name=new.last_name,
            )
            EmailAddress.objects.create(user=user, email=new.email, verified=verified, primary=True)
        member = Member.objects.create(
            user=user,
            email=new.email,
            username=new.username,
            identity=identity,
            status=status,
            connections=connections,
            forms=forms,
            last_updated_by=by,
        )
        if after_commit is not None:
            after_commit(member.pk)
    return member


ADDED_BY_STAFF = "Added by staff"


def member_add(*, new: NewMember, by) -> Member:
    """Staff add a member (a walk-in, someone without email): signup's critical
    transaction with the login's password unusable and its address unverified (the
    member proves it through the invitation's reset link), audited as `staff`; the
    scaffolding columns are completed in the same transaction, with a note naming the
    staff user. Raises IntegrityError as member_create does; nothing is written then."""
    with transaction.atomic():
        member = member_create(
            new=new, password_hash=make_password(None), verified=False, source="staff", by=by
        )
        note = shapes.note_entry(ADDED_BY_STAFF, author=by.get_username())
        with audit("staff", by):
            scaffolding.complete_member(
                member.pk, only=scaffolding.SCAFFOLDING_COLUMNS, values={"notes": [note]}
            )
    member.refresh_from_db()
    return member


def email_change_clash(*, member: Member, email: str) -> str | None:
    """Why `email` (canonical) cannot become the member's login email, or None.

    Any holder counts (another User, Member or allauth address, verified or not), as
    at signup, so a look-alike spelling of a held address, whose canonical form is
    that address, is refused too. A cheap check for the friendly answer; the unique
    indexes stay the real guard."""
    if any(holders.exists() for holders in email_holders(email, besides=member)):
        return EMAIL_IN_USE
    return None


class LinkUsed(Exception):
    """The email-change link was used before: each link works once."""


def member_email_change(*, member: Member, email: str, by, link_id: str | None = None) -> None:
    """The member's own login email change, once they opened the link mailed to the
    new address: User, allauth's primary address, Member.email and identity change
    together (member_change_login), in the canonical form. Recorded as a member write
    by `by`. `link_id` is the link's id (members/email_change.py): it is spent here, in
    the same transaction, so a link works once.

    Raises ValidationError for an address with no canonical form, MemberClash when
    another member or login holds the address and LinkUsed for a link used before
    (nothing is written then)."""
    email = normalize_email(email)
    with audit("member", by), transaction.atomic():
        # A fresh, locked row: identity is rewritten from it, so nothing saved
        # meanwhile (a profile edit) is overwritten by a stale instance.
        fresh = Member.objects.select_for_update().get(pk=member.pk)
        clash = email_change_clash(member=fresh, email=email)
        if clash:
            raise MemberClash("email", clash)
        if link_id is not None and not email_change_link_spend(link_id):
            raise LinkUsed()
        member_change_login(member=fresh, email=email, username=fresh.username, by=by)
    member.email, member.identity = fresh.email, fresh.identity


def _notify_status_edit(member: Member, before_status: object) -> None:
    """A staff edit that ends a membership (active to lapsed) mails the member, once,
    keyed by the edit's audit context (the caller's `audit(...)`)."""
    kind = kind_for(before_status, member.status, through_stripe=False)
    if kind is not None:
        with pghistory.context() as context:  # joins the caller's context
            notification_create(member=member.pk, kind=kind, key=context.id)


# What member_activate reports for one member.
ACTIVATED = "activated"
ALREADY_ACTIVE = "already active"
REFUSED = "refused"
GONE = "gone"
ACTIVATABLE = (MemberStatus.PENDING, MemberStatus.LAPSED, MemberStatus.SUSPENDED)


def member_activate(
    *,
    member_id: int,
    by,
    id_checked_on: datetime.date,
    id_checked_by,
    waiver_signed_on: datetime.date,
    orientation_completed_on: datetime.date,
) -> str:
    """Activate a pending, lapsed or suspended member after onboarding: record the ID
    check (`forms.id_check_date`, and the checker's username in `forms.id_check_by`;
    `id_check_1`/`id_check_2` keep the ID document's issuer and number), the waiver and
    orientation dates, set the status active and add a note naming `by`.

    Banned members are refused. Recorded as a staff write by `by`.
    """
    with audit("staff", by) as context, transaction.atomic():
        member = (
            Member.objects.select_for_update().filter(pk=member_id).only("status", "forms").first()
        )
        if member is None:
            return GONE
        # A damaged row (a column that is not an object) is for staff to fix by hand.
        if not all(isinstance(v, dict | None) for v in (member.status, member.forms)):
            return REFUSED
        current = member.membership_status
        status = member.read("status")
        if status is not None and "membership_status" in status.unreadable:
            # A status the shapes do not know is for staff to correct first.
            return REFUSED
        if current == MemberStatus.ACTIVE:
            return ALREADY_ACTIVE
        # A member with no status yet is completed (as pending) first, like everywhere.
        if current is not None and current not in ACTIVATABLE:
            return REFUSED
        scaffolding.complete_member(member_id, only=("status", "forms"))
        rows = Member.objects.filter(pk=member_id)
        rows.merge_json_columns(
            {
                "forms": {
                    "id_check_date": id_checked_on.isoformat(),
                    "id_check_by": id_checked_by.get_username(),
                    "waiver_signed_date": waiver_signed_on.isoformat(),
                    "orientation_completed_date": orientation_completed_on.isoformat(),
                },
                "status": {"membership_status": MemberStatus.ACTIVE.value, "waiver_signed": True},
            },
            user=by,
        )
        rows.append_note(
            f"Activated after onboarding by {by.get_username()} (was {current or 'no status'}): "
            f"ID checked {id_checked_on.isoformat()} by {id_checked_by.get_username()}, "
            f"waiver signed {waiver_signed_on.isoformat()}, "
            f"orientation {orientation_completed_on.isoformat()}.",
            author=by.get_username(),
            user=by,
        )
        # The welcome mail, once per activation: keyed by this write's audit context.
        notification_create(member=member_id, kind=NotificationKind.ACTIVATED, key=context.id)
        return ACTIVATED


@dataclass(frozen=True)
class RepairResult:
    repaired: int
    filled: int
    complete: int
    # Partial only through a status that is not a JSON object: the completion function
    # never overwrites, so a staff member edits it by hand.
    damaged: int

    def summary(self) -> str:
        def many(count, one, more):
            return f"{count} {one if count == 1 else more}"

        text = (
            f"Repaired {many(self.repaired, 'member', 'members')} "
            f"({many(self.filled, 'column', 'columns')} filled); "
            f"{many(self.complete, 'was', 'were')} already complete"
        )
        if self.damaged:
            text += (
                f"; {many(self.damaged, 'needs', 'need')} a staff edit "
                f"({'its' if self.damaged == 1 else 'their'} status is not a JSON object)"
            )
        return text + "."


def members_repair(*, queryset: MemberQuerySet) -> RepairResult:
    """Complete every member of `queryset` with the scaffolding function. Callers wrap
    this in `audit(...)`."""
    total = queryset.count()
    repaired = filled = damaged = 0
    for member_id in list(queryset.partial().order_by("pk").values_list("pk", flat=True)):
        labels = scaffolding.complete_member(member_id)
        if labels:
            repaired += 1
            filled += len(labels)
        elif queryset.partial().filter(pk=member_id).exists():
            damaged += 1
    return RepairResult(repaired, filled, total - repaired - damaged, damaged)


# What the dashboard's edits report.
SAVED = "saved"
UNCHANGED = "unchanged"
# REFUSED (above): the record needs staff before it can be edited (a damaged column).

# Dashboard form field -> (column, key) it edits; the forms prefill from the same map.
PROFILE_KEYS = {
    "first_name": ("identity", "first_name"),
    "last_name": ("identity", "last_name"),
    "nickname": ("identity", "nickname"),
    "pronouns": ("identity", "pronouns"),
    "phone": ("connections", "phone"),
    "discord_username": ("connections", "discord_username"),
}
FLOOF_KEYS = {
    "nametag_subtitle": ("identity", "nametag_subtitle"),
    "theme_song_url": ("identity", "theme_song_url"),
    "theme_song_duration": ("identity", "theme_song_duration"),
}


def _keys_changed(member: Member, keys: dict, values: dict) -> dict[str, dict]:
    """The keys whose new value differs from the stored one, by column. Blank and
    missing mean the same ("not set"), so re-saving an untouched form is a no-op."""
    changes: dict[str, dict] = {}
    for field, (column, key) in keys.items():
        new = values[field]
        data = getattr(member, column)
        old = data.get(key) if isinstance(data, dict) else None
        if (old or None) != (new or None):
            changes.setdefault(column, {})[key] = new
    return changes


def _member_keys_update(*, member: Member, by, keys: dict, values: dict) -> str:
    changes = _keys_changed(member, keys, values)
    if not changes:
        return UNCHANGED
    # Only the changed keys are written (a key-level merge), so a value the member did
    # not touch stays as stored, whatever its type.
    with audit("member", by), transaction.atomic():
        written = Member.objects.filter(pk=member.pk).merge_json_columns(changes, user=by)
    return SAVED if written else REFUSED


def member_profile_update(
    *,
    member: Member,
    by,
    first_name: str,
    last_name: str,
    nickname: str = "",
    phone: str,
    pronouns: str = "",
    discord_username: str = "",
) -> str:
    """The member's own profile edit: SAVED, UNCHANGED or REFUSED (a damaged column
    staff must fix first; nothing written). Recorded as a member write by `by`. The
    phone is required here (a blank one clears it), so no caller clears it by omission."""
    values = {
        "first_name": first_name,
        "last_name": last_name,
        "nickname": nickname,
        "pronouns": pronouns,
        "phone": phone,
        "discord_username": discord_username,
    }
    return _member_keys_update(member=member, by=by, keys=PROFILE_KEYS, values=values)


def member_floof_update(
    *,
    member: Member,
    by,
    nametag_subtitle: str = "",
    theme_song_url: str = "",
    theme_song_duration: int | None = None,
) -> str:
    """The member's nametag and theme song edit; outcomes as member_profile_update.
    Pronouns are the profile's (member_profile_update), asked in one place only."""
    values = {
        "nametag_subtitle": nametag_subtitle,
        "theme_song_url": theme_song_url,
        "theme_song_duration": theme_song_duration,
    }
    return _member_keys_update(member=member, by=by, keys=FLOOF_KEYS, values=values)


# What the RFID tag edits report.
TAG_ADDED = "added"
TAG_REMOVED = "removed"
TAG_PRESENT = "already present"
TAG_ABSENT = "not present"
TAG_HELD = "held by another member"
NOT_ACTIVE = "not active"


def _own_active(member: Member) -> MemberQuerySet:
    # The status is checked again in the UPDATE itself, in case it changed since.
    return Member.objects.filter(pk=member.pk, status__membership_status__iexact="active")


def _tags_now(member_id: int) -> tuple[bool, list[str]]:
    """(active, tags) as stored now, read tolerantly."""
    fresh = Member.objects.filter(pk=member_id).only("status", "access").first()
    if fresh is None:
        return False, []
    access = fresh.read("access")
    tags = (access.rfid_tags if access is not None else None) or []
    return fresh.membership_status == MemberStatus.ACTIVE, tags


def member_rfid_tag_add(*, member: Member, by, tag: str) -> str:
    """Add a 10-digit tag to an active member's own keys: TAG_ADDED, TAG_PRESENT,
    TAG_HELD (another member has it), NOT_ACTIVE or REFUSED (a damaged `access`).
    Recorded as a member write by `by`."""
    if member.membership_status != MemberStatus.ACTIVE:
        return NOT_ACTIVE
    try:
        # A savepoint, so a refused tag leaves the caller's connection usable.
        with audit("member", by), transaction.atomic():
            added = _own_active(member).add_rfid_tag(tag, user=by)
    except IntegrityError as error:
        if violated_field(error) != "access":
            raise
        return TAG_HELD
    if added:
        return TAG_ADDED
    active, tags = _tags_now(member.pk)
    if not active:
        return NOT_ACTIVE
    return TAG_PRESENT if tag in tags else REFUSED


def member_rfid_tag_remove(*, member: Member, by, tag: str) -> str:
    """Remove a 10-digit tag from an active member's own keys: TAG_REMOVED, TAG_ABSENT
    or NOT_ACTIVE. Recorded as a member write by `by`."""
    if member.membership_status != MemberStatus.ACTIVE:
        return NOT_ACTIVE
    with audit("member", by), transaction.atomic():
        removed = _own_active(member).remove_rfid_tag(tag, user=by)
    if removed:
        return TAG_REMOVED
    active, _tags = _tags_now(member.pk)
    return TAG_ABSENT if active else NOT_ACTIVE


# The member's note on a download of their data, and the history event's label where
# their notes cannot take it.
EXPORT_NOTE = "Downloaded a copy of their data (privacy page)."
DOWNLOAD_EVENT = "download"


def member_export_download(*, member: Member, by) -> str:
    """The member's export (members/privacy.py) as JSON text, its download recorded in
    the member's history in the same transaction, audited as the member's own act: a
    note from "member" where notes is a list; otherwise (NULL on a partial record, or a
    damaged value) a `download` event in the history and no write, since a NULL stays
    NULL and nothing but the scaffolding writes defaults."""
    with audit("member", by), transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if isinstance(locked.notes, list):
            Member.objects.filter(pk=locked.pk).append_note(EXPORT_NOTE, author="member", user=by)
            locked.refresh_from_db()
        else:
            pghistory.create_event(locked, label=DOWNLOAD_EVENT)
        data = member_export(member=locked)
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
