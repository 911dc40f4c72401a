"""The admin index's "Needs staff" panel: each count registered in
dhportal/needs_staff.py that the user may see, as a sentence linking to its filtered
list, and the registered shortcut links; and the members app's own counts, registered
from StaffConfig.ready()."""

import logging
from dataclasses import dataclass

from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse
from procrastinate.contrib.django.models import ProcrastinateJob

from dhportal import needs_staff
from members.erasure import open_erasure_requests_count
from members.models import Member, Notification, NotificationState
from staff.filters import POSSIBLE_DUPLICATE_Q

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shown:
    key: str
    number: int | None  # None: the count could not be taken this time
    text: str
    href: str


def todo_counts(user) -> list[Shown]:
    """The counts this user may see, each with its sentence and the link to its list."""
    shown = []
    for todo in needs_staff.registered():
        if not user.has_perm(todo.permission):
            continue
        try:
            href = reverse(todo.url)
        except NoReverseMatch:
            continue  # the list is not in the admin (an app left out of this site)
        if todo.query:
            href += "?" + todo.query
        try:
            number = todo.count()
        except DatabaseError:
            # One broken count (a table not migrated yet) must not take the index down.
            log.exception("Admin index count %s failed", todo.key)
            number = None
        singular, plural = todo.label
        if number is None:
            text = f"{plural[:1].upper()}{plural[1:]}: could not be counted."
        else:
            text = f"{number} {singular if number == 1 else plural}"
        shown.append(Shown(todo.key, number, text, href))
    return shown


def index_links(user) -> list[tuple[str, str]]:
    """(text, href) of the registered links this user may follow."""
    shown = []
    for link in needs_staff.registered_links():
        if not user.has_perm(link.permission):
            continue
        try:
            shown.append((link.text, reverse(link.url)))
        except NoReverseMatch:
            continue
    return shown


# --- the members app's own counts -----------------------------------------------------

MEMBER_LIST = "admin:members_member_changelist"


def register_member_counts() -> None:
    members = Member.objects
    register = needs_staff.register
    register(
        "partial_members",
        ("partial member", "partial members"),
        count=lambda: members.partial().count(),
        url=MEMBER_LIST,
        query="scaffolding=partial",
        permission="members.view_member",
        order=10,
    )
    register(
        "awaiting_activation",
        ("member paid and awaiting activation", "members paid and awaiting activation"),
        count=lambda: members.awaiting_activation().count(),
        url=MEMBER_LIST,
        query="onboarding=awaiting",
        permission="members.view_member",
        order=20,
    )
    register(
        "possible_duplicates",
        ("possible duplicate", "possible duplicates"),
        count=lambda: members.filter(POSSIBLE_DUPLICATE_Q).count(),
        url=MEMBER_LIST,
        query="duplicates=only",
        permission="members.view_member",
        order=30,
    )
    register(
        "open_erasure_requests",
        ("open erasure request", "open erasure requests"),
        count=open_erasure_requests_count,
        url="admin:members_erasurerequest_changelist",
        query="state=open",
        permission="members.view_erasurerequest",
        order=40,
    )
    register(
        "failed_notifications",
        ("failed notification", "failed notifications"),
        count=lambda: Notification.objects.filter(state=NotificationState.FAILED).count(),
        url="admin:members_notification_changelist",
        query="needs=failed",
        permission="members.view_notification",
        order=60,
    )
    register(
        "failed_jobs",
        ("failed job", "failed jobs"),
        count=lambda: ProcrastinateJob.objects.filter(status="failed").count(),
        url="admin:procrastinate_procrastinatejob_changelist",
        query="status__exact=failed",
        permission="procrastinate.view_procrastinatejob",
        order=70,
    )
