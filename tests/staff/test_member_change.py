"""The member change page's raw JSON view (superusers, ?advanced=1): every JSON column
editable and checked against its shape, login details kept in step, clashes as form
errors, escaping and permissions. The structured fields: test_structured_edit.py."""

import json

import pytest
from allauth.account.models import EmailAddress
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from members.models import Member, User
from members.shapes import COLUMNS as JSON_COLUMNS
from tests.factories import MemberFactory
from tests.staff.conftest import XSS, XSS_ESCAPED
from tests.staff.formdata import raw_page_data


def _url(member):
    return f"/admin/members/member/{member.pk}/change/"


_form_data = raw_page_data


def _post(client, member, **changes):
    return client.post(_url(member) + "?advanced=1", _form_data(member, **changes))


@pytest.mark.django_db
def test_it_saves_an_edit_and_names_the_staff_user(as_superuser, superuser):
    member = MemberFactory()
    identity = {**member.identity, "nickname": "Countess"}
    response = _post(as_superuser, member, identity=identity)
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.identity["nickname"] == "Countess"
    assert member.last_updated_by == superuser


@pytest.mark.django_db
def test_it_shows_the_stored_email_and_username_in_their_fields(as_superuser):
    member = MemberFactory(email="ada@example.org", username="countess")
    form = as_superuser.get(_url(member)).context["adminform"].form
    assert form["email"].value() == "ada@example.org"
    assert form["username"].value() == "countess"


@pytest.mark.django_db
def test_it_fills_a_null_column_from_the_form(as_superuser):
    member = MemberFactory(extras=None)
    response = _post(as_superuser, member, extras={"storage_id": 12, "storage_area": "B"})
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).extras == {"storage_id": 12, "storage_area": "B"}


@pytest.mark.django_db
def test_it_records_the_edit_as_a_staff_change(as_superuser, superuser):
    member = MemberFactory()
    _post(as_superuser, member, connections={"phone": "555", "discord_username": ""})
    event = member.events.order_by("pgh_id").last()
    assert event.pgh_context.metadata["source"] == "staff"
    assert event.pgh_context.metadata["user"] == superuser.pk


@pytest.mark.django_db
def test_it_writes_only_the_columns_the_form_changed(as_superuser):
    member = MemberFactory()
    data = _form_data(member, connections={"phone": "555", "discord_username": ""})
    # Another writer appends a note after the page was opened.
    Member.objects.filter(pk=member.pk).append_note("Payment received", author="webhook")
    response = as_superuser.post(_url(member) + "?advanced=1", data)
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.connections["phone"] == "555"
    assert member.notes[-1]["note"] == "Payment received"


BAD_VALUES = [
    ("identity", "{not json"),
    ("identity", '{"first_name": 5}'),
    ("identity", '["a list", "where an object belongs"]'),
    ("identity", "null"),
    ("identity", '{"birthday": "10/12/1990"}'),
    ("identity", '{"emails": [{"type": "primary", "email_address": "not-an-email"}]}'),
    ("identity", '{"first_name": "Ada\\u0000"}'),
    ("identity", '{"first_name\\u0000": "Ada"}'),
    ("status", '{"membership_status": "royalty"}'),
    ("status", '{"waiver_signed": "yes"}'),
    ("status", '{"payment_problem": 1}'),
    ("status", "[]"),
    ("connections", '{"phone": 5551234}'),
    ("connections", '{"fax": "555"}'),
    ("forms", '{"terms_accepted_at": "yesterday"}'),
    ("forms", '{"is_21_or_older": "true"}'),
    ("notes", '{"note": "an object where a list belongs"}'),
    ("notes", '[{"note": 5, "from": "staff", "timestamp": "2026-01-01T00:00:00"}]'),
    ("notes", '["just text"]'),
    ("access", '{"rfid_tags": "0012345678"}'),
    ("access", '{"rfid_tags": [12345678]}'),
    ("access", '{"rfid_tags": ["12345678901"]}'),
    ("access", '{"rfid_tags": ["abc"]}'),
    ("access", '{"rfid_tags": ["1", "0000000001"]}'),
    ("authorizations", '{"authorizations": "laser"}'),
    ("extras", '{"storage_area": ["B"]}'),
    ("extras", '{"storage_id": NaN}'),
    ("extras", '{"storage_id": 1e999}'),
    ("extras", "[" * 100_000 + "]" * 100_000),
    ("extras", "\x00"),
    ("identity", '{"first_name": "\\ud800"}'),
    ("connections", '{"phone": "\\udfff5551234"}'),
]


