"""One rule per field (members/validators.py): each bad value a member could type is
refused the same way by every path that writes it (signup's details, the dashboard's
pages, the admin's structured form and its raw JSON view), with the rule's sentence
next to the field, and nothing is written."""

import datetime

import pytest

from members import shapes
from members.models import Member
from tests.dashboard.conftest import snapshot
from tests.factories import MemberFactory
from tests.signup.conftest import continue_url, valid_details, years_ago
from tests.staff.formdata import change_page_data, raw_page_data

NAME = "Use at most 100 characters."
BIRTHDAY = "Enter a real date of birth."
AGE = "You must be 18 or older to become a member."
HTTPS = "Enter a valid https:// link."
SECONDS = "Use whole seconds, 1 to 30."
PHONE = "Use up to 20 digits, spaces and the characters ( ) . + - only."
USERNAME = "Use 1 to 16 letters, digits, underscores or hyphens."
RESERVED = "Usernames of the form member-<number> are reserved."


def _next_year() -> str:
    return (datetime.date.today() + datetime.timedelta(days=366)).isoformat()


# (field, (column, key) or None for the username, bad value, the rule's sentence)
CASES = [
    ("first_name", ("identity", "first_name"), "x" * 101, NAME),
    ("nickname", ("identity", "nickname"), "n" * 101, NAME),
    ("birthday", ("identity", "birthday"), _next_year(), BIRTHDAY),
    ("birthday", ("identity", "birthday"), years_ago(17), AGE),
    ("theme_song_url", ("identity", "theme_song_url"), "javascript:alert(1)", HTTPS),
    ("theme_song_url", ("identity", "theme_song_url"), "http://music.example.org/a.mp3", HTTPS),
    ("theme_song_duration", ("identity", "theme_song_duration"), 999, SECONDS),
    ("theme_song_duration", ("identity", "theme_song_duration"), 0, SECONDS),
    ("theme_song_duration", ("identity", "theme_song_duration"), 2.5, SECONDS),
    ("phone", ("connections", "phone"), "ask Bob", PHONE),
    ("rfid_tags", ("access", "rfid_tags"), "12ab", "is not an RFID tag"),
    ("username", None, "no spaces!", USERNAME),
    ("username", None, "member-12", RESERVED),
]


def _cases(fields=None):
    """The cases of these fields (all by default), as pytest params with readable ids."""
    return [
        pytest.param(*case, id=f"{case[0]}={str(case[2])[:20]}")
        for case in CASES
        if fields is None or case[0] in fields
    ]


# Where a member meets each field: signup's details form, and the dashboard page (its
# URL, the field's name there, and the rest of a good post).
SIGNUP_FIELDS = {"first_name", "nickname", "birthday", "phone", "username"}
SIGNUP_NAMES = {"nickname": "preferred_name"}
PROFILE = {"first_name": "Ada", "last_name": "Lovelace", "phone": "+1 555 0100"}
FLOOF = {"theme_song_url": "https://example.org/song.mp3", "theme_song_duration": "10"}
DASHBOARD = {
    "first_name": ("/dashboard/profile/", "first_name", PROFILE),
    "nickname": ("/dashboard/profile/", "nickname", PROFILE),
    "phone": ("/dashboard/profile/", "phone", PROFILE),
    "theme_song_url": ("/dashboard/floof/", "theme_song_url", FLOOF),
    "theme_song_duration": ("/dashboard/floof/", "theme_song_duration", FLOOF),
    "rfid_tags": ("/dashboard/keys/", "tag", {"action": "add"}),
}


SIGNUP_CASES = _cases(SIGNUP_FIELDS)
DASHBOARD_CASES = _cases(DASHBOARD)


@pytest.fixture
def member(db):
    return MemberFactory(
        identity={"first_name": "Ada", "last_name": "Lovelace", "birthday": "1990-12-10"},
        connections={"phone": "+1 555 0100"},
        access={"rfid_tags": ["0000000001"]},
    )


