"""Rules every dashboard page keeps: renders for any record, login required, own record
only, CSRF on every POST, member text escaped."""

import logging

import pytest

from dashboard.views import UNKNOWN
from members.models import Member
from tests.dashboard.conftest import (
    ALL_URLS,
    ESCAPED,
    LOCKED_URL,
    SCRIPT,
    assert_sends_to_login,
    member_kinds,
    snapshot,
)
from tests.factories import MemberFactory, UserFactory, logged_in


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(member_kinds()))
def test_it_answers_every_url_for_every_kind_of_member(kind, member_client, caplog):
    member = MemberFactory(**member_kinds()[kind])
    client = member_client(member)
    banned = kind == "banned"
    with caplog.at_level(logging.ERROR):
        for url in ALL_URLS:
            response = client.get(url)
            if banned:
                assert response.status_code == 302, url
                assert response["Location"] == LOCKED_URL
            else:
                assert response.status_code == 200, url
        locked = client.get(LOCKED_URL)
    assert locked.status_code == (200 if banned else 302)
    if not banned:
        assert locked["Location"] == "/dashboard/"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["null_status", "status_without_membership_status"])
def test_it_shows_unknown_values_as_unknown_please_contact_staff(kind, member_client):
    member = MemberFactory(**member_kinds()[kind])
    content = member_client(member).get("/dashboard/").content.decode()
    assert f"Membership status</dt><dd>{UNKNOWN}" in content


@pytest.mark.django_db
def test_it_renders_every_page_for_a_user_without_a_member_record(client):
    client.force_login(UserFactory())
    for url in ALL_URLS:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "There is no member record for this login" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ALL_URLS + [LOCKED_URL])
def test_it_sends_anonymous_visitors_to_login(client, url):
    assert_sends_to_login(client, url)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url,data",
    [
        ("/dashboard/profile/", {"first_name": "Mallory", "last_name": "X"}),
        ("/dashboard/floof/", {"nametag_subtitle": "Mallory"}),
        ("/dashboard/keys/", {"action": "add", "tag": "4242"}),
    ],
)
def test_it_refuses_anonymous_posts_and_writes_nothing(client, url, data):
    member = MemberFactory()
    before = snapshot(member)
    response = client.post(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert snapshot(member) == before


POSTS = [
    ("/dashboard/profile/", {"first_name": "Eve", "last_name": "Changed"}),
    ("/dashboard/floof/", {"nametag_subtitle": "Changed"}),
    ("/dashboard/keys/", {"action": "add", "tag": "4242"}),
    ("/dashboard/keys/", {"action": "remove", "tag": "0000001111"}),
]


def _member_with_a_csrf_checking_client():
    """A member holding the tag POSTS removes, and a client of theirs that checks CSRF."""
    member = MemberFactory(access={"rfid_tags": ["0000001111"]})
    return member, logged_in(member.user, enforce_csrf_checks=True)


@pytest.mark.django_db
@pytest.mark.parametrize("url,data", POSTS)
def test_it_enforces_csrf_on_every_post(url, data):
    member, client = _member_with_a_csrf_checking_client()
    before = snapshot(member)
    response = client.post(url, data)
    assert response.status_code == 403
    assert snapshot(member) == before


@pytest.mark.django_db
@pytest.mark.parametrize("url,data", POSTS)
def test_it_accepts_a_post_carrying_the_csrf_token(url, data):
    member, client = _member_with_a_csrf_checking_client()
    client.get(url)
    before = snapshot(member)
    response = client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
    assert snapshot(member)["events"] == before["events"] + 1


@pytest.mark.django_db
def test_it_shows_each_member_only_their_own_record(member_client):
    owner = MemberFactory(
        identity={"first_name": "Owner", "last_name": "Person", "nickname": "ownernick"},
        connections={"discord_username": "ownerdiscord"},
        access={"rfid_tags": ["0000777001"]},
        extras={"storage_id": "OWN-SHELF", "storage_area": "Owner bay"},
        authorizations={"authorizations": ["owner-lathe"], "computer_authorizations": []},
    )
    other = MemberFactory(identity={"first_name": "Other", "last_name": "Person"})
    owner_marks = ("Owner", "ownernick", "ownerdiscord", "0000777001", "OWN-SHELF", "owner-lathe")

    client = member_client(other)
    for url in ALL_URLS:
        content = client.get(url).content.decode()
        for mark in owner_marks:
            assert mark not in content, (url, mark)

    client = member_client(owner)
    seen = "".join(client.get(url).content.decode() for url in ALL_URLS)
    for mark in owner_marks:
        assert mark in seen, mark


@pytest.mark.django_db
def test_it_escapes_member_text_stored_in_every_field_on_every_page(member_client):
    member = MemberFactory(
        email="script@example.org",
        identity={
            "first_name": SCRIPT,
            "last_name": SCRIPT,
            "nickname": SCRIPT,
            "pronouns": SCRIPT,
            "nametag_subtitle": SCRIPT,
            "theme_song_url": SCRIPT,
            "theme_song_duration": 5,
        },
        status={"membership_status": "active", "membership_level": SCRIPT},
        connections={"discord_username": SCRIPT},
        forms={"id_check_1": SCRIPT, "id_check_2": SCRIPT},
        authorizations={"authorizations": [SCRIPT], "computer_authorizations": [SCRIPT]},
        extras={"storage_id": SCRIPT, "storage_area": SCRIPT},
    )
    client = member_client(member)
    for url in ALL_URLS:
        content = client.get(url).content.decode()
        assert SCRIPT not in content, url
        # The keys page shows only tag numbers; the account page only the login email;
        # the visits page only door entries (tests/dashboard/test_visits.py).
        if url not in ("/dashboard/keys/", "/dashboard/account/", "/dashboard/visits/"):
            assert ESCAPED in content, url


@pytest.mark.django_db
def test_it_escapes_script_saved_through_the_forms(member_client):
    member = MemberFactory()
    client = member_client(member)
    client.post(
        "/dashboard/profile/",
        {
            "first_name": SCRIPT,
            "last_name": SCRIPT,
            "nickname": SCRIPT,
            "pronouns": SCRIPT,
            "discord_username": SCRIPT,
        },
    )
    client.post("/dashboard/floof/", {"nametag_subtitle": SCRIPT, "pronouns": SCRIPT})
    row = Member.objects.get(pk=member.pk)
    assert row.identity["first_name"] == SCRIPT
    assert row.identity["nametag_subtitle"] == SCRIPT
    assert row.connections["discord_username"] == SCRIPT
    for url in ALL_URLS:
        content = client.get(url).content.decode()
        assert SCRIPT not in content, url
    assert ESCAPED in client.get("/dashboard/").content.decode()
