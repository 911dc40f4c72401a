"""Structured member editing: fields generated from members/shapes.py, saved as
key-level merges of what staff changed, NULL columns filled from the defaults, notes
only appended, changes made meanwhile by someone else detected, view-only staff kept
to looking."""

import pytest
from allauth.account.models import EmailAddress

from members import scaffolding, shapes
from members.models import Authorization, AuthorizationKind, Member, User
from members.validators import placeholder_username
from staff.keys import KEY_SPECS
from tests.factories import MemberFactory, PlanFactory, logged_in
from tests.staff.conftest import XSS, XSS_ESCAPED, column_permissions
from tests.staff.formdata import change_page_data, form_fields


def _url(member):
    return f"/admin/members/member/{member.pk}/change/"


def _edit(client, member, **changes):
    return client.post(_url(member), change_page_data(client, _url(member), **changes))


def _row(member):
    return Member.objects.values().get(pk=member.pk)


def _errors(response):
    return response.context["adminform"].form.errors


@pytest.mark.django_db
def test_it_draws_a_field_for_every_known_key_of_every_column(as_superuser):
    member = MemberFactory()
    form = as_superuser.get(_url(member)).context["adminform"].form
    for column in shapes.COLUMNS:
        if column == "notes":
            assert "add_note" in form.fields
            continue
        assert [spec.key for spec in KEY_SPECS[column]] == list(shapes.keys(column))
        for spec in KEY_SPECS[column]:
            assert spec.name in form.fields, spec
    # The status is a choice, under the key's own name.
    html = as_superuser.get(_url(member)).content.decode()
    assert '<select name="membership_status"' in html
    assert 'type="date" name="birthday"' in html or 'name="birthday" type="date"' in html


@pytest.mark.django_db
def test_it_round_trips_every_field_type(as_superuser):
    PlanFactory(name="Makerspace Monthly")
    Authorization.objects.create(name="Laser cutter", kind=AuthorizationKind.PHYSICAL)
    Authorization.objects.create(name="Wiki admin", kind=AuthorizationKind.COMPUTER)
    member = MemberFactory(access={"rfid_tags": ["0000000001", "0000000002"]})
    changes = {
        "nickname": "Countess",  # text
        "birthday": "1990-12-10",  # date
        "theme_song_duration": "12",  # number (the rule: whole seconds, 1 to 30)
        "membership_status": "suspended",  # choice
        "membership_level": "Makerspace Monthly",  # plan
        "payment_problem": "on",  # boolean, ticked
        "waiver_signed": None,  # boolean, unticked
        "terms_accepted_at": "2026-02-01T10:30:00+00:00",  # timestamp
        "storage_id": "B-12",  # text or number
        "rfid_tags": ["0000000001", "0000000002", "77"],  # a tag added...
        "rfid_tags__remove": ["0"],  # ...and the first one removed
        "authorizations__authorizations": ["Laser cutter"],
        "computer_authorizations": ["Wiki admin"],
    }
    response = _edit(as_superuser, member, **changes)
    assert response.status_code == 302, _errors(response)

    member.refresh_from_db()
    assert member.identity["nickname"] == "Countess"
    assert member.identity["birthday"] == "1990-12-10"
    assert member.identity["theme_song_duration"] == 12
    assert member.status["membership_status"] == "suspended"
    assert member.status["membership_level"] == "Makerspace Monthly"
    assert member.status["payment_problem"] is True
    assert member.status["waiver_signed"] is False
    assert member.forms["terms_accepted_at"] == "2026-02-01T10:30:00+00:00"
    assert member.extras["storage_id"] == "B-12"
    assert member.access["rfid_tags"] == ["0000000002", "0000000077"]
    assert sorted(member.tag_rows.values_list("tag", flat=True)) == ["0000000002", "0000000077"]
    assert member.authorizations == {
        "authorizations": ["Laser cutter"],
        "computer_authorizations": ["Wiki admin"],
    }
    for column in shapes.COLUMNS:
        assert shapes.validate(column, getattr(member, column)) is None, column

    # Drawn again, the page shows what was saved; saving it unchanged writes nothing.
    form = as_superuser.get(_url(member)).context["adminform"].form
    assert form.initial["nickname"] == "Countess"
    assert str(form.initial["birthday"]) == "1990-12-10"
    assert form.initial["membership_status"] == "suspended"
    assert form.initial["rfid_tags"] == ["0000000002", "0000000077"]
    before, events = _row(member), member.events.count()
    assert _edit(as_superuser, member).status_code == 302
    after = _row(member)
    assert {c: after[c] for c in shapes.COLUMNS} == {c: before[c] for c in shapes.COLUMNS}
    assert member.events.count() - events <= 1  # at most last_updated_by


