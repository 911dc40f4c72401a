"""Member rows for the reports' tests: every status the reports must count once, odd
and missing ones included, a record merged away and an erased member, and history
written on known dates."""

import datetime

from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from members.models import ErasureRequest, Member
from tests.factories import MemberFactory, UserFactory

STATUSES = ("pending", "active", "lapsed", "suspended", "banned")


def reports_staff(**kwargs):
    """Staff holding members.view_reports and nothing else."""
    user = UserFactory(is_staff=True, **kwargs)
    user.user_permissions.add(Permission.objects.get(codename="view_reports"))
    return user


def with_status(value) -> Member:
    """A member whose status column is `value` as it is (None, {}, a list …)."""
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(status=value)
    return member


def odd_members() -> dict[str, Member]:
    """One member of each kind a count could drop or count twice."""
    survivor = MemberFactory(membership="active")
    merged = MemberFactory(membership="active")
    Member.objects.filter(pk=merged.pk).update(merged_into=survivor)
    erased = MemberFactory(membership="active")
    ErasureRequest.objects.create(member=erased, erased_at=timezone.now())
    return {
        "active": survivor,
        "active_spaced": with_status({"membership_status": "  Active "}),
        "pending": MemberFactory(membership="pending"),
        "lapsed": MemberFactory(membership="lapsed"),
        "banned": MemberFactory(membership="banned"),
        "odd_word": with_status({"membership_status": "Gold"}),
        "odd_number": with_status({"membership_status": 3}),
        "null_status": with_status(None),
        "no_key": with_status({}),
        "json_null": with_status({"membership_status": None}),
        "array": with_status(["active"]),
        "merged": merged,
        "erased": erased,
    }


def events_dated(member: Member, *dates: datetime.datetime) -> None:
    """Give the member's history events, oldest first, these times."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pgh_id FROM members_memberevent WHERE pgh_obj_id = %s ORDER BY pgh_id",
            [member.pk],
        )
        ids = [row[0] for row in cursor.fetchall()]
        assert len(ids) == len(dates), (ids, dates)
        for pgh_id, at in zip(ids, dates, strict=True):
            cursor.execute(
                "UPDATE members_memberevent SET pgh_created_at = %s WHERE pgh_id = %s",
                [at, pgh_id],
            )


def set_status(member: Member, value) -> None:
    """One write of the status column (one history event)."""
    Member.objects.filter(pk=member.pk).update(
        status={**(member.status or {}), "membership_status": value}
    )
    member.refresh_from_db()


def sql_one(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def sql_status_counts() -> dict[str, int]:
    """The status report's counts, written once more in plain SQL."""
    erased = "id IN (SELECT member_id FROM members_erasurerequest WHERE erased_at IS NOT NULL)"
    counts = {
        "erased": sql_one(f"SELECT count(*) FROM members_member WHERE {erased}"),
        "merged": sql_one(
            f"SELECT count(*) FROM members_member WHERE merged_into_id IS NOT NULL AND NOT {erased}"
        ),
    }
    live = f"merged_into_id IS NULL AND NOT {erased}"
    for status in STATUSES:
        counts[status] = sql_one(
            f"SELECT count(*) FROM members_member WHERE {live}"
            " AND jsonb_typeof(status) = 'object'"
            " AND jsonb_typeof(status -> 'membership_status') = 'string'"
            " AND lower(trim(status ->> 'membership_status')) = %s",
            [status],
        )
    counts["unknown"] = sql_one(f"SELECT count(*) FROM members_member WHERE {live}") - sum(
        counts[s] for s in STATUSES
    )
    return counts
