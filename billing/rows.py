"""The webhook's statements on billing's own tables, each one round trip.

The webhook answers Stripe for every event, so what it costs is counted in queries
(tests/billing/test_webhook_queries.py): each function here replaces a read followed
by a write with one statement that decides in SQL, under the row's lock, and returns
what the handler needs to know.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from billing.models import DONE_STATES, EventState, Plan, StripeEvent, Subscription
from members.models import Member
from members.subscriptions import FINAL

EVENTS = StripeEvent._meta.db_table
SUBSCRIPTIONS = Subscription._meta.db_table
PLANS = Plan._meta.db_table
MEMBERS = Member._meta.db_table

# Constant SQL lists built from constants (no input).
_DONE = ", ".join(f"'{state}'" for state in sorted(DONE_STATES))
_FINAL = ", ".join(f"'{status}'" for status in sorted(FINAL))

_EVENT_COLUMNS = (
    "stripe_id",
    "type",
    "api_version",
    "livemode",
    "created",
    "payload",
    "object_id",
    "customer_id",
    "email",
    "state",
    "detail",
    "error",
    "attempts",
    "received_at",
    "processed_at",
    "member_id",
)


def _event_insert(event: StripeEvent) -> tuple[str, list]:
    columns = ", ".join(_EVENT_COLUMNS)
    marks = ", ".join("%s::jsonb" if c == "payload" else "%s" for c in _EVENT_COLUMNS)
    params = [
        json.dumps(event.payload) if c == "payload" else getattr(event, c) for c in _EVENT_COLUMNS
    ]
    return f"INSERT INTO {EVENTS} AS e ({columns}) VALUES ({marks})", params  # noqa: S608


def event_claim(event: StripeEvent, *, lock_key: str = "") -> int | None:
    """Insert the event row; its id, or None when a row with its Stripe id exists.

    A concurrent delivery of the same id waits here until the first one commits (the
    unique index), then gets None. With `lock_key`, the same statement then takes that
    advisory lock: after the event row, as everywhere (see billing/handlers.py).
    """
    insert, params = _event_insert(event)
    sql = f"WITH claimed AS ({insert} ON CONFLICT (stripe_id) DO NOTHING RETURNING id) "
    if lock_key:
        sql += "SELECT id, pg_advisory_xact_lock(hashtextextended(%s, 0)) FROM claimed"
        params.append(lock_key)
    else:
        sql += "SELECT id FROM claimed"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def lock(key: str) -> None:
    """A transaction-scoped advisory lock on `key`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def event_failed(event: StripeEvent) -> tuple[int, int] | None:
    """Record `event` as failed with its error, after its handler's transaction was
    rolled back: insert it, or update the stored row unless it is processed or ignored
    by now (a redelivery that succeeded meanwhile wins). Returns (id, attempts), or
    None when the row was left alone."""
    insert, params = _event_insert(event)
    sql = (
        f"{insert} ON CONFLICT (stripe_id) DO UPDATE SET state = EXCLUDED.state, "
        "error = EXCLUDED.error, attempts = e.attempts + 1, processed_at = EXCLUDED.processed_at "
        f"WHERE e.state NOT IN ({_DONE}) RETURNING id, attempts"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def _member_update(member_id: int, status: dict, notes: list) -> tuple[str, list[Any]]:
    """A key-level merge into status and an append to notes, the SQL of
    MemberQuerySet.merge_json and append_note. The member row is locked and its status
    checked to be an object by the handler, so no concurrent change can be lost and no
    damaged value grows."""
    sets: list[str] = []
    params: list[Any] = []
    if status:
        sets.append("status = COALESCE(status, '{}'::jsonb) || %s::jsonb")
        params.append(json.dumps(status))
    if notes:
        sets.append("notes = COALESCE(notes, '[]'::jsonb) || %s::jsonb")
        params.append(json.dumps(notes))
    # Stripe's writes are made by no user (docs/shapes.md: last_updated_by).
    sets.append("last_updated_by_id = NULL")
    return f'UPDATE "{MEMBERS}" SET {", ".join(sets)} WHERE id = %s', [*params, member_id]  # noqa: S608


def event_finish(event: StripeEvent, *, member_id: int, status: dict, notes: list) -> None:
    """Record the event's outcome and write its member in one statement."""
    member_sql, params = _member_update(member_id, status, notes)
    sql = (
        f"WITH member_write AS ({member_sql}) "  # noqa: S608
        f"UPDATE {EVENTS} SET state = %s, detail = %s, error = %s, member_id = %s, "
        "attempts = %s, processed_at = %s WHERE id = %s"
    )
    params += [event.state, event.detail, event.error, event.member_id]
    params += [event.attempts, event.processed_at, event.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def member_write(*, member_id: int, status: dict, notes: list) -> None:
    """Write a handler's changes to its member with no event to record (a snapshot
    read from Stripe's API by billing/reconcile.py)."""
    sql, params = _member_update(member_id, status, notes)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def events_settle(*, subscription_ids, member_id: int, detail: str, exclude: int) -> None:
    """Mark the unmatched events about these subscriptions processed (their snapshots
    were just applied). Rows a redelivery holds right now are skipped, not waited for:
    that delivery finds the member itself."""
    sql = (
        f"UPDATE {EVENTS} SET state = %s, member_id = %s, detail = %s WHERE id IN ("  # noqa: S608
        f"SELECT id FROM {EVENTS} WHERE state = %s AND object_id = ANY(%s) AND id <> %s "
        "FOR UPDATE SKIP LOCKED)"
    )
    params = [EventState.PROCESSED, member_id, detail, EventState.UNMATCHED]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(subscription_ids), exclude])  # type: ignore[list-item]


