"""Merging two member records of one person (README "Moving from Deep Harbor",
docs/hooks.md): staff choose the member that stays (the survivor) and, per column,
whose value wins; notes, RFID tags, authorizations and identity.emails are united.

What happens to the merged-away record. Its row is kept, as a record of the merge,
rather than deleted: its pghistory events (which the history page reads through the
row) stay where they were, the change feed gets its last snapshot (no tags, no login:
the door controller and the directory drop it), and notifications and the other apps'
rows keep a row to point at. It is emptied of everything that must have one holder or
that outside systems act on: email, username, its login, its RFID tags (moved) and its
Stripe ids (kept only on the survivor, so the webhook finds one member).
A banned record stays banned; any other becomes `suspended` (a staff decision Stripe
never changes), so a stray second record never lets anyone in. Its other columns stay as
they were, readable on its own page. It gets `merged_into` = survivor, the one mark of a
record merged away (`MERGED_AWAY_Q`: how the "possible duplicates" filter leaves it out,
and how erasure finds it), `duplicate_of` = survivor (the link staff pages follow) and
a note from "merge" saying so; the survivor gets a note naming it, and its history page
links the merged record's own history. Records merged earlier into the merged record
are merged into the survivor from now on: one person, one record in use.

The other apps' rows. members knows none of their tables: inside the transaction it
sends `member_merged` (members/hooks.py) and each app moves its own rows (billing its
subscriptions, events and findings; the import ledger says `merged`). Before writing, it
asks `member_refusal`, so an app can refuse with a reason for staff.

Logins. At most one of the two Users may have been used (`last_login` set): that one
stays and becomes the survivor's; otherwise the survivor's User stays, or, when the
survivor has none, the merged member's. The other User, never used (an unusable
password the import made, or one nobody logged in with), is deleted with its allauth
addresses; a staff login is never deleted (the merge is refused). The User that stays
takes the survivor's final email and username (or the placeholder `member-<id>`).

Everything runs in one transaction under the audit source `merge` with the staff user:
both member rows are locked in id order (so concurrent merges of overlapping pairs
queue instead of deadlocking, and a merge finding a record already merged away is
refused, never applied twice), and the merged record's tags are cleared before they
are written onto the survivor, so the RfidTag unique index never sees two holders.
"""

from dataclasses import dataclass

import pghistory
from django.db import IntegrityError, transaction
from django.db.models import Q

from members import shapes
from members.audit import audit
from members.emails import stored_email
from members.grants import grants_merge
from members.hooks import Action, member_merged, refusal
from members.logins import login_follow
from members.models import Member, MemberStatus, User, violated_field
from members.rfid import TAGS_KEY, rfid_tag_form

# Whose value wins, per column: the two login fields, the JSON columns that are not
# united, and the member's joining date.
CHOSEN_FIELDS = ("email", "username", "identity", "status", "connections", "forms", "extras")
CHOSEN_SCALARS = ("date_added",)
CHOOSABLE = CHOSEN_FIELDS + CHOSEN_SCALARS
# United, whoever stays.
UNITED = ("notes", "access", "authorizations", "identity.emails")

# The author of the note a merge leaves on the record it empties.
MERGE_NOTE_FROM = "merge"
# A record merged away.
MERGED_AWAY_Q = Q(merged_into__isnull=False)

_EMAILS_KEY = "emails"
assert _EMAILS_KEY in shapes.keys("identity")
_ADDRESS_KEY, _TYPE_KEY = "email_address", "type"
assert {_ADDRESS_KEY, _TYPE_KEY} <= set(shapes.Email.model_fields)
_PRIMARY = "primary"
# The type an address that is no longer the primary one gets in identity.emails.
_OTHER = "other"
# The status keys naming Stripe objects: kept on one member only.
_STRIPE_KEYS = tuple(k for k in shapes.keys("status") if k.startswith("stripe_"))
_STRIPE_CUSTOMER = "stripe_customer_id"
assert _STRIPE_CUSTOMER in _STRIPE_KEYS


class MergeRefused(Exception):
    """The merge cannot be done; the message says why, for staff."""


@dataclass(frozen=True)
class MergeResult:
    survivor_id: int
    merged_id: int
    tags_moved: int
    login: str  # what happened to the logins, for staff

    def summary(self) -> str:
        return (
            f"Merged member #{self.merged_id} into #{self.survivor_id}: "
            f"{self.tags_moved} RFID tag{'s' if self.tags_moved != 1 else ''} moved; "
            f"{self.login}."
        )


