"""The signals members sends so that each app answers for its own rows (docs/hooks.md).

members imports no other app and knows none of their tables: when a merge, an erasure
or an export touches what another app keeps on a member, members sends one of these
signals and the app that owns the rows answers it, in its `receivers.py` (connected in
its AppConfig.ready()). Every signal is sent with `sender=Member` and keyword arguments
only; receivers take `**kwargs` so that arguments can be added later.

- `member_merged(survivor, merged, by)`: inside the merge's transaction, after both
  member rows are written. Move your rows from `merged` to `survivor` (or mark them).
- `member_erased(member, addresses, by)`: inside the erasure's transaction, once for the
  member and once for each record merged into it, after the member row is blanked.
  Blank or delete your copies of the person's data; `addresses` are the canonical email
  addresses the person was known by (for rows that hold an address, not a member).
- `member_refusal(action, member, other)`: before a merge (`member` stays, `other` is
  merged into it) or an erasure (`other` is None), under the rows' locks, and when staff
  open the page that would do it. Return a sentence for staff to refuse, or None.
- `member_exporting(member)`: while the member's data export is built. Return a dict of
  the top-level keys your app adds to the export (never one another part holds).

Receivers run in the caller's transaction and are sent with `send()`, not
`send_robust()`: a receiver that raises rolls the whole merge or erasure back.

Each app also declares, with `answers()`, what a merge and an erasure do with each of
its models that points at a member or a login (a sentence each; "kept: <why>" when
nothing). tests/members/test_hooks.py fails on such a model nobody answers for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from allauth.account.models import EmailAddress
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.dispatch import Signal

from members.models import (
    AuthorizationGrant,
    EmailChangeMail,
    ErasureRequest,
    Member,
    Notification,
    RfidTag,
)

member_merged = Signal()
member_erased = Signal()
member_refusal = Signal()
member_exporting = Signal()


class Action(StrEnum):
    """What a refusal is asked about."""

    MERGE = "merge"
    ERASE = "erase"


@dataclass(frozen=True)
class Answer:
    """What a merge and an erasure do with one model's rows."""

    merge: str
    erasure: str


ANSWERS: dict[type[models.Model], Answer] = {}


def answers(model: type[models.Model], *, merge: str, erasure: str) -> None:
    """Declare what the merge and erasure receivers do with `model`'s rows."""
    if not merge.strip() or not erasure.strip():
        raise ImproperlyConfigured(f"{model._meta.label}: say what a merge and an erasure do.")
    ANSWERS[model] = Answer(merge=merge, erasure=erasure)


def refusal(action: Action, member, other=None) -> str | None:
    """The first app's reason to refuse `action` on `member` (and `other`), or None."""
    for _receiver, reason in member_refusal.send(
        sender=Member, action=action, member=member, other=other
    ):
        if reason:
            return str(reason)
    return None


def export_parts(member) -> dict:
    """The keys the apps add to the member's export, in the order their receivers
    were connected."""
    parts: dict = {}
    for receiver, answer in member_exporting.send(sender=Member, member=member):
        if answer is None:
            continue
        if not isinstance(answer, dict):
            raise ImproperlyConfigured(f"{receiver!r} exports {type(answer)}, not a dict")
        taken = parts.keys() & answer.keys()
        if taken:
            raise ImproperlyConfigured(f"{receiver!r} exports keys already taken: {taken}")
        parts.update(answer)
    return parts


# What members itself does (members/merge.py, members/erasure.py) with its own models and
# with the ones of Django and allauth that point at a member or a login.
answers(
    Member,
    merge="the survivor takes the chosen values and the unions; the merged record is"
    " emptied and marked merged_into",
    erasure="personal columns blanked; number, dates, status and Stripe ids kept",
)
answers(
    apps.get_model("members", "MemberEvent"),
    merge="stays: each record keeps its own history",
    erasure="earlier copies blanked; the events stay",
)
answers(
    RfidTag,
    merge="follows the access column (a trigger): the tags move to the survivor",
    erasure="follows the access column: the tags are dropped",
)
answers(
    AuthorizationGrant,
    merge="live grants move to the survivor (a tool both hold: the second grant ends)",
    erasure="kept, as the authorizations column is; their free-text notes blanked",
)
answers(
    Notification,
    merge="stays: what was mailed to the merged record",
    erasure="errors blanked, pending mail jobs cancelled",
)
answers(
    EmailChangeMail,
    merge="stays: the mail goes to the address it was asked for",
    erasure="deleted, its mail job cancelled",
)
answers(
    ErasureRequest,
    merge="stays: erasing the survivor closes the merged records' requests too",
    erasure="closed (approved_by, erased_at)",
)
answers(
    EmailAddress,
    merge="the login that stays follows the survivor's email; the dropped one's go with it",
    erasure="deleted",
)
answers(
    LogEntry,
    merge="kept: the staff log",
    erasure="object names blanked to #<id>; staff logins (its users) are never erased",
)