@dataclass
class Snapshot:
    """What a subscription event carries, ready to store."""

    created: datetime
    is_created_event: bool  # a tie with the high-water mark is not applied for these
    status: str
    product_id: str  # "" when the event names none: the stored one is kept
    current_period_end: datetime | None  # None: the stored one is kept
    data: dict


@dataclass
class SubscriptionRow:
    """A subscription as this transaction left it, and what the statement did."""

    stripe_id: str
    customer_id: str
    status: str
    product_id: str
    current_period_end: datetime | None
    member_id: int | None
    plan_name: str | None  # the staff-edited name of product_id, if any
    previous_member_id: int | None
    existed: bool
    # "applied" (the snapshot was stored), "older" (older than the last one applied),
    # "final" (the subscription had already ended for good), "linked" (no snapshot)
    verdict: str
    last_event_created: datetime | None = None


def _subscription_row(row, **what) -> SubscriptionRow:
    """A SubscriptionRow from the first seven columns of _RETURNED, and `what`."""
    return SubscriptionRow(
        stripe_id=row[0],
        customer_id=row[1],
        status=row[2],
        product_id=row[3],
        current_period_end=row[4],
        member_id=row[5],
        plan_name=row[6],
        **what,
    )


_PLAN_NAME = f"(SELECT p.name FROM {PLANS} p WHERE p.stripe_product_id = s.product_id)"  # noqa: S608
_RETURNED = (
    "s.stripe_id, s.customer_id, s.status, s.product_id, s.current_period_end, s.member_id, "
    + _PLAN_NAME
)


