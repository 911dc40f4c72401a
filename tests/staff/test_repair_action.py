"""The admin's repair action: fills exactly what was missing, reports counts, is
idempotent, is recorded as a repair, and is refused to staff who may only view."""

import pytest

from members import scaffolding
from members.models import Member
from tests.factories import MemberFactory
from tests.staff.conftest import messages_of

URL = "/admin/members/member/"


def _repair(client, members, select_across=False):
    data = {"action": "repair_members", "index": 0, "select_across": int(select_across)}
    data["_selected_action"] = [m.pk for m in members]
    return client.post(URL, data, follow=True)


@pytest.mark.django_db
def test_it_fills_exactly_what_was_missing_and_reports_counts(as_superuser):
    no_notes = MemberFactory(notes=None, extras=None)
    no_status_key = MemberFactory()
    del no_status_key.status["membership_status"]
    no_status_key.save()
    complete = MemberFactory()
    complete_before = Member.objects.values().get(pk=complete.pk)
    no_notes_before = Member.objects.values().get(pk=no_notes.pk)

    response = _repair(as_superuser, [no_notes, no_status_key, complete])

    assert "Repaired 2 members (3 columns filled); 1 was already complete." in messages_of(response)
    no_notes_after = Member.objects.values().get(pk=no_notes.pk)
    assert no_notes_after["notes"] == scaffolding.default("notes")
    assert no_notes_after["extras"] == scaffolding.default("extras")
    for column in ("identity", "status", "connections", "forms", "access", "authorizations"):
        assert no_notes_after[column] == no_notes_before[column]
    status = Member.objects.get(pk=no_status_key.pk).status
    assert status == {**no_status_key.status, "membership_status": "pending"}
    complete_after = Member.objects.values().get(pk=complete.pk)
    assert complete_after == complete_before


@pytest.mark.django_db
def test_it_changes_nothing_on_a_second_run(as_superuser):
    member = MemberFactory(access=None, status=None)
    _repair(as_superuser, [member])
    after_first = Member.objects.values().get(pk=member.pk)
    events = member.events.count()

    response = _repair(as_superuser, [member])

    assert "Repaired 0 members (0 columns filled); 1 was already complete." in messages_of(response)
    assert Member.objects.values().get(pk=member.pk) == after_first
    assert member.events.count() == events


@pytest.mark.django_db
def test_it_repairs_every_filtered_member_when_all_are_selected(as_superuser):
    members = [MemberFactory(forms=None) for _ in range(3)]
    response = as_superuser.post(
        URL + "?scaffolding=partial",
        {"action": "repair_members", "index": 0, "select_across": 1, "_selected_action": [1]},
        follow=True,
    )
    assert "Repaired 3 members (3 columns filled); 0 were already complete." in messages_of(
        response
    )
    assert not Member.objects.filter(pk__in=[m.pk for m in members]).partial().exists()


@pytest.mark.django_db
def test_it_records_the_repair_with_its_source_and_user(as_superuser, superuser):
    member = MemberFactory(authorizations=None)
    _repair(as_superuser, [member])
    event = member.events.order_by("pgh_id").last()
    assert event.pgh_context.metadata["source"] == "repair"
    assert event.pgh_context.metadata["user"] == superuser.pk


@pytest.mark.django_db
def test_it_refuses_the_repair_to_view_only_staff(as_viewer):
    member = MemberFactory(notes=None)
    response = _repair(as_viewer, [member])
    assert response.status_code == 200
    assert not any(m.startswith("Repaired") for m in messages_of(response))
    assert Member.objects.get(pk=member.pk).notes is None
    assert member.events.count() == 1


def _assert_sent_to_login_and_nothing_repaired(client):
    member = MemberFactory(notes=None)
    response = client.post(
        URL, {"action": "repair_members", "index": 0, "_selected_action": [member.pk]}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Member.objects.get(pk=member.pk).notes is None


@pytest.mark.django_db
def test_it_refuses_the_repair_to_non_staff(as_outsider):
    _assert_sent_to_login_and_nothing_repaired(as_outsider)


@pytest.mark.django_db
def test_it_refuses_the_repair_to_anonymous_visitors(client):
    _assert_sent_to_login_and_nothing_repaired(client)


@pytest.mark.django_db
@pytest.mark.parametrize("selected", ["abc", "99999999999999999999999", "-1", "1.5"])
def test_it_answers_a_crafted_selection_with_a_message_and_changes_nothing(as_superuser, selected):
    member = MemberFactory(notes=None)
    data = {"action": "repair_members", "index": 0, "_selected_action": [member.pk, selected]}
    response = as_superuser.post(URL, data, follow=True)
    assert response.status_code == 200
    assert any("not a member number" in m for m in messages_of(response))
    assert Member.objects.get(pk=member.pk).notes is None