def is_merged_away(member) -> bool:
    return member.merged_into_id is not None


def stripe_customer(member) -> str:
    value = member.status.get(_STRIPE_CUSTOMER) if isinstance(member.status, dict) else None
    return value.strip() if isinstance(value, str) else ""


def default_choices(first, second) -> dict[str, int]:
    """Whose value the page proposes, per column, with `first` staying: its own value
    unless it has none (blank or NULL); the status of the member with a Stripe customer;
    the earlier joining date."""
    choices = {}
    for field in CHOSEN_FIELDS:
        mine = getattr(first, field)
        choices[field] = first.pk if mine not in (None, "", {}) else second.pk
    if not stripe_customer(first) and stripe_customer(second):
        choices["status"] = second.pk
    choices["date_added"] = min((first, second), key=lambda m: (m.date_added, m.pk)).pk
    return choices


def merge_refusal(first, second) -> str | None:
    """Why `second` cannot be merged into `first`, or None. Checked again under the
    row locks by member_merge."""
    if first.pk == second.pk:
        return "A member cannot be merged with itself."
    for member in (first, second):
        if is_merged_away(member):
            return (
                f"Member #{member.pk} was already merged into #{member.merged_into_id}: "
                "merge with that member instead."
            )
    users = [m.user for m in (first, second)]
    if all(u is not None and u.last_login is not None for u in users):
        return (
            f"Both members have logged in (#{first.pk} and #{second.pk}): merging would "
            "take one of them away from the login they use."
        )
    if stripe_customer(first) and stripe_customer(second):
        return (
            f"Both members have a Stripe customer (#{first.pk} and #{second.pk}): "
            "Stripe would keep billing both; end one of them at Stripe first."
        )
    banned = [m.membership_status == MemberStatus.BANNED for m in (first, second)]
    if banned[0] != banned[1]:
        ban, other = (first, second) if banned[0] else (second, first)
        return (
            f"Member #{ban.pk} is banned and #{other.pk} is not: a merge would either lift "
            "the ban or ban the other record; decide the status first."
        )
    dropped = _logins(first, second)[1]
    if dropped is not None and (dropped.is_staff or dropped.is_superuser):
        return (
            f"The login {dropped.get_username()} is a staff login; a merge never removes "
            "it. Keep the other member instead."
        )
    return refusal(Action.MERGE, first, second)


def _check_choices(choices, survivor, merged) -> dict[str, int]:
    proposed = default_choices(survivor, merged)
    for field, value in (choices or {}).items():
        if field not in CHOOSABLE:
            raise MergeRefused(f"{field} is not a column a merge chooses.")
        pk = value.pk if isinstance(value, Member) else value
        if pk not in (survivor.pk, merged.pk):
            raise MergeRefused(f"The value of {field} must come from one of the two members.")
        proposed[field] = pk
    holder = next((m for m in (survivor, merged) if stripe_customer(m)), None)
    if holder is not None and proposed["status"] != holder.pk:
        raise MergeRefused(
            f"Member #{holder.pk} has the Stripe customer: its status must win "
            "(Stripe keeps writing to it)."
        )
    return proposed


# --- the unions, on raw column values (a reading is never written back) ---------


def _address(entry) -> str:
    value = entry.get(_ADDRESS_KEY) if isinstance(entry, dict) else None
    return stored_email(value).lower() if isinstance(value, str) else ""


def _united_identity(winner, loser, final_email: str, emails: list[str]):
    """The winning identity, its emails united with the other's and with both members'
    addresses; the final email is the one primary entry."""
    identity = dict(winner) if isinstance(winner, dict) else {}
    entries = []
    for source in (winner, loser):
        listed = source.get(_EMAILS_KEY) if isinstance(source, dict) else None
        if isinstance(listed, list):
            entries.extend(listed)
        elif listed is not None and source is winner:
            return identity  # a damaged list staff should see, left as it is
    entries.extend({_TYPE_KEY: _OTHER, _ADDRESS_KEY: e} for e in emails if e)
    seen, united = set(), []
    for entry in entries:
        address = _address(entry)
        if isinstance(entry, dict) and address:
            if address in seen:
                continue
            seen.add(address)
        united.append(dict(entry) if isinstance(entry, dict) else entry)
    final = stored_email(final_email).lower()
    primary_found = False
    for entry in united:
        if not isinstance(entry, dict):
            continue
        is_final = bool(final) and _address(entry) == final
        if is_final or (not final and entry.get(_TYPE_KEY) == _PRIMARY and not primary_found):
            entry[_TYPE_KEY] = _PRIMARY
            primary_found = True
        elif entry.get(_TYPE_KEY) == _PRIMARY:
            entry[_TYPE_KEY] = _OTHER
    identity[_EMAILS_KEY] = united
    return identity