@pytest.mark.django_db
def test_it_keeps_a_number_a_number_where_one_was_stored(as_superuser):
    member = MemberFactory(extras={"storage_id": 12, "storage_area": "A"})
    assert _edit(as_superuser, member, storage_id="14").status_code == 302
    assert Member.objects.get(pk=member.pk).extras == {"storage_id": 14, "storage_area": "A"}


@pytest.mark.django_db
def test_it_leaves_a_wrong_typed_value_staff_did_not_touch_as_it_was(as_superuser):
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).merge_json("status", {"waiver_signed": "yes"})
    html = as_superuser.get(_url(member)).content.decode()
    assert "which is not a valid boolean" in html
    response = _edit(as_superuser, member, nickname="Countess")
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status["waiver_signed"] == "yes"
    assert member.identity["nickname"] == "Countess"


@pytest.mark.django_db
def test_it_keeps_unknown_keys_and_shows_them_read_only(as_superuser):
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).merge_json("access", {"legacy_badge": XSS})
    html = as_superuser.get(_url(member)).content.decode()
    assert "legacy_badge" in html and XSS_ESCAPED.replace("/", "/") in html
    assert XSS not in html
    assert 'name="legacy_badge"' not in html
    response = _edit(as_superuser, member, rfid_tags=["55"])
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).access == {
        "rfid_tags": ["0000000055"],
        "legacy_badge": XSS,
    }


@pytest.mark.django_db
def test_it_says_a_null_column_is_missing_and_fills_it_from_the_defaults(as_superuser):
    member = MemberFactory(extras=None, connections=None, notes=None)
    html = as_superuser.get(_url(member)).content.decode()
    assert html.count("column-missing") == 3
    assert 'name="extras__fill"' in html
    response = _edit(as_superuser, member, extras__fill="on", discord_username="ada_l")
    assert response.status_code == 302, _errors(response)
    member.refresh_from_db()
    assert member.extras == scaffolding.default("extras")
    # Filled by typing a value: the defaults with that value.
    assert member.connections == {**scaffolding.default("connections"), "discord_username": "ada_l"}
    # Neither ticked nor typed in: still missing.
    assert member.notes is None


@pytest.mark.django_db
def test_it_completes_a_status_without_membership_status(as_superuser):
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(status={"membership_level": "Old"})
    form = as_superuser.get(_url(member)).context["adminform"].form
    assert ("Old", "Old (not a plan)") in form.fields["membership_level"].choices
    response = _edit(as_superuser, member, membership_status="pending")
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).status == {
        "membership_level": "Old",
        "membership_status": "pending",
    }
    assert not Member.objects.filter(pk=member.pk).partial().exists()


