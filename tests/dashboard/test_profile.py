import pytest

from members.models import Member
from tests.dashboard.conftest import (
    assert_one_write_by_the_member,
    assert_post_sent_to_locked_writes_nothing,
    assert_sends_to_login,
    last_event,
    snapshot,
)
from tests.factories import MemberFactory

URL = "/dashboard/profile/"
GOOD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "nickname": "",
    "pronouns": "",
    "phone": "+1 555 0100",
    "discord_username": "ada",
}


@pytest.fixture
def member(db):
    return MemberFactory(
        identity={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "nickname": "",
            "pronouns": "",
            "birthday": "1990-12-10",
            "theme_song_url": "https://example.org/song.mp3",
            "legacy_key": "kept",
        },
        connections={"phone": "+1 555 0100", "discord_username": "ada"},
    )


@pytest.mark.django_db
def test_it_prefills_the_form_and_shows_email_and_username_read_only(member_client, member):
    member.identity["nickname"] = "Countess"
    member.save()
    response = member_client(member).get(URL)
    content = response.content.decode()
    assert response.context["form"].initial["nickname"] == "Countess"
    assert response.context["form"].initial["discord_username"] == "ada"
    assert f"Email</dt><dd>{member.email}</dd>" in content
    assert f"Username</dt><dd>{member.username}</dd>" in content
    assert 'name="email"' not in content
    assert 'name="username"' not in content


@pytest.mark.django_db
def test_it_saves_the_changed_keys_and_keeps_every_other_key(member_client, member):
    before = snapshot(member)
    data = {**GOOD, "nickname": "Countess", "pronouns": "she/her", "discord_username": "ada.l"}
    response = member_client(member).post(URL, data)
    assert response.status_code == 302
    assert response["Location"] == URL
    row = Member.objects.get(pk=member.pk)
    assert row.identity == {**before["identity"], "nickname": "Countess", "pronouns": "she/her"}
    assert row.connections == {**before["connections"], "discord_username": "ada.l"}


@pytest.mark.django_db
def test_it_writes_both_columns_in_one_update_recorded_as_the_member(member_client, member):
    before = snapshot(member)
    member_client(member).post(URL, {**GOOD, "first_name": "Augusta", "discord_username": "al"})
    assert_one_write_by_the_member(member, before)
    event = last_event(member)
    assert event.identity["first_name"] == "Augusta"
    assert event.connections["discord_username"] == "al"


@pytest.mark.django_db
def test_it_ignores_posted_email_and_username(member_client, member):
    before = snapshot(member)
    member_client(member).post(
        URL, {**GOOD, "nickname": "N", "email": "evil@example.org", "username": "evil"}
    )
    after = snapshot(member)
    assert (after["email"], after["username"]) == (before["email"], before["username"])
    assert after["identity"]["nickname"] == "N"


@pytest.mark.django_db
def test_it_writes_nothing_when_nothing_changed(member_client, member):
    before = snapshot(member)
    response = member_client(member).post(URL, GOOD, follow=True)
    assert "Nothing to save" in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_treats_a_missing_key_and_a_blank_field_as_the_same(member_client):
    member = MemberFactory(identity={"first_name": "Ada", "last_name": "L"}, connections={})
    before = snapshot(member)
    member_client(member).post(URL, {"first_name": "Ada", "last_name": "L"})
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_saves_into_a_null_column(member_client):
    member = MemberFactory(connections=None)
    member_client(member).post(URL, {**GOOD, "phone": "", "discord_username": "ada99"})
    assert Member.objects.get(pk=member.pk).connections == {"discord_username": "ada99"}


@pytest.mark.django_db
def test_it_does_not_merge_into_a_column_that_is_not_an_object(member_client):
    member = MemberFactory(connections=["damaged"])
    response = member_client(member).post(URL, {**GOOD, "discord_username": "new"}, follow=True)
    assert response.status_code == 200
    assert "contact staff" in response.content.decode()
    refreshed = Member.objects.get(pk=member.pk)
    assert refreshed.connections == ["damaged"]
    assert refreshed.identity == member.identity


@pytest.mark.django_db
def test_it_trims_surrounding_spaces(member_client, member):
    member_client(member).post(URL, {**GOOD, "nickname": "  Countess  "})
    assert Member.objects.get(pk=member.pk).identity["nickname"] == "Countess"


BAD = [
    ("first_name", ""),
    ("first_name", "   "),
    ("first_name", "x" * 101),
    ("last_name", ""),
    ("last_name", "y" * 101),
    ("nickname", "n" * 101),
    ("pronouns", "p" * 51),
    ("discord_username", "d" * 51),
    ("first_name", "Ada\x00"),
    ("discord_username", "ada\x00"),
    ("phone", "ask Bob"),
    ("phone", "1" * 21),
    ("phone", "+-()"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field,value", BAD)
def test_it_refuses_bad_input_next_to_the_field_and_changes_nothing(
    member_client, member, field, value
):
    before = snapshot(member)
    response = member_client(member).post(URL, {**GOOD, "nickname": "Changed", field: value})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert 'class="errorlist' in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_tells_a_user_without_a_member_record_and_writes_nothing(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.post(URL, GOOD)
    assert response.status_code == 200
    assert "There is no member record for this login" in response.content.decode()


@pytest.mark.django_db
def test_it_changes_only_the_logged_in_members_record(member_client, member):
    other = MemberFactory()
    other_before = snapshot(other)
    member_client(member).post(URL, {**GOOD, "nickname": "Mine"})
    assert snapshot(other) == other_before
    assert Member.objects.get(pk=member.pk).identity["nickname"] == "Mine"


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page_and_writes_nothing(member_client):
    member = MemberFactory(membership="banned")
    data = {**GOOD, "nickname": "Banned"}
    assert_post_sent_to_locked_writes_nothing(member_client(member), member, URL, data)


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, URL)


@pytest.mark.django_db
def test_it_shows_and_edits_the_phone_and_shows_the_birthday(member_client, member):
    client = member_client(member)
    page = client.get(URL)
    assert page.context["form"].initial["phone"] == "+1 555 0100"
    content = page.content.decode()
    assert 'name="phone"' in content
    # The birthday is shown (dates read the same on every page), not edited here.
    assert "Birthday</dt><dd>10 December 1990</dd>" in content
    assert 'name="birthday"' not in content
    client.post(URL, {**GOOD, "phone": "+44 20 7946 0958"})
    assert Member.objects.get(pk=member.pk).connections["phone"] == "+44 20 7946 0958"