def _united_lists(mine, theirs, keys, *, form=lambda v: v):
    """Object columns holding lists (access, authorizations): the survivor's object,
    the other's unknown keys added, each list in `keys` united (in order, compared in
    `form`). A value that is not an object or not a list is left as the survivor has it."""
    if not isinstance(mine, dict):
        return theirs if mine is None else mine
    if not isinstance(theirs, dict):
        return mine
    result = {**theirs, **mine}
    for key in keys:
        a, b = mine.get(key), theirs.get(key)
        if isinstance(a, list) and isinstance(b, list):
            seen = {form(v) for v in a if isinstance(v, str)}
            extra = [v for v in b if not (isinstance(v, str) and form(v) in seen)]
            result[key] = a + [v for i, v in enumerate(extra) if v not in extra[:i]]
        elif a is None and b is not None:
            result[key] = b
    return result


def _tags(access) -> list[str]:
    tags = access.get(TAGS_KEY) if isinstance(access, dict) else None
    return [t for t in tags if isinstance(t, str) and t.strip()] if isinstance(tags, list) else []


# --- logins ----------------------------------------------------------------------


def _logins(survivor, merged):
    """(the User that stays, the User to delete), either may be None."""
    a, b = survivor.user, merged.user
    if b is not None and b.last_login is not None:
        return b, a
    if a is not None:
        return a, b
    return b, None


# --- the merge -------------------------------------------------------------------


def member_merge(*, survivor, merged, choices=None, by) -> MergeResult:
    """Merge `merged` into `survivor` (Members or their ids). `choices` maps a column of
    CHOOSABLE to the member (or id) whose value wins; the others take default_choices.
    Raises MergeRefused with the reason; nothing is written then."""
    survivor_id = getattr(survivor, "pk", survivor)
    merged_id = getattr(merged, "pk", merged)
    with audit("merge", by), transaction.atomic():
        # Built inside audit(): pghistory adds this to the context audit opened.
        pghistory.context(merge={"into": survivor_id, "from": merged_id})
        # Both rows locked in id order: overlapping merges queue, never deadlock.
        locked = {
            m.pk: m
            for m in Member.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk__in=[survivor_id, merged_id])
            .order_by("pk")
        }
        if survivor_id == merged_id:
            raise MergeRefused("A member cannot be merged with itself.")
        if len(locked) != 2:
            raise MergeRefused("One of the two members no longer exists.")
        keep, gone = locked[survivor_id], locked[merged_id]
        refusal = merge_refusal(keep, gone)
        if refusal:
            raise MergeRefused(refusal)
        chosen = _check_choices(choices, keep, gone)
        try:
            with transaction.atomic():
                return _merge(keep, gone, chosen, by)
        except IntegrityError as error:
            field = violated_field(error)
            if field is None:
                raise
            raise MergeRefused(
                f"Another record holds the {field} this merge would give member "
                f"#{keep.pk}; nothing was changed."
            ) from error


