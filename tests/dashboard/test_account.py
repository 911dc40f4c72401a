"""/dashboard/account/: password change, the login email change through a link mailed
to the new address, and logging out other sessions."""

import re
import time

import pytest
from allauth.account.models import EmailAddress
from django.contrib.sessions.models import Session
from django.core import mail, signing
from django.test import Client

from members.email_change import email_change_token
from members.models import EmailChangeMail, Member, User
from members.validators import placeholder_username
from tests.dashboard.conftest import (
    assert_sends_a_banned_member_to_locked,
    assert_sends_to_login,
    last_event,
    snapshot,
)
from tests.factories import DEFAULT_PASSWORD, MemberFactory, logged_in
from tests.jobs import deliver_in_process, jobs

URL = "/dashboard/account/"
TASK = "members.tasks.send_email_change_mail"
NEW_PASSWORD = "harbor-Lantern-5521"  # noqa: S105 - test data


def ask_for(client, email, password=DEFAULT_PASSWORD):
    return client.post(URL, {"action": "email", "email": email, "current_password": password})


def mailed_link(address: str) -> str:
    """Run the queued email-change job as a worker would; the link mailed to `address`."""
    deliver_in_process(TASK)
    message = next(m for m in reversed(mail.outbox) if m.to == [address])
    return re.search(r"http://testserver(/dashboard/account/email/[^/\s]+/)", message.body)[1]


def login_places(member) -> dict:
    """The four places a login email lives, read back from the database."""
    member = Member.objects.select_related("user").get(pk=member.pk)
    addresses = list(EmailAddress.objects.filter(user=member.user).values_list("email", "primary"))
    primary = [e["email_address"] for e in member.identity["emails"] if e["type"] == "primary"]
    return {
        "user": member.user.email,
        "allauth": addresses,
        "member": member.email,
        "identity": primary,
    }


@pytest.fixture
def member(db):
    return MemberFactory(email="ada@example.org", user__email="ada@example.org")


# --- the page -----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_shows_the_login_email_and_the_three_forms(member_client, member):
    content = member_client(member).get(URL).content.decode()
    assert "ada@example.org" in content
    for action in ("email", "password", "sessions"):
        assert f'name="action" value="{action}"' in content
    assert 'name="old_password"' in content
    assert "Log out other sessions" in content


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, URL)


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page(member_client):
    assert_sends_a_banned_member_to_locked(member_client, URL)


@pytest.mark.django_db
def test_it_keeps_allauths_email_page_closed(member_client, member):
    response = member_client(member).get("/accounts/email/")
    assert response.status_code == 302
    assert response["Location"] == URL


