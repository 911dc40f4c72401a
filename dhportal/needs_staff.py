"""What needs staff, for the admin index: a registry of counts every app may fill.

Each app registers the counts it owns from its AppConfig.ready(), with one call:

    from dhportal import needs_staff
    needs_staff.register(
        "stripe_failed", ("failed Stripe event", "failed Stripe events"),
        count=lambda: StripeEvent.objects.filter(state="failed").count(),
        url="admin:billing_stripeevent_changelist", query="state__exact=failed",
        permission="billing.view_stripeevent",
    )

The registry lives here, outside the apps, so no feature app imports another to be
counted (imports point one way), and a later feature adds its count without touching
the index. The staff app draws the panel (staff/index_panel.py) and registers the
members app's own counts.
"""

from collections.abc import Callable
from dataclasses import dataclass


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


# --- links on the admin index -----------------------------------------------------------
# Pages staff go to often that no model list leads to (e.g. "Who is here"), registered
# the same way: one call from the owning app's ready().


@dataclass(frozen=True)
class IndexLink:
    key: str
    text: str
    url: str  # a URL name, reversed when shown
    permission: str
    order: int


_LINKS: dict[str, IndexLink] = {}


def register_link(key: str, text: str, *, url: str, permission: str, order: int = 100) -> None:
    _LINKS[key] = IndexLink(key, text, url, permission, order)


def registered_links() -> list[IndexLink]:
    return sorted(_LINKS.values(), key=lambda link: (link.order, link.key))