INVALID = [
    ("birthday", "1990-02-30"),
    ("birthday", "10/12/1990"),
    ("theme_song_duration", "forty"),
    ("theme_song_duration", "inf"),
    ("membership_status", "royalty"),
    ("membership_level", "Not a plan"),
    ("terms_accepted_at", "yesterday"),
    ("rfid_tags", ["abc"]),
    ("rfid_tags", ["12345678901"]),
    ("rfid_tags", ["1", "0000000001"]),
    ("computer_authorizations", ["Root on everything"]),
    ("nickname", "Ada\x00"),
    ("theme_song_duration", "1e999"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field, value", INVALID)
def test_it_refuses_an_invalid_value_next_to_its_field_and_saves_nothing(
    as_superuser, field, value
):
    member = MemberFactory()
    before = _row(member)
    response = _edit(
        as_superuser,
        member,
        **{field: value, "nickname": "Changed too"} if field != "nickname" else {field: value},
    )
    assert response.status_code == 200
    assert _errors(response)[field]
    assert f'id="id_{field}"' in response.content.decode() or field == "rfid_tags"
    assert _row(member) == before


@pytest.mark.django_db
def test_it_refuses_an_rfid_tag_of_another_member(as_superuser):
    other = MemberFactory(access={"rfid_tags": ["0000000042"]})
    member = MemberFactory()
    response = _edit(as_superuser, member, rfid_tags=["42"])
    assert response.status_code == 200
    assert f"#{other.pk}" in str(_errors(response)["rfid_tags"])
    assert Member.objects.get(pk=member.pk).access == {"rfid_tags": []}


@pytest.mark.django_db
def test_it_shows_a_name_not_in_the_catalog_and_grants_it_only_from_the_catalog(as_superuser):
    Authorization.objects.create(name="Lathe", kind=AuthorizationKind.PHYSICAL)
    Authorization.objects.create(name="Laser cutter", kind=AuthorizationKind.PHYSICAL)
    member = MemberFactory(
        authorizations={"authorizations": ["Forge (1998)"], "computer_authorizations": []}
    )
    html = as_superuser.get(_url(member)).content.decode()
    assert "Forge (1998) (not in the catalog)" in html
    # Authorizations are grants of catalog tools: a name outside it is refused, by name.
    response = _edit(as_superuser, member, authorizations__authorizations=["Forge (1998)", "Lathe"])
    assert response.status_code == 200
    assert "Not in the catalog: Forge (1998)" in str(_errors(response))
    assert Member.objects.get(pk=member.pk).authorizations["authorizations"] == ["Forge (1998)"]
    # Once staff add it to the catalog, the same edit grants both.
    Authorization.objects.create(name="Forge (1998)", kind=AuthorizationKind.PHYSICAL)
    response = _edit(as_superuser, member, authorizations__authorizations=["Forge (1998)", "Lathe"])
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).authorizations["authorizations"] == [
        "Forge (1998)",
        "Lathe",
    ]


@pytest.mark.django_db
def test_it_lists_notes_newest_first_and_only_ever_appends(as_superuser, superuser):
    member = MemberFactory(
        notes=[
            {"note": "First visit", "from": "bo", "timestamp": "2026-01-01T10:00:00+00:00"},
            {"note": "Second visit", "from": "bo", "timestamp": "2026-02-01T10:00:00+00:00"},
        ]
    )
    html = as_superuser.get(_url(member)).content.decode()
    assert html.index("Second visit") < html.index("First visit")
    data = change_page_data(as_superuser, _url(member), add_note="Gave a tour.")
    # Someone else adds a note while the page is open: both are kept.
    Member.objects.filter(pk=member.pk).append_note("Payment received", author="webhook")
    assert as_superuser.post(_url(member), data).status_code == 302
    notes = Member.objects.get(pk=member.pk).notes
    assert [n["note"] for n in notes] == [
        "First visit",
        "Second visit",
        "Payment received",
        "Gave a tour.",
    ]
    assert notes[-1]["from"] == superuser.username


@pytest.mark.django_db
def test_it_detects_a_change_made_meanwhile_and_says_so(as_superuser):
    member = MemberFactory(membership="pending")
    data = change_page_data(as_superuser, _url(member), membership_status="active")
    # A webhook writes the same column after the page was drawn.
    Member.objects.filter(pk=member.pk).merge_json("status", {"subscription_status": "past_due"})
    before = _row(member)
    response = as_superuser.post(_url(member), data)
    assert response.status_code == 200
    errors = _errors(response)
    assert "Someone else changed this member's status" in " ".join(errors["membership_status"])
    assert "nothing was saved" in response.content.decode()
    assert _row(member) == before


@pytest.mark.django_db
def test_it_saves_an_edit_of_a_column_nobody_else_changed(as_superuser):
    member = MemberFactory()
    data = change_page_data(as_superuser, _url(member), phone="555 0123")
    Member.objects.filter(pk=member.pk).merge_json("status", {"subscription_status": "past_due"})
    assert as_superuser.post(_url(member), data).status_code == 302
    member.refresh_from_db()
    assert member.connections["phone"] == "555 0123"
    assert member.status["subscription_status"] == "past_due"


@pytest.mark.django_db
def test_it_detects_a_login_changed_meanwhile(as_superuser):
    member = MemberFactory()
    data = change_page_data(as_superuser, _url(member), username="renamed")
    Member.objects.filter(pk=member.pk).update(username="other-name")
    response = as_superuser.post(_url(member), data)
    assert response.status_code == 200
    assert "Someone else changed the login" in " ".join(_errors(response)["username"])
    assert Member.objects.get(pk=member.pk).username == "other-name"


@pytest.mark.django_db
def test_it_refuses_a_post_that_does_not_come_from_the_page(as_superuser):
    member = MemberFactory()
    data = change_page_data(as_superuser, _url(member), nickname="Countess")
    data.pop("loaded")
    before = _row(member)
    response = as_superuser.post(_url(member), data)
    assert response.status_code == 200
    assert "out of date" in str(response.context["adminform"].form.non_field_errors())
    assert _row(member) == before


@pytest.mark.django_db
def test_it_keeps_the_login_and_identity_in_step_with_a_new_email(as_superuser):
    member = MemberFactory()
    response = _edit(as_superuser, member, email=" Ada.New@Example.org ")
    assert response.status_code == 302
    member.refresh_from_db()
    user = User.objects.get(pk=member.user_id)
    assert member.email == user.email == "ada.new@example.org"
    assert member.identity["emails"][0] == {"type": "primary", "email_address": user.email}
    assert list(EmailAddress.objects.filter(user=user).values_list("email", "primary")) == [
        ("ada.new@example.org", True)
    ]


@pytest.mark.django_db
def test_it_records_the_edit_as_staff(as_superuser, superuser):
    member = MemberFactory()
    _edit(as_superuser, member, nickname="Countess")
    event = member.events.order_by("pgh_id").last()
    assert event.pgh_context.metadata["source"] == "staff"
    assert event.pgh_context.metadata["user"] == superuser.pk


@pytest.mark.django_db
def test_it_shows_view_only_staff_the_fields_disabled_and_refuses_their_save(as_viewer, superuser):
    as_superuser = logged_in(superuser)
    member = MemberFactory(extras=None)
    response = as_viewer.get(_url(member))
    assert response.status_code == 200
    html = response.content.decode()
    data, disabled = form_fields(html)
    # Every structured field is drawn, disabled; nothing is there to submit.
    for name in ("membership_status", "nickname", "birthday", "waiver_signed", "rfid_tags"):
        assert name in disabled, name
    assert not [n for n in data if n not in ("csrfmiddlewaretoken", "loaded")]
    assert 'name="_save"' not in html
    assert "extras__fill" not in html
    assert "You can view this member but not change it." in html
    # The superuser's page, posted by the viewer, is refused.
    post = change_page_data(as_superuser, _url(member), nickname="Countess")
    before = _row(member)
    assert as_viewer.post(_url(member), post).status_code == 403
    assert _row(member) == before


@pytest.mark.django_db
def test_it_offers_the_raw_json_view_to_superusers_only(as_superuser, client):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    member = MemberFactory()
    html = as_superuser.get(_url(member)).content.decode()
    assert "?advanced=1" in html
    raw = as_superuser.get(_url(member) + "?advanced=1").context["adminform"].form
    assert "identity" in raw.fields and "membership_status" not in raw.fields
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_member", "change_member"]),
        *column_permissions("view", "change"),
    )
    client.force_login(staff)
    assert "?advanced=1" not in client.get(_url(member)).content.decode()
    form = client.get(_url(member) + "?advanced=1").context["adminform"].form
    assert "identity" not in form.fields and "membership_status" in form.fields


