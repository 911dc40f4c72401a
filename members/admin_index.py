"""What needs staff, for the admin index: a registry of counts.

Each app registers the counts it owns from its AppConfig.ready(), with one call:

    from members import admin_index
    admin_index.register(
        "stripe_failed", ("failed Stripe event", "failed Stripe events"),
        count=lambda: StripeEvent.objects.filter(state="failed").count(),
        url="admin:billing_stripeevent_changelist", query="state__exact=failed",
        permission="billing.view_stripeevent",
    )

so `members` never imports `billing` or `integrations` (imports point one way), and a
later feature adds its count without touching the index. The members app's own counts
are registered at the bottom of this module.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TodoCount:
    key: str
    label: tuple[str, str]  # singular, plural
    count: Callable[[], int]
    url: str  # a URL name (reversed when shown), e.g. "admin:members_member_changelist"
    query: str  # the filter that lists exactly what is counted
    permission: str  # "app.view_model": who may see this count
    order: int


_REGISTRY: dict[str, TodoCount] = {}


def register(
    key: str,
    label: tuple[str, str],
    *,
    count: Callable[[], int],
    url: str,
    query: str = "",
    permission: str,
    order: int | None = None,
) -> None:
    """Add (or replace, for a reloaded app) one count. `count` runs on each visit to the
    admin index, so it should use an index; `order` places it (default: last)."""
    previous = _REGISTRY.get(key)
    if order is None:
        order = previous.order if previous else 100 + len(_REGISTRY)
    _REGISTRY[key] = TodoCount(key, label, count, url, query, permission, order)


def registered() -> list[TodoCount]:
    return sorted(_REGISTRY.values(), key=lambda todo: (todo.order, todo.key))


@dataclass(frozen=True)
class Shown:
    key: str
    number: int | None  # None: the count could not be taken this time
    text: str
    href: str


def todo_counts(user) -> list[Shown]:
    """The counts this user may see, each with its sentence and the link to its list."""
    shown = []
    for todo in registered():
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


# --- the members app's own counts -----------------------------------------------------


def _members():
    from members.models import Member

    return Member.objects


def _possible_duplicates() -> int:
    from members.admin_merge import POSSIBLE_DUPLICATE_Q

    return _members().filter(POSSIBLE_DUPLICATE_Q).count()


def _failed_notifications() -> int:
    from members.models import Notification, NotificationState

    return Notification.objects.filter(state=NotificationState.FAILED).count()


def _failed_jobs() -> int:
    from procrastinate.contrib.django.models import ProcrastinateJob

    return ProcrastinateJob.objects.filter(status="failed").count()


MEMBER_LIST = "admin:members_member_changelist"

register(
    "partial_members",
    ("partial member", "partial members"),
    count=lambda: _members().partial().count(),
    url=MEMBER_LIST,
    query="scaffolding=partial",
    permission="members.view_member",
    order=10,
)
register(
    "awaiting_activation",
    ("member paid and awaiting activation", "members paid and awaiting activation"),
    count=lambda: _members().awaiting_activation().count(),
    url=MEMBER_LIST,
    query="onboarding=awaiting",
    permission="members.view_member",
    order=20,
)
register(
    "possible_duplicates",
    ("possible duplicate", "possible duplicates"),
    count=_possible_duplicates,
    url=MEMBER_LIST,
    query="duplicates=only",
    permission="members.view_member",
    order=30,
)
register(
    "failed_notifications",
    ("failed notification", "failed notifications"),
    count=_failed_notifications,
    url="admin:members_notification_changelist",
    query="needs=failed",
    permission="members.view_notification",
    order=60,
)
register(
    "failed_jobs",
    ("failed job", "failed jobs"),
    count=_failed_jobs,
    url="admin:procrastinate_procrastinatejob_changelist",
    query="status__exact=failed",
    permission="procrastinate.view_procrastinatejob",
    order=70,
)


# --- plan names, for the member admin's level choice ----------------------------------
# The billing app owns the plans; it tells the member admin their names through this
# hook (registered at its ready()), so members never imports billing.

_PLAN_NAMES: list[Callable[[], list[str]]] = []


def register_plan_names(provider: Callable[[], list[str]]) -> None:
    if provider not in _PLAN_NAMES:
        _PLAN_NAMES.append(provider)


def plan_names() -> list[str]:
    names: list[str] = []
    for provider in _PLAN_NAMES:
        names += [n for n in provider() if isinstance(n, str) and n and n not in names]
    return names
