"""The activate-after-onboarding action: its intermediate page, the transitions, the
onboarding record in `forms`, the note naming the staff user, and who may run it."""

import datetime

import pytest

from members import shapes
from members.models import Member
from tests.factories import MemberFactory, StaffFactory
from tests.staff.conftest import XSS, XSS_ESCAPED, messages_of

URL = "/admin/members/member/"


def _open(client, members):
    return client.post(
        URL,
        {"action": "activate_members", "index": 0, "_selected_action": [m.pk for m in members]},
    )


def _confirm(client, members, checker, **overrides):
    data = {
        "action": "activate_members",
        "_selected_action": [m.pk for m in members],
        "confirm": "yes",
        "id_checked_on": "2026-11-20",
        "id_checked_by": checker.pk,
        "waiver_signed_on": "2026-11-21",
        "orientation_completed_on": "2026-11-22",
        **overrides,
    }
    return client.post(URL, data, follow=True)


@pytest.mark.django_db
def test_it_shows_an_intermediate_page_and_changes_nothing_yet(as_superuser):
    member = MemberFactory(membership="pending")
    response = _open(as_superuser, [member])
    assert response.status_code == 200
    assert "admin/members/member/activate.html" in [t.name for t in response.templates]
    assert 'name="id_checked_on"' in response.content.decode()
    assert Member.objects.get(pk=member.pk).membership_status == "pending"


@pytest.mark.django_db
@pytest.mark.parametrize("before", ["pending", "lapsed", "suspended", "Pending"])
def test_it_activates_pending_lapsed_and_suspended_members(as_superuser, superuser, before):
    member = MemberFactory(membership=before)
    response = _confirm(as_superuser, [member], superuser)
    assert "Activated 1 member." in messages_of(response)
    assert Member.objects.get(pk=member.pk).membership_status == "active"


@pytest.mark.django_db
def test_it_records_the_onboarding_in_forms_and_keeps_other_keys(as_superuser, superuser):
    forms = {
        **shapes.default("forms"),
        "terms_of_use_accepted": True,
        "id_check_1": "IL",
        "id_check_2": "DL-1234",
    }
    member = MemberFactory(membership="pending", forms=forms)
    checker = StaffFactory(username="checker")
    _confirm(as_superuser, [member], checker)
    member.refresh_from_db()
    assert member.forms["id_check_date"] == "2026-11-20"
    assert member.forms["id_check_by"] == "checker"
    # The ID document's issuer and number stay as they were.
    assert (member.forms["id_check_1"], member.forms["id_check_2"]) == ("IL", "DL-1234")
    assert member.forms["waiver_signed_date"] == "2026-11-21"
    assert member.forms["orientation_completed_date"] == "2026-11-22"
    assert member.forms["terms_of_use_accepted"] is True
    assert member.status["waiver_signed"] is True
    assert member.status["member_since"] == "2026-01-15"
    assert member.last_updated_by == superuser


@pytest.mark.django_db
def test_it_adds_a_note_naming_the_staff_user(as_superuser, superuser):
    member = MemberFactory(membership="lapsed")
    _confirm(as_superuser, [member], superuser)
    note = Member.objects.get(pk=member.pk).notes[-1]
    assert note["from"] == superuser.username
    assert f"by {superuser.username}" in note["note"]
    assert "was lapsed" in note["note"]


@pytest.mark.django_db
def test_it_refuses_banned_members_and_changes_nothing(as_superuser, superuser):
    banned = MemberFactory(membership="banned")
    pending = MemberFactory(membership="pending")
    before = Member.objects.values().get(pk=banned.pk)
    response = _confirm(as_superuser, [banned, pending], superuser)
    assert "Activated 1 member." in messages_of(response)
    assert any("Not activated" in m and str(banned.pk) in m for m in messages_of(response))
    assert Member.objects.values().get(pk=banned.pk) == before
    assert Member.objects.get(pk=pending.pk).membership_status == "active"


@pytest.mark.django_db
def test_it_leaves_active_members_alone(as_superuser, superuser):
    member = MemberFactory(membership="active")
    before = Member.objects.values().get(pk=member.pk)
    response = _confirm(as_superuser, [member], superuser)
    assert any(m.startswith("Already active") for m in messages_of(response))
    assert Member.objects.values().get(pk=member.pk) == before


@pytest.mark.django_db
def test_it_completes_a_member_without_status_before_activating(as_superuser, superuser):
    member = MemberFactory(status=None, forms=None)
    _confirm(as_superuser, [member], superuser)
    member.refresh_from_db()
    assert member.membership_status == "active"
    assert member.status["membership_level"] == "New Member"
    assert member.forms["id_check_date"] == "2026-11-20"
    assert member.forms["id_check_1"] == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, value",
    [
        ("id_checked_on", "not a date"),
        ("id_checked_on", (datetime.date.today() + datetime.timedelta(days=3)).isoformat()),
        ("id_checked_by", "999999"),
        ("waiver_signed_on", ""),
    ],
)
def test_it_shows_the_page_again_for_bad_input_and_changes_nothing(
    as_superuser, superuser, field, value
):
    member = MemberFactory(membership="pending")
    response = _confirm(as_superuser, [member], superuser, **{field: value})
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert Member.objects.get(pk=member.pk).membership_status == "pending"


@pytest.mark.django_db
def test_it_records_the_activation_as_a_staff_change(as_superuser, superuser):
    member = MemberFactory(membership="pending")
    _confirm(as_superuser, [member], superuser)
    event = member.events.order_by("pgh_id").last()
    assert event.pgh_context.metadata["source"] == "staff"
    assert event.pgh_context.metadata["user"] == superuser.pk


@pytest.mark.django_db
def test_it_refuses_activation_to_view_only_staff(as_viewer, viewer):
    member = MemberFactory(membership="pending")
    open_response = _open(as_viewer, [member])
    assert "admin/members/member/activate.html" not in [t.name for t in open_response.templates]
    _confirm(as_viewer, [member], viewer)
    assert Member.objects.get(pk=member.pk).membership_status == "pending"


def _assert_sent_to_login_and_still_pending(client, checker):
    member = MemberFactory(membership="pending")
    response = _confirm(client, [member], checker)
    assert response.redirect_chain[0][0].startswith("/admin/login/")
    assert Member.objects.get(pk=member.pk).membership_status == "pending"


@pytest.mark.django_db
def test_it_refuses_activation_to_non_staff(as_outsider, outsider):
    _assert_sent_to_login_and_still_pending(as_outsider, outsider)


@pytest.mark.django_db
def test_it_refuses_activation_to_anonymous_visitors(client, superuser):
    _assert_sent_to_login_and_still_pending(client, superuser)


@pytest.mark.django_db
def test_it_refuses_a_member_whose_status_is_not_an_object(as_superuser, superuser):
    member = MemberFactory(status=["damaged"])
    _confirm(as_superuser, [member], superuser)
    assert Member.objects.get(pk=member.pk).status == ["damaged"]


@pytest.mark.django_db
def test_it_escapes_member_text_on_the_page_and_in_messages(as_superuser, superuser):
    member = MemberFactory(membership="banned")
    member.identity["first_name"] = XSS
    member.save()
    page = _open(as_superuser, [member]).content.decode()
    done = _confirm(as_superuser, [member], superuser).content.decode()
    for html in (page, done):
        assert XSS not in html
        assert XSS_ESCAPED in html