def _imported(email):
    """A member as the import makes one: no username, its User under the placeholder
    login name (docs/shapes.md)."""
    member = MemberFactory(email=email, user__email=email, username="")
    User.objects.filter(pk=member.user_id).update(username=placeholder_username(member.pk))
    return member


@pytest.mark.django_db
def test_it_saves_a_member_with_a_login_and_no_username(as_superuser):
    member = _imported("lin@example.org")
    response = _edit(as_superuser, member, nickname="Lin", email="lin.new@example.org")
    assert response.status_code == 302, _errors(response)
    member.refresh_from_db()
    assert (member.username, member.identity["nickname"]) == ("", "Lin")
    user = User.objects.get(pk=member.user_id)
    assert (user.username, user.email) == (f"member-{member.pk}", "lin.new@example.org")


@pytest.mark.django_db
def test_it_gives_the_placeholder_login_name_when_staff_clear_a_username(as_superuser):
    first, second = MemberFactory(), MemberFactory()
    for member in (first, second):
        response = _edit(as_superuser, member, username="")
        assert response.status_code == 302, _errors(response)
        assert Member.objects.get(pk=member.pk).username == ""
        assert User.objects.get(pk=member.user_id).username == f"member-{member.pk}"


@pytest.mark.django_db
def test_it_still_refuses_a_member_with_a_login_and_no_email(as_superuser):
    member = _imported("lin@example.org")
    before = _row(member)
    response = _edit(as_superuser, member, email="")
    assert response.status_code == 200
    assert _errors(response)["email"] == ["A member with a login needs an email."]
    assert _row(member) == before


@pytest.mark.django_db
def test_it_labels_every_column_and_key_in_the_spaces_words(as_superuser):
    member = MemberFactory(extras=None)
    html = as_superuser.get(_url(member)).content.decode()
    for column in shapes.COLUMNS:
        assert shapes.label(column) in html
        if column != "notes":
            for spec in KEY_SPECS[column]:
                assert spec.label == shapes.label(column, spec.key)
                assert spec.label != spec.key  # a label, never the stored key
    assert ">ID checked by<" in html or ">ID checked by:<" in html
    assert "Id check by" not in html and "forms.id_check_by" not in html
    assert "Not set up." in html  # the NULL storage column, in words
