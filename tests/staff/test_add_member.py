"""Staff add members (/admin/members/member/add/): a walk-in who pays at the desk, or
someone without email, through signup's rules and its critical transaction."""

import datetime

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.utils import timezone

from members.models import Member, MemberEvent, User
from signup.services import member_signup
from tests.factories import MemberFactory, UserFactory, logged_in
from tests.staff.conftest import messages_of

pytestmark = pytest.mark.django_db

ADD = "/admin/members/member/add/"


def details(**changes) -> dict:
    data = {
        "email": "grace@example.org",
        "first_name": "Grace",
        "last_name": "Hopper",
        "preferred_name": "Amazing Grace",
        "pronouns": "she/her",
        "birthday": "1990-12-09",
        "username": "grace",
        "phone": "+1 312 555 0123",
        "discord_username": "cobol",
        "accept_terms": "on",
    }
    data.update(changes)
    return data


def written() -> tuple:
    return (
        Member.objects.count(),
        User.objects.count(),
        EmailAddress.objects.count(),
        MemberEvent.objects.count(),
    )


def test_it_adds_a_member_with_an_email_and_a_login_without_a_password(as_superuser, superuser):
    response = as_superuser.post(ADD, details(), follow=True)

    member = Member.objects.get(username="grace")
    assert response.redirect_chain[-1][0] == f"/admin/members/member/{member.pk}/change/"
    assert f"Added member #{member.pk} Grace Hopper." in messages_of(response)[0]
    assert member.email == "grace@example.org"
    assert member.identity["nickname"] == "Amazing Grace"
    assert member.identity["emails"] == [{"type": "primary", "email_address": "grace@example.org"}]
    assert member.status["membership_status"] == "pending"
    assert member.status["member_since"] == timezone.localdate().isoformat()
    assert member.connections == {"phone": "+1 312 555 0123", "discord_username": "cobol"}
    assert member.forms["terms_of_use_accepted"] is True
    assert member.forms["is_21_or_older"] is True
    # Complete at once, with a note naming who added them.
    assert not Member.objects.partial().filter(pk=member.pk).exists()
    assert member.notes[-1]["note"] == "Added by staff"
    assert member.notes[-1]["from"] == superuser.get_username()
    # A login they claim through the invitation: no usable password, address unproven.
    user = member.user
    assert (user.username, user.email) == ("grace", "grace@example.org")
    assert not user.has_usable_password()
    assert list(EmailAddress.objects.filter(user=user).values_list("verified", "primary")) == [
        (False, True)
    ]
    # Audited as a staff write by that staff user.
    first = member.events.select_related("pgh_context").order_by("pgh_id").first()
    assert first.pgh_context.metadata["source"] == "staff"
    assert first.pgh_context.metadata["user"] == superuser.pk


def test_it_adds_a_member_without_an_email_and_without_a_login(as_superuser):
    response = as_superuser.post(ADD, details(email="", accept_terms=""), follow=True)

    member = Member.objects.get(username="grace")
    assert response.redirect_chain[-1][0] == f"/admin/members/member/{member.pk}/change/"
    assert (member.email, member.user) == ("", None)
    assert member.identity["emails"] == []
    assert member.forms["terms_of_use_accepted"] is False
    assert not Member.objects.partial().filter(pk=member.pk).exists()


def test_it_refuses_an_email_another_member_holds_and_writes_nothing(as_superuser):
    MemberFactory(email="grace@example.org", user=UserFactory(email="grace@example.org"))
    before = written()

    # Any spelling of it: the canonical form is compared, as at signup.
    response = as_superuser.post(ADD, details(email=" Grace@EXAMPLE.org"))

    assert response.status_code == 200
    assert "Another member or login already uses this email address." in (response.content.decode())
    assert written() == before


def test_it_applies_signups_rules_to_each_field(as_superuser):
    too_young = (timezone.localdate() - datetime.timedelta(days=365 * 17)).isoformat()
    taken = MemberFactory().username
    before = written()
    for field, value, message in (
        ("birthday", too_young, "You must be 18 or older to become a member."),
        ("phone", "ask Bob", "Use up to 20 digits"),
        ("username", "no spaces!", "Use 1 to 16 letters"),
        ("username", taken, "That username is already taken."),
        ("first_name", "", "This field is required."),
    ):
        page = as_superuser.post(ADD, details(**{field: value})).content.decode()
        assert message in page, field
    assert written() == before


def test_it_makes_the_same_record_as_signup(as_superuser, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        signed_up = member_signup(
            email="ada@example.org",
            username="ada",
            password="a long enough passphrase",
            first_name="Ada",
            last_name="Lovelace",
            birthday=datetime.date(1990, 12, 10),
            phone="+1 312 555 0100",
            is_21_or_older=True,
        )
    as_superuser.post(ADD, details())
    added = Member.objects.get(username="grace")
    signed_up.refresh_from_db()

    for column in ("identity", "status", "connections", "forms", "access", "extras"):
        assert getattr(added, column).keys() == getattr(signed_up, column).keys(), column


def test_it_is_only_for_staff_with_the_add_permission(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_member"))
    as_viewer = logged_in(viewer)
    assert as_viewer.get(ADD).status_code == 403
    assert as_viewer.post(ADD, details()).status_code == 403
    assert not Member.objects.filter(username="grace").exists()

    adder = UserFactory(is_staff=True)
    adder.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_member", "add_member"])
    )
    as_adder = logged_in(adder)
    assert as_adder.get(ADD).status_code == 200
    assert (
        'href="/admin/members/member/add/"'
        in as_adder.get("/admin/members/member/").content.decode()
    )
    as_adder.post(ADD, details())
    assert Member.objects.filter(username="grace").exists()