@pytest.mark.django_db
@pytest.mark.parametrize("column, raw", BAD_VALUES)
def test_it_answers_a_bad_json_value_with_a_form_error(as_superuser, column, raw):
    member = MemberFactory()
    before = Member.objects.values().get(pk=member.pk)
    response = _post(as_superuser, member, **{column: raw})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[column]
    assert Member.objects.values().get(pk=member.pk) == before


@pytest.mark.django_db
def test_it_renders_a_lone_surrogate_escaped_when_another_field_is_also_wrong(as_superuser):
    member = MemberFactory()
    response = _post(
        as_superuser,
        member,
        identity='{"first_name": "\\ud800"}',
        extras='{"storage_area": ["B"]}',
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["identity"] and form.errors["extras"]


@pytest.mark.django_db
def test_it_keeps_a_legacy_key_already_stored_but_refuses_a_new_unknown_key(as_superuser):
    member = MemberFactory()
    member.identity["legacy_key"] = "kept"
    member.save()
    identity = {**member.identity, "nickname": "Countess"}
    assert _post(as_superuser, member, identity=identity).status_code == 302
    assert Member.objects.get(pk=member.pk).identity["legacy_key"] == "kept"
    response = _post(as_superuser, member, identity={**identity, "shoe_size": "42"})
    assert response.status_code == 200
    assert "shoe_size" in str(response.context["adminform"].form.errors["identity"])


@pytest.mark.django_db
def test_it_answers_a_nul_in_the_email_with_a_form_error(as_superuser):
    member = MemberFactory()
    response = _post(as_superuser, member, email="ada\x00@example.org")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"]


@pytest.mark.django_db
def test_it_keeps_user_address_and_identity_in_step_with_a_new_email(as_superuser):
    member = MemberFactory()
    response = _post(as_superuser, member, email="  Ada.New@Example.org ")
    assert response.status_code == 302
    member.refresh_from_db()
    user = User.objects.get(pk=member.user_id)
    assert member.email == "ada.new@example.org"
    assert user.email == "ada.new@example.org"
    assert member.identity["emails"] == [
        {"type": "primary", "email_address": "ada.new@example.org"}
    ]
    addresses = list(EmailAddress.objects.filter(user=user).values_list("email", "primary"))
    assert addresses == [("ada.new@example.org", True)]


@pytest.mark.django_db
def test_it_lets_the_member_log_in_with_the_new_email(as_superuser, client):
    from tests.factories import DEFAULT_PASSWORD

    member = MemberFactory()
    _post(as_superuser, member, email="renamed@example.org")
    as_superuser.logout()
    response = client.post(
        "/accounts/login/", {"login": "renamed@example.org", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


@pytest.mark.django_db
def test_it_keeps_the_user_in_step_with_a_new_username(as_superuser):
    member = MemberFactory()
    member.identity["active_directory_username"] = member.username
    member.save()
    response = _post(as_superuser, member, username="countess")
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.username == "countess"
    assert User.objects.get(pk=member.user_id).username == "countess"
    assert member.identity["active_directory_username"] == "countess"


@pytest.mark.django_db
def test_it_edits_the_login_details_of_a_member_without_a_user(as_superuser):
    member = MemberFactory(user=None, email="legacy@example.org", username="legacy")
    response = _post(as_superuser, member, email="legacy2@example.org", username="legacy2")
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.email, member.username) == ("legacy2@example.org", "legacy2")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, taken",
    [
        ("email", lambda other: other.email.upper()),
        ("username", lambda other: other.username.upper()),
    ],
)
def test_it_answers_a_clash_with_another_member_with_a_form_error(as_superuser, field, taken):
    member, other = MemberFactory(), MemberFactory()
    before = Member.objects.values().get(pk=member.pk)
    user_before = User.objects.values().get(pk=member.user_id)
    response = _post(as_superuser, member, **{field: taken(other)})
    assert response.status_code == 200
    assert f"#{other.pk}" in str(response.context["adminform"].form.errors[field])
    assert Member.objects.values().get(pk=member.pk) == before
    assert User.objects.values().get(pk=member.user_id) == user_before


@pytest.mark.django_db
def test_it_answers_a_clash_with_a_staff_login_with_a_form_error(as_superuser, superuser):
    member = MemberFactory()
    response = _post(as_superuser, member, email=superuser.email, username=superuser.username)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "email" in errors and "username" in errors
    assert Member.objects.get(pk=member.pk).email == member.email


@pytest.mark.django_db
def test_it_answers_an_rfid_tag_of_another_member_with_a_form_error(as_superuser):
    other = MemberFactory(access={"rfid_tags": ["0000000042"]})
    member = MemberFactory()
    response = _post(as_superuser, member, access={"rfid_tags": ["42"]})
    assert response.status_code == 200
    assert f"#{other.pk}" in str(response.context["adminform"].form.errors["access"])
    assert Member.objects.get(pk=member.pk).access == {"rfid_tags": []}


@pytest.mark.django_db
def test_it_stores_rfid_tags_in_their_ten_digit_form(as_superuser):
    member = MemberFactory()
    _post(as_superuser, member, access={"rfid_tags": ["42", " 0012345678 "]})
    member.refresh_from_db()
    assert member.access == {"rfid_tags": ["0000000042", "0012345678"]}
    assert sorted(member.tag_rows.values_list("tag", flat=True)) == ["0000000042", "0012345678"]


@pytest.mark.django_db
def test_it_turns_a_lost_race_for_a_username_into_a_form_error(as_superuser, monkeypatch):
    """The unique index, not the friendly check, is the guard: skip the check and the
    save must still answer with a form error and write nothing."""
    from staff import locking

    member, other = MemberFactory(), MemberFactory()
    monkeypatch.setattr(locking, "login_clashes", lambda **kwargs: {})
    response = _post(as_superuser, member, username=other.username)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["username"]
    assert Member.objects.get(pk=member.pk).username == member.username


@pytest.mark.django_db
def test_it_escapes_member_text_on_the_change_page(as_superuser):
    member = MemberFactory(access={"rfid_tags": []})
    member.identity["first_name"] = XSS
    member.notes = [{"note": XSS, "from": XSS, "timestamp": "2026-01-01T00:00:00"}]
    member.save()
    for url in (_url(member), _url(member) + "?advanced=1"):
        html = as_superuser.get(url).content.decode()
        assert XSS not in html
        assert XSS_ESCAPED in html


@pytest.mark.django_db
def test_it_lets_a_superuser_edit(as_superuser):
    member = MemberFactory()
    assert as_superuser.get(_url(member)).context["has_change_permission"] is True
    assert _post(as_superuser, member, username="edited").status_code == 302
    assert Member.objects.get(pk=member.pk).username == "edited"


@pytest.mark.django_db
def test_it_shows_view_only_staff_the_page_but_refuses_their_edit(as_viewer):
    member = MemberFactory()
    page = as_viewer.get(_url(member))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    response = _post(as_viewer, member, username="edited")
    assert response.status_code == 403
    assert Member.objects.get(pk=member.pk).username == member.username


def _assert_page_and_edit_sent_to_login(client):
    member = MemberFactory()
    page = client.get(_url(member))
    assert page.status_code == 302
    assert "/admin/login/" in page["Location"]
    response = _post(client, member, username="edited")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert Member.objects.get(pk=member.pk).username == member.username


@pytest.mark.django_db
def test_it_refuses_the_page_and_the_edit_to_non_staff(as_outsider):
    _assert_page_and_edit_sent_to_login(as_outsider)


@pytest.mark.django_db
def test_it_refuses_the_page_and_the_edit_to_anonymous_visitors(client):
    _assert_page_and_edit_sent_to_login(client)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(column=st.sampled_from(JSON_COLUMNS), value=json_values | st.text(max_size=30))
def test_it_never_answers_500_to_any_json_a_browser_can_send(as_superuser, column, value):
    member = MemberFactory()
    before = Member.objects.values().get(pk=member.pk)
    raw = value if isinstance(value, str) else json.dumps(value)
    response = _post(as_superuser, member, **{column: raw})
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert response.context["adminform"].form.errors[column]
        assert Member.objects.values().get(pk=member.pk) == before