def _merge(keep, gone, chosen, by) -> MergeResult:
    staff = by.get_username() if by is not None else "staff"
    pick = {f: (keep if chosen[f] == keep.pk else gone) for f in chosen}
    email = pick["email"].email
    username = pick["username"].username
    tags_before = _tags(keep.access)
    stay_user, drop_user = _logins(keep, gone)

    # The merged record first: its tags, email, username and login freed in this
    # transaction before the survivor takes them (the unique indexes see one holder).
    tomb_status = gone.status
    if isinstance(tomb_status, dict):
        tomb_status = {k: v for k, v in tomb_status.items() if k not in _STRIPE_KEYS}
        if gone.membership_status != MemberStatus.BANNED:
            tomb_status["membership_status"] = MemberStatus.SUSPENDED.value
    tomb_access = gone.access
    if isinstance(tomb_access, dict) and isinstance(tomb_access.get(TAGS_KEY), list):
        tomb_access = {**tomb_access, TAGS_KEY: []}
    tomb_notes = gone.notes
    if isinstance(tomb_notes, list) or tomb_notes is None:
        tomb_notes = [
            *(tomb_notes or []),
            shapes.note_entry(
                f"Merged into member #{keep.pk} by {staff}; this record is no longer used.",
                author=MERGE_NOTE_FROM,
            ),
        ]
    Member.objects.filter(pk=gone.pk).update(
        email="",
        username="",
        user=None,
        access=tomb_access,
        status=tomb_status,
        notes=tomb_notes,
        merged_into=keep,
        duplicate_of=keep,
        last_updated_by=by,
    )
    if drop_user is not None:
        # Never used (merge_refusal): nothing is lost with it but its unverified address.
        User.objects.filter(pk=drop_user.pk).delete()

    # The survivor: the chosen values, the unions, the merge note.
    other_emails = [keep.email, gone.email]
    identity = _united_identity(
        pick["identity"].identity,
        (gone if pick["identity"] is keep else keep).identity,
        email,
        other_emails,
    )
    notes = keep.notes if isinstance(keep.notes, list) else ([] if keep.notes is None else None)
    if notes is not None:
        notes = list(notes) + (list(gone.notes) if isinstance(gone.notes, list) else [])
        notes.append(
            shapes.note_entry(
                f"Member #{gone.pk}"
                + (f" (Deep Harbor #{gone.legacy_id})" if gone.legacy_id else "")
                + f" merged into this one by {staff}; its record and history stay on its "
                "own page.",
                author=staff,
            )
        )
    else:
        notes = keep.notes  # damaged: left for staff to see; the merged notes stay on #gone
    access = _united_lists(keep.access, gone.access, (TAGS_KEY,), form=rfid_tag_form)
    authorizations = _united_lists(
        keep.authorizations, gone.authorizations, shapes.keys("authorizations")
    )
    values = {
        "email": email,
        "username": username,
        "identity": identity,
        "status": pick["status"].status,
        "connections": pick["connections"].connections,
        "forms": pick["forms"].forms,
        "extras": pick["extras"].extras,
        "date_added": pick["date_added"].date_added,
        "notes": notes,
        "access": access,
        "authorizations": authorizations,
        "user": stay_user,
        "duplicate_of": None,
        "last_updated_by": by,
    }
    Member.objects.filter(pk=keep.pk).update(**values)
    # Rows that pointed at the merged record as their holder, or were merged into it
    # earlier, now point at the survivor.
    Member.objects.filter(duplicate_of=gone.pk).exclude(pk__in=[keep.pk, gone.pk]).update(
        duplicate_of=keep
    )
    Member.objects.filter(merged_into=gone.pk).update(merged_into=keep)
    # The authorizations column is the live grants' names: the grants move too.
    grants_merge(survivor_id=keep.pk, merged_id=gone.pk, by=by)

    login = "no login"
    if stay_user is not None:
        # The merged email is not proven for this login: verified only if it was so.
        login_follow(stay_user, member_id=keep.pk, email=email, username=username, vouched=False)
        login = f"login {stay_user.get_username()} kept"
        if stay_user.pk != keep.user_id:
            login = f"the login of #{gone.pk} moved to #{keep.pk}"
    if drop_user is not None:
        login += f"; the unused login of #{(gone if drop_user == gone.user else keep).pk} removed"

    keep.refresh_from_db()
    gone.refresh_from_db()
    # The other apps move or mark their own rows (members/hooks.py).
    member_merged.send(sender=Member, survivor=keep, merged=gone, by=by)
    moved = len(_tags(keep.access)) - len(tags_before)
    return MergeResult(keep.pk, gone.pk, moved, login)


def merged_into(member) -> list:
    """The records merged into this member (for its history page)."""
    return list(member.merged_records.order_by("pk").only("id", "legacy_id"))


__all__ = [
    "CHOOSABLE",
    "MERGED_AWAY_Q",
    "UNITED",
    "MergeRefused",
    "MergeResult",
    "default_choices",
    "is_merged_away",
    "member_merge",
    "merge_refusal",
    "merged_into",
]
