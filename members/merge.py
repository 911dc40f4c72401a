"""Merging two member records of one person (README "Moving from Deep Harbor",
docs/hooks.md): staff choose the member that stays (the survivor) and, key by key,
whose value wins; notes, RFID tags, authorizations and identity.emails are united.

The choices proposed lose nothing (`default_choices`): where the two records differ, a
value beats an empty one (absent, null, blank, false, or the value scaffolding fills
in, such as "New Member"); the stronger membership status wins (banned, suspended,
active, lapsed, pending, in that order); `member_since` and the date added take the
earlier date; a login keeps its email and username (the login used, else the only
one); otherwise
the value of the record written more recently wins. The
Stripe customer's record keeps its billing keys. Every value not kept on the survivor
is listed, with its label and the record it was on, in the survivor's merge note.

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

import contextlib
import datetime
import json
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

# Whose value wins is chosen key by key: the two login fields, the joining date, and
# each key of these object columns (the shapes' keys, then any other key either
# record holds). Keys holding lists are united instead (below).
LOGIN_CHOICES = ("email", "username")
CHOSEN_SCALARS = ("date_added",)
CHOSEN_COLUMNS = ("identity", "status", "connections", "forms", "extras")
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
# What the webhook writes for the member holding the Stripe customer: these come from
# that member, whatever else is chosen (Stripe keeps writing to it).
_BILLING_KEYS = (*_STRIPE_KEYS, "subscription_status", "payment_problem")
assert set(_BILLING_KEYS) <= set(shapes.keys("status"))
_BILLING_CHOICES = frozenset(f"status.{key}" for key in _BILLING_KEYS)
# The stronger membership status wins: a staff decision over a paying member over one
# whose payment ended over one not yet onboarded.
_STATUS_RANK = {
    MemberStatus.PENDING: 0,
    MemberStatus.LAPSED: 1,
    MemberStatus.ACTIVE: 2,
    MemberStatus.SUSPENDED: 3,
    MemberStatus.BANNED: 4,
}
_MEMBERSHIP_STATUS = "status.membership_status"
# The earlier date wins.
_EARLIER = frozenset({"status.member_since", "date_added"})
# A key no record holds (not the same as a key holding null).
ABSENT = object()


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


# --- the choices: one per key --------------------------------------------------


def _split(choice: str) -> tuple[str, str | None]:
    column, _, key = choice.partition(".")
    return column, (key or None)


def _is_list_key(column: str, key: str) -> bool:
    try:
        return shapes.key_kind(column, key).is_list
    except ValueError:
        return False  # a key the shapes do not know is chosen, never united


def choice_keys(first, second) -> list[str]:
    """What a merge of these two chooses, in page order: the login fields, the joining
    date, then "<column>.<key>" for each key of CHOSEN_COLUMNS that either record holds
    or the shapes declare (list keys are united, not chosen)."""
    keys = [*LOGIN_CHOICES, *CHOSEN_SCALARS]
    for column in CHOSEN_COLUMNS:
        found = list(shapes.keys(column))
        for member in (first, second):
            value = getattr(member, column)
            if isinstance(value, dict):
                found.extend(k for k in value if k not in found)
        keys.extend(f"{column}.{k}" for k in found if not _is_list_key(column, k))
    return keys


def choice_value(member, choice: str):
    """The member's raw value for a choice, ABSENT where it holds none."""
    column, key = _split(choice)
    value = getattr(member, column)
    if key is None:
        return value
    return value.get(key, ABSENT) if isinstance(value, dict) else ABSENT


def choice_label(choice: str) -> str:
    column, key = _split(choice)
    if key is None:
        return {"date_added": "Date added", "email": "Email", "username": "Username"}[column]
    return shapes.label(column, key)


def _initial(choice: str):
    column, key = _split(choice)
    if key is None or key not in shapes.keys(column):
        return ABSENT
    return shapes.default(column).get(key, ABSENT)


