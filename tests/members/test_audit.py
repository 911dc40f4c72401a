import pytest
from django.db import connection

from members.audit import audit
from members.models import Member
from tests.factories import MemberFactory, StaffFactory


def _sources(member):
    return [
        (event.pgh_label, (event.pgh_context.metadata if event.pgh_context else {}).get("source"))
        for event in member.events.order_by("pgh_id")
    ]


@pytest.mark.django_db
def test_it_records_a_save_with_its_source_and_user():
    staff = StaffFactory()
    with audit("signup"):
        member = MemberFactory()
    member.identity["nickname"] = "Countess"
    with audit("staff", staff):
        member.save()
    events = list(member.events.order_by("pgh_id"))
    assert _sources(member) == [("insert", "signup"), ("update", "staff")]
    assert events[-1].pgh_context.metadata["user"] == staff.pk
    assert events[-1].identity["nickname"] == "Countess"


@pytest.mark.django_db
def test_it_records_a_queryset_update():
    member = MemberFactory()
    with audit("webhook"):
        Member.objects.filter(pk=member.pk).update(extras={"storage_id": 4, "storage_area": "B"})
    assert _sources(member)[-1] == ("update", "webhook")
    assert member.events.order_by("pgh_id").last().extras["storage_id"] == 4


@pytest.mark.django_db
def test_it_records_a_raw_sql_update():
    member = MemberFactory()
    with audit("command"), connection.cursor() as cursor:
        cursor.execute(
            """UPDATE members_member SET connections = '{"phone": "1"}' WHERE id = %s""",
            [member.pk],
        )
    assert _sources(member)[-1] == ("update", "command")
    assert member.events.order_by("pgh_id").last().connections == {"phone": "1"}


@pytest.mark.django_db
def test_it_moves_date_modified_on_update_and_raw_sql():
    member = MemberFactory()
    first = Member.objects.get(pk=member.pk).date_modified
    Member.objects.filter(pk=member.pk).update(extras={})
    second = Member.objects.get(pk=member.pk).date_modified
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_member SET notes = '[]' WHERE id = %s", [member.pk])
    third = Member.objects.get(pk=member.pk).date_modified
    assert first < second < third


def test_it_refuses_an_unknown_source():
    with pytest.raises(ValueError):
        audit("somewhere")
