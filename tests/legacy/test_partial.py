"""Legacy partial members are found and completed like any other (README, "Moving from Deep
Harbor"): after the import, those whose status Deep Harbor did not know (its NULL
scaffolding columns are completed at import)."""

import pytest
from django.core.management import call_command

from members.models import Member
from members.scaffolding import complete_member
from members.shapes import NULLABLE_COLUMNS
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

PARTIAL = {3, 4, 17}


def test_it_flags_legacy_partial_rows_partial(imported):
    assert set(Member.objects.partial().values_list("legacy_id", flat=True)) == PARTIAL


def test_it_lists_them_in_the_admin_partial_filter(imported, client):
    client.force_login(StaffFactory())

    response = client.get("/admin/members/member/", {"scaffolding": "partial"})

    assert response.status_code == 200
    shown = {m.pk for m in response.context["cl"].result_list}
    assert shown == {imported[i].pk for i in PARTIAL}


def test_complete_member_fills_only_what_is_missing(imported):
    before = {i: Member.objects.values().get(pk=imported[i].pk) for i in PARTIAL}

    for legacy_id in PARTIAL:
        complete_member(imported[legacy_id].pk)

    assert not Member.objects.partial().exists()
    for legacy_id, old in before.items():
        new = Member.objects.values().get(pk=old["id"])
        for column, value in old.items():
            if column == "date_modified":
                continue
            if value is None and column in NULLABLE_COLUMNS:
                assert new[column] is not None, (legacy_id, column)
            elif column == "status" and value.get("membership_status") is None:
                assert new["status"] == {**value, "membership_status": "pending"}
            else:
                assert new[column] == value, (legacy_id, column)


def test_repair_members_completes_them(imported):
    call_command("repair_members", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert not Member.objects.partial().exists()
    assert Member.objects.get(legacy_id=3).status["membership_status"] == "pending"
    assert Member.objects.get(legacy_id=4).status["stripe_customer_id"] == "cus_DAN"
