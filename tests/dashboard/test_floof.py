import pytest

from members.models import Member
from tests.dashboard.conftest import (
    assert_one_write_by_the_member,
    assert_post_sent_to_locked_writes_nothing,
    assert_sends_to_login,
    snapshot,
)
from tests.factories import MemberFactory

URL = "/dashboard/floof/"
GOOD = {
    "nametag_subtitle": "Maker of things",
    "theme_song_url": "https://music.example.org/theme.mp3",
    "theme_song_duration": "12",
}


@pytest.fixture
def member(db):
    return MemberFactory(
        identity={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "nickname": "Countess",
            "birthday": "1990-12-10",
            "nametag_subtitle": "",
            "pronouns": "",
        }
    )


@pytest.mark.django_db
def test_it_saves_the_floof_keys_and_keeps_every_other_identity_key(member_client, member):
    before = snapshot(member)
    response = member_client(member).post(URL, GOOD)
    assert response.status_code == 302
    row = Member.objects.get(pk=member.pk)
    assert row.identity == {
        **before["identity"],
        "nametag_subtitle": "Maker of things",
        "theme_song_url": "https://music.example.org/theme.mp3",
        "theme_song_duration": 12,
    }
    for column in ("status", "connections", "forms", "access", "extras"):
        assert getattr(row, column) == before[column]


@pytest.mark.django_db
def test_it_records_the_member_as_author_and_source(member_client, member):
    before = snapshot(member)
    member_client(member).post(URL, GOOD)
    assert_one_write_by_the_member(member, before)


@pytest.mark.django_db
def test_it_prefills_the_form(member_client):
    member = MemberFactory(
        identity={"nametag_subtitle": "Hi", "theme_song_duration": 7, "theme_song_url": ""}
    )
    form = member_client(member).get(URL).context["form"]
    assert form.initial["nametag_subtitle"] == "Hi"
    assert form.initial["theme_song_duration"] == 7


@pytest.mark.django_db
def test_it_writes_nothing_when_nothing_changed(member_client, member):
    client = member_client(member)
    client.post(URL, GOOD)
    before = snapshot(member)
    response = client.post(URL, GOOD, follow=True)
    assert "Nothing to save" in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_explains_that_only_https_links_are_accepted(member_client, member):
    response = member_client(member).post(URL, {**GOOD, "theme_song_url": "http://x.org/a"})
    assert response.context["form"].errors["theme_song_url"] == ["Enter a valid https:// link."]


@pytest.mark.django_db
def test_it_clears_the_theme_song(member_client, member):
    client = member_client(member)
    client.post(URL, GOOD)
    client.post(URL, {**GOOD, "theme_song_url": "", "theme_song_duration": ""})
    identity = Member.objects.get(pk=member.pk).identity
    assert identity["theme_song_url"] == ""
    assert identity["theme_song_duration"] is None


BAD = [
    ("theme_song_url", "http://music.example.org/theme.mp3"),
    ("theme_song_url", "javascript:alert(1)"),
    ("theme_song_url", "ftp://music.example.org/theme.mp3"),
    ("theme_song_url", "not a url"),
    ("theme_song_url", "https://" + "a" * 500 + ".org"),
    ("theme_song_duration", "0"),
    ("theme_song_duration", "31"),
    ("theme_song_duration", "-5"),
    ("theme_song_duration", "2.5"),
    ("theme_song_duration", "ten"),
    ("theme_song_duration", ""),
    ("nametag_subtitle", "s" * 101),
    ("nametag_subtitle", "nul\x00"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field,value", BAD)
def test_it_refuses_bad_input_next_to_the_field_and_changes_nothing(
    member_client, member, field, value
):
    before = snapshot(member)
    response = member_client(member).post(URL, {**GOOD, field: value})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert 'class="errorlist' in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page_and_writes_nothing(member_client):
    member = MemberFactory(membership="banned")
    assert_post_sent_to_locked_writes_nothing(member_client(member), member, URL, GOOD)


@pytest.mark.django_db
def test_it_changes_only_the_logged_in_members_record(member_client, member):
    other = MemberFactory()
    other_before = snapshot(other)
    member_client(member).post(URL, GOOD)
    assert snapshot(other) == other_before


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, URL)


@pytest.mark.django_db
def test_it_leaves_pronouns_to_the_profile_page(member_client, member):
    client = member_client(member)
    assert 'name="pronouns"' not in client.get(URL).content.decode()
    assert 'name="pronouns"' in client.get("/dashboard/profile/").content.decode()
    # A pronouns value posted here anyway is not this page's to save.
    client.post(URL, {**GOOD, "pronouns": "they/them"})
    assert Member.objects.get(pk=member.pk).identity["pronouns"] == ""