def _empty(choice: str, value) -> bool:
    """No information: absent, null, blank, an empty list or object, false, or the
    value scaffolding fills in (a signup's "New Member" says nothing)."""
    if value is ABSENT or value is None or value is False:
        return True
    if isinstance(value, str | list | dict) and not (
        value.strip() if isinstance(value, str) else value
    ):
        return True
    initial = _initial(choice)
    return initial is not ABSENT and initial is not None and value == initial


def _as_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.date.fromisoformat(value.strip()[:10])
    return None


def _rank(value) -> int | None:
    if isinstance(value, str) and value.strip().lower() in MemberStatus.values:
        return _STATUS_RANK[MemberStatus(value.strip().lower())]
    return None


def _preferred(choice: str, first, second):
    """Which of the two the page proposes for a choice where they differ: the one that
    loses nothing (module docstring), else the record written more recently (for the
    email and username: the record whose login has been used, else the only one with
    a login)."""
    a, b = choice_value(first, choice), choice_value(second, choice)
    rank_a, rank_b = _rank(a), _rank(b)
    if choice == _MEMBERSHIP_STATUS and rank_a is not None and rank_b is not None:
        return first if rank_a >= rank_b else second
    date_a, date_b = _as_date(a), _as_date(b)
    if choice in _EARLIER and date_a is not None and date_b is not None:
        return first if date_a <= date_b else second
    empty_a, empty_b = _empty(choice, a), _empty(choice, b)
    if empty_a != empty_b:
        return second if empty_a else first
    if choice in LOGIN_CHOICES:
        # A login keeps the email and name its owner logs in with: the one used, else
        # the only one there is.
        for has in (lambda u: u.last_login is not None, lambda u: True):
            holders = [m for m in (first, second) if m.user is not None and has(m.user)]
            if len(holders) == 1:
                return holders[0]
    return first if first.date_modified >= second.date_modified else second


def default_choices(first, second) -> dict[str, int]:
    """Whose value the page proposes, per choice, with `first` staying where the two
    hold the same: the choices that lose nothing (module docstring). The Stripe
    customer's member keeps its billing keys."""
    holder = _stripe_holder(first, second)
    choices = {}
    for choice in choice_keys(first, second):
        if choice in _BILLING_CHOICES and holder is not None:
            choices[choice] = holder.pk
        elif choice_value(first, choice) == choice_value(second, choice):
            choices[choice] = first.pk
        else:
            choices[choice] = _preferred(choice, first, second).pk
    return choices


def fixed_choices(first, second) -> dict[str, int]:
    """The choices staff cannot change: the billing keys, from the member holding the
    Stripe customer (empty when neither does)."""
    holder = _stripe_holder(first, second)
    return {} if holder is None else dict.fromkeys(sorted(_BILLING_CHOICES), holder.pk)


def _stripe_holder(first, second):
    return next((m for m in (first, second) if stripe_customer(m)), None)


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
    """The choices to apply: the proposed ones, with what staff chose instead. A whole
    column may be given for all its keys."""
    proposed = default_choices(survivor, merged)
    for field, value in (choices or {}).items():
        pk = value.pk if isinstance(value, Member) else value
        if pk not in (survivor.pk, merged.pk):
            raise MergeRefused(f"The value of {field} must come from one of the two members.")
        if field in CHOSEN_COLUMNS:
            for choice in proposed:
                if choice.startswith(f"{field}."):
                    proposed[choice] = pk
        elif field in proposed:
            proposed[field] = pk
        else:
            raise MergeRefused(f"{field} is not something a merge chooses.")
    holder = _stripe_holder(survivor, merged)
    if holder is not None and any(proposed[c] != holder.pk for c in _BILLING_CHOICES):
        raise MergeRefused(
            f"Member #{holder.pk} has the Stripe customer: its billing details must win "
            "(Stripe keeps writing to it)."
        )
    return proposed