def _insert_subscription(stripe_id, customer_id, member_id, snapshot) -> SubscriptionRow | None:
    now = timezone.now()
    s = snapshot
    sql = (
        f"INSERT INTO {SUBSCRIPTIONS} AS s (stripe_id, customer_id, status, product_id, "  # noqa: S608
        "current_period_end, member_id, last_event_created, snapshot, date_added, date_modified) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s) "
        f"ON CONFLICT (stripe_id) DO NOTHING RETURNING {_RETURNED}"
    )
    params = [
        stripe_id,
        customer_id,
        s.status if s else "",
        s.product_id if s else "",
        s.current_period_end if s else None,
        member_id,
        s.created if s else None,
        json.dumps(s.data) if s else None,
        now,
        now,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    verdict = "applied" if s else "linked"
    return _subscription_row(row, previous_member_id=None, existed=False, verdict=verdict)


def subscriptions_insert_new(entries: list[tuple[str, str, Snapshot]]) -> set[str]:
    """Insert subscriptions no row holds yet, with no member: (stripe id, customer id,
    snapshot) each, in one statement; the ids inserted (a row that exists is left as
    it is, for subscription_write). For reconciliation's orphans, under the customers'
    locks: a brand-new row has no earlier snapshot to be ordered against."""
    if not entries:
        return set()
    now = timezone.now()
    values, params = [], []
    for stripe_id, customer_id, s in entries:
        values.append("(%s, %s, %s, %s, %s, NULL, %s, %s::jsonb, %s, %s)")
        params += [stripe_id, customer_id, s.status, s.product_id, s.current_period_end]
        params += [s.created, json.dumps(s.data), now, now]
    sql = (
        f"INSERT INTO {SUBSCRIPTIONS} AS s (stripe_id, customer_id, status, product_id, "  # noqa: S608
        "current_period_end, member_id, last_event_created, snapshot, date_added, date_modified) "
        f"VALUES {', '.join(values)} ON CONFLICT (stripe_id) DO NOTHING RETURNING s.stripe_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def lock_all(keys: list[str]) -> None:
    """Transaction-scoped advisory locks on every key, taken in sorted order."""
    if keys:
        sql = (
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
            "FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS sorted"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [sorted(set(keys))])


# The row is locked by the sub-select first, which also reads what the handler needs
# from before the write: the member it was linked to and whether the snapshot applies.
_UPDATE_SUBSCRIPTION = f"""
    UPDATE {SUBSCRIPTIONS} AS s SET
        customer_id = CASE WHEN s.customer_id = '' THEN %(customer)s ELSE s.customer_id END,
        member_id = COALESCE(s.member_id, %(member)s),
        status = CASE WHEN o.verdict = 'applied' THEN %(status)s ELSE s.status END,
        product_id = CASE WHEN o.verdict = 'applied' AND %(product)s <> ''
            THEN %(product)s ELSE s.product_id END,
        current_period_end = CASE WHEN o.verdict = 'applied'
            THEN COALESCE(%(period_end)s, s.current_period_end) ELSE s.current_period_end END,
        last_event_created = CASE WHEN o.verdict = 'applied'
            THEN %(created)s ELSE s.last_event_created END,
        snapshot = CASE WHEN o.verdict = 'applied' THEN %(data)s::jsonb ELSE s.snapshot END,
        date_modified = %(now)s
    FROM (
        SELECT id, member_id AS previous_member_id,
            CASE
                WHEN NOT %(has_snapshot)s THEN 'linked'
                WHEN last_event_created IS NOT NULL AND (
                    %(created)s < last_event_created
                    OR (%(created)s = last_event_created AND %(is_created_event)s)
                ) THEN 'older'
                WHEN status IN ({_FINAL}) THEN 'final'
                ELSE 'applied'
            END AS verdict
        FROM {SUBSCRIPTIONS} WHERE stripe_id = %(stripe_id)s FOR UPDATE
    ) AS o
    WHERE s.id = o.id
    RETURNING {_RETURNED}, o.previous_member_id, o.verdict
"""  # noqa: S608 - table names and constant lists; every value is a parameter


def _update_subscription(stripe_id, customer_id, member_id, snapshot) -> SubscriptionRow | None:
    s = snapshot
    params = {
        "stripe_id": stripe_id,
        "customer": customer_id,
        "member": member_id,
        "has_snapshot": s is not None,
        "status": s.status if s else "",
        "product": s.product_id if s else "",
        "period_end": s.current_period_end if s else None,
        "created": s.created if s else None,
        "is_created_event": s.is_created_event if s else False,
        "data": json.dumps(s.data) if s else None,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_SUBSCRIPTION, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return _subscription_row(row, previous_member_id=row[7], existed=True, verdict=row[8])


def subscription_write(
    stripe_id: str,
    *,
    customer_id: str,
    member_id: int | None,
    snapshot: Snapshot | None = None,
    expect_new: bool = False,
) -> SubscriptionRow:
    """Create or update one subscription row and return it, locked.

    The customer id fills a blank one; the member links a row that has none (a row
    linked to another member keeps it: see `previous_member_id`); the snapshot is
    stored only when it is not older than the last one applied (a tie is applied,
    except a `created` event for a subscription already known) and the subscription
    has not ended for good. `expect_new` tries the insert first (a checkout usually
    names a subscription no event has told us about yet).
    """
    args = (stripe_id, customer_id, member_id, snapshot)
    first, second = (
        (_insert_subscription, _update_subscription)
        if expect_new
        else (_update_subscription, _insert_subscription)
    )
    row = first(*args) or second(*args)
    if row is None:
        # Both missed only if another transaction inserted the row between the two; it
        # is committed by now (the insert waited for it), so the update finds it.
        row = _update_subscription(*args)
    if row is None:
        raise RuntimeError(f"subscription {stripe_id} could be neither inserted nor updated")
    return row


def subscriptions_link_orphans(customer_id: str, member_id: int) -> list[SubscriptionRow]:
    """Link every subscription of `customer_id` that has no member yet to `member_id`;
    the rows, oldest snapshot first."""
    sql = (
        f"UPDATE {SUBSCRIPTIONS} AS s SET member_id = %s, date_modified = %s "  # noqa: S608
        f"WHERE s.customer_id = %s AND s.member_id IS NULL "
        f"RETURNING {_RETURNED}, s.last_event_created, s.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [member_id, timezone.now(), customer_id])
        rows = cursor.fetchall()
    rows.sort(key=lambda r: (r[-2] is None, r[-2] or datetime.min, r[-1]))
    return [
        _subscription_row(
            row, previous_member_id=None, existed=True, verdict="linked", last_event_created=row[7]
        )
        for row in rows
    ]