# --- password -----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_changes_the_password_and_keeps_this_session_only(member):
    here, elsewhere = logged_in(member.user), logged_in(member.user)
    response = here.post(
        URL,
        {
            "action": "password",
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    user = User.objects.get(pk=member.user.pk)
    assert user.check_password(NEW_PASSWORD)
    assert here.get(URL).status_code == 200
    assert elsewhere.get(URL).status_code == 302  # its session holds the old hash


@pytest.mark.django_db
def test_it_refuses_a_wrong_current_password_next_to_the_field(member_client, member):
    response = member_client(member).post(
        URL,
        {
            "action": "password",
            "old_password": "not-my-password",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200
    assert list(response.context["password_form"].errors) == ["old_password"]
    assert User.objects.get(pk=member.user.pk).check_password(DEFAULT_PASSWORD)


# --- login email ----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_changes_nothing_until_the_link_is_confirmed(member_client, member):
    before = snapshot(member)
    response = ask_for(member_client(member), "Ada.New@Example.ORG")
    assert response.status_code == 302
    assert snapshot(member) == before
    assert login_places(member)["user"] == "ada@example.org"
    # One job, carrying the row's id only; the row holds the canonical address.
    [job] = jobs(TASK)
    [row] = EmailChangeMail.objects.filter(member=member)
    assert job["args"] == {"email_change_mail_id": row.pk}
    assert row.email == "ada.new@example.org"
    assert mail.outbox == []


@pytest.mark.django_db
def test_it_mails_the_link_to_the_new_address_only_and_forgets_the_address(member_client, member):
    ask_for(member_client(member), "ada.new@example.org")
    link = mailed_link("ada.new@example.org")
    assert [m.to for m in mail.outbox] == [["ada.new@example.org"]]
    assert "Hackerspace" in mail.outbox[0].subject
    assert link.startswith("/dashboard/account/email/")
    assert not EmailChangeMail.objects.exists()


@pytest.mark.django_db
def test_it_shows_a_confirm_button_on_get_and_changes_nothing(member_client, member):
    client = member_client(member)
    ask_for(client, "ada.new@example.org")
    link = mailed_link("ada.new@example.org")
    before = snapshot(member)
    response = client.get(link)
    content = response.content.decode()
    assert response.status_code == 200
    assert "ada.new@example.org" in content
    assert "Change my login email</button>" in content
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_changes_all_four_places_together_on_post(member_client, member):
    client = member_client(member)
    ask_for(client, "Ada.New@Example.org")
    link = mailed_link("ada.new@example.org")
    response = client.post(link)
    assert response.status_code == 302
    assert response["Location"] == URL
    assert login_places(member) == {
        "user": "ada.new@example.org",
        "allauth": [("ada.new@example.org", True)],
        "member": "ada.new@example.org",
        "identity": ["ada.new@example.org"],
    }
    assert EmailAddress.objects.get(user=member.user).verified is True
    metadata = last_event(member).pgh_context.metadata
    assert (metadata["source"], metadata["user"]) == ("member", member.user.pk)
    # The history keeps the route with its token elided, never a working link.
    assert metadata["url"] == "/dashboard/account/email/…/"
    # The new address logs in; the old one no longer does.
    client.post("/accounts/logout/")
    assert (
        Client()
        .post("/accounts/login/", {"login": "ada@example.org", "password": DEFAULT_PASSWORD})
        .status_code
        == 200
    )
    login = Client().post(
        "/accounts/login/", {"login": "ada.new@example.org", "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 302


@pytest.mark.django_db
def test_a_used_link_changes_nothing_more(member_client, member):
    client = member_client(member)
    ask_for(client, "ada.new@example.org")
    link = mailed_link("ada.new@example.org")
    client.post(link)
    before = snapshot(member)
    again = client.post(link)
    assert again.status_code == 200
    assert "already changed" in again.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
def test_a_link_works_once_even_after_its_change_was_reverted(member_client, member):
    client = member_client(member)
    ask_for(client, "ada.new@example.org")
    first = mailed_link("ada.new@example.org")
    assert client.post(first).status_code == 302
    # A second change takes the login back to the first address ...
    ask_for(client, "ada@example.org")
    back = mailed_link("ada@example.org")
    assert client.post(back).status_code == 302
    assert login_places(member)["member"] == "ada@example.org"
    before = snapshot(member)
    # ... and the first link, whose "from" address is current again, does nothing.
    for method in (client.get, client.post):
        response = method(first)
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert snapshot(member) == before
    assert login_places(member)["member"] == "ada@example.org"


@pytest.mark.django_db
def test_it_refuses_a_link_without_an_id(member_client, member):
    old_style = {"m": member.pk, "from": member.email, "to": "ada.new@example.org"}
    token = signing.dumps(old_style, salt="members.email_change")
    before = snapshot(member)
    response = member_client(member).post(f"/dashboard/account/email/{token}/")
    assert response.status_code == 400
    assert snapshot(member) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    [
        "grace@example.org",
        "GRACE@EXAMPLE.ORG",
        " Grace@example.org ",
        "grace@ＥＸＡＭＰＬＥ.org",  # full-width letters: NFKC makes them the same address
    ],
)
def test_it_refuses_an_address_another_member_holds_or_a_look_alike(member_client, member, typed):
    MemberFactory(email="grace@example.org", user__email="grace@example.org")
    before = snapshot(member)
    response = ask_for(member_client(member), typed)
    assert response.status_code == 200
    errors = response.context["email_form"].errors
    assert errors["email"] == ["Another member or login already uses this email address."]
    assert "Another member or login already uses this email address." in response.content.decode()
    assert jobs(TASK) == []
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_refuses_an_address_a_login_without_a_member_holds(member_client, member):
    from tests.factories import UserFactory

    UserFactory(email="staffer@example.org")
    response = ask_for(member_client(member), "staffer@example.org")
    assert "email" in response.context["email_form"].errors


@pytest.mark.django_db
def test_it_refuses_at_confirmation_an_address_taken_since_the_mail(member_client, member):
    client = member_client(member)
    ask_for(client, "ada.new@example.org")
    link = mailed_link("ada.new@example.org")
    MemberFactory(email="ada.new@example.org", user__email="ada.new@example.org")
    before = snapshot(member)
    response = client.post(link)
    assert response.status_code == 200
    assert "Another member or login already uses this email address." in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_refuses_a_wrong_password_and_sends_nothing(member_client, member):
    response = ask_for(member_client(member), "ada.new@example.org", password="nope")
    assert list(response.context["email_form"].errors) == ["current_password"]
    assert jobs(TASK) == []


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["not an address", "", "bo@exa mple.org", "a@b@c.org"])
def test_it_refuses_a_malformed_address_next_to_the_field(member_client, member, typed):
    response = ask_for(member_client(member), typed)
    assert response.status_code == 200
    assert list(response.context["email_form"].errors) == ["email"]
    assert jobs(TASK) == []


@pytest.mark.django_db
def test_it_refuses_an_expired_link(member_client, member, settings, monkeypatch):
    settings.EMAIL_CHANGE_MAX_AGE = 3600
    old = int(time.time()) - 3601
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(old))
    token = email_change_token(
        member_id=member.pk, old_email=member.email, new_email="ada.new@example.org"
    )
    monkeypatch.undo()
    before = snapshot(member)
    client = member_client(member)
    for method in (client.get, client.post):
        response = method(f"/dashboard/account/email/{token}/")
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["garbage", "a" * 3000, "e30:1abc:xyz", "%00", "..."])
def test_it_answers_a_bad_link_with_a_friendly_page(member_client, member, token):
    response = member_client(member).get(f"/dashboard/account/email/{token}/")
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert "This link does not work" in response.content.decode()


@pytest.mark.django_db
def test_another_member_cannot_use_the_link(member_client, member):
    other = MemberFactory()
    token = email_change_token(
        member_id=member.pk, old_email=member.email, new_email="ada.new@example.org"
    )
    before, other_before = snapshot(member), snapshot(other)
    client = member_client(other)
    for method in (client.get, client.post):
        response = method(f"/dashboard/account/email/{token}/")
        assert response.status_code == 400
        assert "ada.new@example.org" not in response.content.decode()
    assert (snapshot(member), snapshot(other)) == (before, other_before)


@pytest.mark.django_db
def test_an_anonymous_visitor_is_sent_to_log_in_without_the_token_in_the_url(client, member):
    token = email_change_token(
        member_id=member.pk, old_email=member.email, new_email="ada.new@example.org"
    )
    before = snapshot(member)
    for method in (client.get, client.post):
        response = method(f"/dashboard/account/email/{token}/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/dashboard/account/"
        assert token not in response["Location"]
    assert snapshot(member) == before


@pytest.mark.django_db
def test_a_link_for_an_earlier_address_no_longer_applies(member_client, member):
    token = email_change_token(
        member_id=member.pk, old_email="ada.before@example.org", new_email="ada.new@example.org"
    )
    before = snapshot(member)
    response = member_client(member).post(f"/dashboard/account/email/{token}/")
    assert response.status_code == 400
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_limits_the_confirmation_mails_a_member_can_ask_for(member_client, member):
    client = member_client(member)
    answers = [ask_for(client, f"ada.{n}@example.org").status_code for n in range(6)]
    assert answers == [302] * 5 + [429]
    # A newer request supersedes the one still waiting for its job.
    assert EmailChangeMail.objects.filter(member=member).count() == 1


# --- other sessions -------------------------------------------------------------------


@pytest.mark.django_db
def test_it_logs_out_the_other_sessions_only(member):
    here, phone, laptop = (logged_in(member.user) for _ in range(3))
    stranger = logged_in(MemberFactory().user)
    response = here.post(URL, {"action": "sessions"})
    assert response.status_code == 302
    assert "Logged out 2 other sessions." in here.get(URL).content.decode()
    assert phone.get(URL).status_code == 302
    assert laptop.get(URL).status_code == 302
    assert stranger.get(URL).status_code == 200
    assert Session.objects.count() == 2


@pytest.mark.django_db
def test_it_does_nothing_on_get_for_sessions(member):
    here, other = logged_in(member.user), logged_in(member.user)
    here.get(URL + "?action=sessions")
    assert other.get(URL).status_code == 200


# --- members without a username (imported rows) -----------------------------------------


def imported_member(email: str):
    """A member as the import makes one: no username, its User under the placeholder
    login name (docs/shapes.md)."""
    member = MemberFactory(email=email, user__email=email, username="")
    User.objects.filter(pk=member.user_id).update(username=placeholder_username(member.pk))
    member.user.refresh_from_db()
    return member


def change_login_email(client, new: str):
    ask_for(client, new)
    return client.post(mailed_link(new))


@pytest.mark.django_db
def test_it_keeps_the_placeholder_login_name_of_a_member_without_a_username(member_client):
    member = imported_member("lin@example.org")
    response = change_login_email(member_client(member), "lin.new@example.org")
    assert response.status_code == 302
    user = User.objects.get(pk=member.user_id)
    assert (user.username, user.email) == (f"member-{member.pk}", "lin.new@example.org")
    assert Member.objects.get(pk=member.pk).username == ""


@pytest.mark.django_db
def test_two_members_without_a_username_both_change_their_login_email():
    first, second = imported_member("lin@example.org"), imported_member("mo@example.org")
    for member, new in ((first, "lin.new@example.org"), (second, "mo.new@example.org")):
        response = change_login_email(logged_in(member.user), new)
        assert response.status_code == 302
        assert login_places(member)["user"] == new
    usernames = User.objects.filter(pk__in=[first.user_id, second.user_id]).values_list(
        "username", flat=True
    )
    assert sorted(usernames) == sorted([f"member-{first.pk}", f"member-{second.pk}"])