def _shown(value) -> str:
    """A value as staff read it in the merge note and on the merge page."""
    if value is ABSENT or value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def shown_value(member, choice: str) -> str:
    return _shown(choice_value(member, choice))


def _composed(column: str, pick, survivor, other):
    """A chosen column built key by key from the two records' values (`pick(choice)`
    gives the member whose value wins). Both not objects: the survivor's, or the
    other's when the survivor's is NULL."""
    mine, theirs = getattr(survivor, column), getattr(other, column)
    if not isinstance(mine, dict) and not isinstance(theirs, dict):
        return theirs if mine is None else mine
    result = {}
    for member in (survivor, other):
        value = getattr(member, column)
        if isinstance(value, dict):
            # List keys (united later) and the key order: as the records hold them.
            result.update({k: v for k, v in value.items() if k not in result})
    for key in list(result):
        choice = f"{column}.{key}"
        if _is_list_key(column, key):
            continue
        value = choice_value(pick(choice), choice)
        if value is ABSENT:
            del result[key]
        else:
            result[key] = value
    return result


def _not_kept(chosen, survivor, other) -> list[str]:
    """Each value a merge does not keep on the survivor, as "label: value (#N)"."""
    lost = []
    for choice, pk in chosen.items():
        loser = other if pk == survivor.pk else survivor
        value = choice_value(loser, choice)
        if value in (ABSENT, None, "", [], {}) or value == choice_value(
            survivor if loser is other else other, choice
        ):
            continue
        lost.append(f"{choice_label(choice)}: {_shown(value)} (#{loser.pk})")
    for column in CHOSEN_COLUMNS:
        mine, theirs = getattr(survivor, column), getattr(other, column)
        if isinstance(mine, dict) or isinstance(theirs, dict):
            dropped = [(m, v) for m, v in ((survivor, mine), (other, theirs)) if v is not None]
            dropped = [(m, v) for m, v in dropped if not isinstance(v, dict)]
        else:
            dropped = [(other, theirs)] if None not in (mine, theirs) and mine != theirs else []
        lost.extend(f"{column} (unreadable): {_shown(v)} (#{m.pk})" for m, v in dropped)
    return lost


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
    """Merge `merged` into `survivor` (Members or their ids). `choices` maps a choice
    of choice_keys (or a whole column of CHOSEN_COLUMNS) to the member (or id) whose
    value wins; the others take default_choices.
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

    def pick(choice):
        return keep if chosen[choice] == keep.pk else gone

    email = pick("email").email
    username = pick("username").username
    not_kept = _not_kept(chosen, keep, gone)
    composed = {c: _composed(c, pick, keep, gone) for c in CHOSEN_COLUMNS}
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
    identity = _united_identity(composed["identity"], gone.identity, email, other_emails)
    notes = keep.notes if isinstance(keep.notes, list) else ([] if keep.notes is None else None)
    if notes is not None:
        notes = list(notes) + (list(gone.notes) if isinstance(gone.notes, list) else [])
        notes.append(
            shapes.note_entry(
                f"Member #{gone.pk}"
                + (f" (Deep Harbor #{gone.legacy_id})" if gone.legacy_id else "")
                + f" merged into this one by {staff}; its record and history stay on its "
                "own page." + (" Not kept: " + "; ".join(not_kept) + "." if not_kept else ""),
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
        "status": composed["status"],
        "connections": composed["connections"],
        "forms": composed["forms"],
        "extras": composed["extras"],
        "date_added": pick("date_added").date_added,
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
    "ABSENT",
    "CHOSEN_COLUMNS",
    "MERGED_AWAY_Q",
    "UNITED",
    "choice_keys",
    "choice_label",
    "choice_value",
    "MergeRefused",
    "MergeResult",
    "default_choices",
    "fixed_choices",
    "is_merged_away",
    "member_merge",
    "merge_refusal",
    "merged_into",
    "shown_value",
]