def _change_url(member):
    return f"/admin/members/member/{member.pk}/change/"


def _messages(errors) -> str:
    return " ".join(str(message) for message in errors)


@pytest.mark.django_db
@pytest.mark.parametrize("field,where,value,message", SIGNUP_CASES)
def test_it_refuses_each_bad_value_at_signup(client, field, where, value, message):
    name = SIGNUP_NAMES.get(field, field)
    response = client.post(continue_url("rules@example.org"), valid_details(**{name: value}))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [name]
    assert message in _messages(errors[name])
    assert not Member.objects.filter(email="rules@example.org").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field,where,value,message", DASHBOARD_CASES)
def test_it_refuses_each_bad_value_on_the_dashboard(client, member, field, where, value, message):
    url, name, good = DASHBOARD[field]
    client.force_login(member.user)
    before = snapshot(member)
    response = client.post(url, {**good, name: value})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [name]
    assert message in _messages(errors[name])
    assert snapshot(member) == before


@pytest.mark.django_db
@pytest.mark.parametrize("field,where,value,message", _cases())
def test_it_refuses_each_bad_value_in_the_structured_admin(
    as_superuser, member, field, where, value, message
):
    url = _change_url(member)
    before = snapshot(member)
    change = [*member.access["rfid_tags"], value] if field == "rfid_tags" else value
    response = as_superuser.post(url, change_page_data(as_superuser, url, **{field: change}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in _messages(errors[field])
    # The sentence is drawn next to the field.
    assert message.replace("<", "&lt;").replace(">", "&gt;") in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
@pytest.mark.parametrize("field,where,value,message", _cases())
def test_it_refuses_each_bad_value_in_the_raw_json_view(
    as_superuser, member, field, where, value, message
):
    before = snapshot(member)
    if where is None:
        name, data = field, raw_page_data(member, username=value)
    else:
        column, key = where
        stored = getattr(Member.objects.get(pk=member.pk), column)
        new = [*stored[key], value] if field == "rfid_tags" else value
        name, data = column, raw_page_data(member, **{column: {**stored, key: new}})
    response = as_superuser.post(_change_url(member) + "?advanced=1", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [name]
    shown = _messages(errors[name])
    if field == "rfid_tags":
        # The column's shape refuses a malformed tag before any rule runs.
        assert "must be a tag of up to 10 digits" in shown
    else:
        assert message in shown
    if where is not None and field != "rfid_tags":
        assert shown.startswith(shapes.label(*where) + ": ")
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_keeps_a_legacy_value_that_breaks_a_rule_until_staff_change_it(as_superuser):
    # Imported data may predate a rule: staff can still edit the rest of the record.
    member = MemberFactory(connections={"phone": "ask Bob", "discord_username": "ada"})
    url = _change_url(member)
    response = as_superuser.post(url, change_page_data(as_superuser, url, discord_username="al"))
    assert response.status_code == 302
    stored = Member.objects.get(pk=member.pk).connections
    assert stored == {"phone": "ask Bob", "discord_username": "al"}
    connections = {"phone": "ask Bob", "discord_username": "grace"}
    response = as_superuser.post(
        url + "?advanced=1", raw_page_data(member, connections=connections)
    )
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).connections == connections


@pytest.mark.django_db
def test_it_accepts_good_values_through_the_admin(as_superuser, member):
    url = _change_url(member)
    good = {
        "birthday": years_ago(18),
        "theme_song_url": "https://example.org/theme.mp3",
        "theme_song_duration": "30",
        "phone": "+44 (20) 7946-0958",
        "rfid_tags": ["0000000001", "42"],
    }
    response = as_superuser.post(url, change_page_data(as_superuser, url, **good))
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = Member.objects.get(pk=member.pk)
    assert row.identity["theme_song_duration"] == 30
    assert row.connections["phone"] == "+44 (20) 7946-0958"
    assert row.access["rfid_tags"] == ["0000000001", "0000000042"]
