"""Fuzzing every dashboard page a member can post to. No answer is a 5xx; a save
writes every field the form took, or none (and never another column or member)."""

import pytest
from django.conf import settings
from django.http import QueryDict
from hypothesis import strategies as st

from dashboard.forms import FloofForm, ProfileForm
from members.models import Member, RfidTag, rfid_tag_form
from members.scaffolding import NULLABLE_COLUMNS
from tests.factories import MemberFactory, UserFactory
from tests.fuzz.fuzzing import (
    assert_not_5xx,
    body_for,
    form_body,
    form_data,
    just_over,
    post,
    query_text,
    raw_query,
    run,
    well_formed,
    wrong_type,
)

pytestmark = pytest.mark.django_db

COLUMNS = ("email", "username", "identity", *NULLABLE_COLUMNS, "last_updated_by_id")
HELD_ELSEWHERE = "0000000042"


def row(member_id):
    values = Member.objects.filter(pk=member_id).values(*COLUMNS).get()
    values["events"] = Member.objects.get(pk=member_id).events.count()
    return values


def tags_on_record(member_id):
    return sorted(RfidTag.objects.filter(member_id=member_id).values_list("tag", flat=True))


@pytest.fixture
def sessions(client):
    """Session cookies of members a post may come from, by kind: examples switch the
    one client between them (a new client per example costs its middleware set-up)."""
    MemberFactory(access={"rfid_tags": [HELD_ELSEWHERE]})
    kinds = {
        "active": MemberFactory(access={"rfid_tags": ["0000000007", "12"], "door": "main"}),
        "pending": MemberFactory(membership="pending"),
        "partial": MemberFactory(status=None, connections=None, access=None, extras=None),
        "damaged": MemberFactory(
            identity={"first_name": 7, "emails": "x"},
            connections=["not", "an", "object"],
            access={"rfid_tags": "not-a-list"},
        ),
        "banned": MemberFactory(membership="banned"),
        "no member": None,
    }
    cookies = {}
    for kind, member in kinds.items():
        # Logging in over another session would end it; each kind gets its own.
        client.cookies.clear()
        client.force_login(member.user if member else UserFactory())
        cookies[kind] = (member, client.cookies[settings.SESSION_COOKIE_NAME].value)
    return client, cookies


def as_kind(sessions, kind):
    client, cookies = sessions
    member, session = cookies[kind]
    client.cookies.clear()
    client.cookies[settings.SESSION_COOKIE_NAME] = session
    return client, member


def assert_logged_in(response):
    assert not response.get("Location", "").startswith("/accounts/login/")


KINDS = st.sampled_from(["active", "active", "active", "partial", "damaged", "banned"])


def _cleaned(form_class, fields):
    """What the form takes from these fields, or None when it refuses them."""
    data = QueryDict(mutable=True)
    for name, value in fields.items():
        if value == []:
            continue
        data.setlist(name, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    form = form_class(data)
    return form.cleaned_data if form.is_valid() else None


def _assert_all_or_nothing(form_class, before, after, body):
    """Only the form's keys may change, in their own columns; if any changed, each
    holds what was sent (blank and missing both mean "not set")."""
    written = {column for column, _ in form_class.KEYS.values()}
    for column in set(COLUMNS) - written - {"last_updated_by_id"}:
        assert after[column] == before[column], column
    if after == before:
        return
    assert after["events"] == before["events"] + 1
    for column in written:
        old, new = before[column], after[column]
        if new == old:
            continue
        old = old if isinstance(old, dict) else {}
        assert isinstance(new, dict)
        keys = {key for col, key in form_class.KEYS.values() if col == column}
        assert {k: v for k, v in new.items() if k not in keys} == {
            k: v for k, v in old.items() if k not in keys
        }
    if body.fields is None:
        return
    cleaned = _cleaned(form_class, body.fields)
    assert cleaned is not None
    for field, (column, key) in form_class.KEYS.items():
        stored = after[column].get(key) if isinstance(after[column], dict) else None
        assert (stored or None) == (cleaned[field] or None), field


def _edit_check(sessions, url, form_class):
    def check(example):
        kind, body = example
        client, member = as_kind(sessions, kind)
        before = row(member.pk) if member else None
        response = post(client, url, body)
        assert_not_5xx(response)
        assert_logged_in(response)
        if member is None:
            assert response.status_code in (200, 400)
            return
        after = row(member.pk)
        if kind == "banned":
            assert response.status_code == 302
            assert response["Location"] == "/dashboard/locked/"
            assert after == before
            return
        assert response.status_code in (200, 302, 400)
        if response.status_code != 302:
            assert after == before
        _assert_all_or_nothing(form_class, before, after, body)

    return check


PROFILE = {
    "first_name": st.one_of(st.text(min_size=1, max_size=100), just_over(100)),
    "last_name": st.one_of(st.text(min_size=1, max_size=100), just_over(100)),
    "nickname": st.one_of(st.text(max_size=100), just_over(100)),
    "pronouns": st.one_of(st.text(max_size=50), just_over(50)),
    "discord_username": st.one_of(st.text(max_size=50), just_over(50)),
}


def test_it_saves_a_whole_profile_or_nothing_for_any_post(sessions):
    edits = form_data(PROFILE, extra_names=["email", "username", "status"])
    bodies = st.one_of(well_formed(edits), body_for(edits))
    run(
        st.tuples(st.sampled_from([*KINDS.elements, "no member"]), bodies),
        _edit_check(sessions, "/dashboard/profile/", ProfileForm),
        explicit=[
            ("active", form_body({"first_name": "Grace", "last_name": "Hopper", "pronouns": "x"})),
            ("partial", form_body({"first_name": "Grace", "last_name": "Hopper"})),
            ("damaged", form_body({"first_name": "Grace", "last_name": "Hopper"})),
            ("active", form_body({"first_name": "Gr\x00ce", "last_name": "Hopper"})),
        ],
    )


FLOOF = {
    "nametag_subtitle": st.one_of(st.text(max_size=100), just_over(100)),
    "pronouns": st.one_of(st.text(max_size=50), just_over(50)),
    "theme_song_url": st.one_of(
        st.sampled_from(["", "https://example.org/song.mp3", "example.org/x", "http://a.b/"]),
        st.builds(lambda p: "https://example.org/" + p, st.text(max_size=40)),
        just_over(500),
    ),
    "theme_song_duration": st.one_of(
        st.integers(-5, 40),
        st.sampled_from(["", " 7 ", "7.0", "1e1", "٣", "30", "31", "0"]),
        st.integers(),
    ),
}


def test_it_saves_whole_floof_or_nothing_for_any_post(sessions):
    valid = st.fixed_dictionaries(
        {
            "nametag_subtitle": st.text(max_size=100),
            "pronouns": st.text(max_size=50),
            "theme_song_url": st.sampled_from(["https://example.org/song.mp3", ""]),
            "theme_song_duration": st.integers(1, 30).map(str),
        }
    )
    edits = form_data(FLOOF, base=valid, extra_names=["identity", "first_name"])
    bodies = st.one_of(well_formed(edits), body_for(edits))
    run(
        st.tuples(st.sampled_from([*KINDS.elements, "no member"]), bodies),
        _edit_check(sessions, "/dashboard/floof/", FloofForm),
        explicit=[
            (
                "active",
                form_body(
                    {"theme_song_url": "https://example.org/a.mp3", "theme_song_duration": "9"}
                ),
            ),
            ("active", form_body({"nametag_subtitle": "hi", "theme_song_duration": "99"})),
        ],
    )


TAG = st.one_of(
    st.from_regex(r"[0-9]{1,10}", fullmatch=True),
    st.sampled_from(["7", "0000000007", "12", HELD_ELSEWHERE, "42", " 1 2 3 ", "00000000000"]),
    just_over(20),
)
KEYS = {"action": st.sampled_from(["add", "remove", "", "ADD", "delete"]), "tag": TAG}


def _tags(values):
    access = values["access"]
    tags = access.get("rfid_tags") if isinstance(access, dict) else None
    return tags if isinstance(tags, list) else None


def test_it_adds_or_removes_one_whole_key_or_nothing_for_any_post(sessions):
    edits = form_data(KEYS)
    bodies = st.one_of(well_formed(edits), body_for(edits))
    kinds = st.sampled_from(["active", "active", "active", "pending", "partial", "damaged"])

    def check(example):
        kind, body = example
        client, member = as_kind(sessions, kind)
        before = row(member.pk)
        response = post(client, "/dashboard/keys/", body)
        assert_not_5xx(response)
        assert_logged_in(response)
        after = row(member.pk)
        untouched = set(COLUMNS) - {"access", "last_updated_by_id"}
        assert {c: after[c] for c in untouched} == {c: before[c] for c in untouched}
        # Whatever happened, the tag table mirrors the record.
        assert tags_on_record(member.pk) == sorted({rfid_tag_form(t) for t in _tags(after) or []})
        if kind != "active":
            assert after == before
            return
        if after == before:
            return
        assert response.status_code == 302
        assert after["events"] == before["events"] + 1
        old, new = _tags(before) or [], _tags(after)
        (tag,) = set(map(rfid_tag_form, new)) ^ set(map(rfid_tag_form, old))
        assert tag != HELD_ELSEWHERE
        if len(new) > len(old):
            assert new == [*old, tag]
        else:
            assert [rfid_tag_form(t) for t in new] == [
                rfid_tag_form(t) for t in old if rfid_tag_form(t) != tag
            ]
        if body.fields is not None:
            sent = body.fields.get("tag")
            sent = sent[-1] if isinstance(sent, list) else sent
            assert tag == rfid_tag_form(str(sent).replace(" ", ""))

    run(
        st.tuples(kinds, bodies),
        check,
        explicit=[
            ("active", form_body({"action": "add", "tag": "123"})),
            ("active", form_body({"action": "remove", "tag": "0000000012"})),
            ("active", form_body({"action": "add", "tag": HELD_ELSEWHERE})),
            ("partial", form_body({"action": "add", "tag": "5"})),
        ],
    )


READ_ONLY = ["/dashboard/", "/dashboard/auths/", "/dashboard/storage/", "/dashboard/locked/"]


def test_it_answers_any_request_to_a_read_only_page_without_a_5xx_or_a_write(sessions):
    query = st.one_of(
        st.dictionaries(st.text(max_size=10), st.one_of(query_text, wrong_type), max_size=4),
        raw_query,
    )
    kinds = st.sampled_from([*KINDS.elements, "pending", "no member"])

    def check(example):
        url, kind, method, query, body = example
        client, member = as_kind(sessions, kind)
        before = row(member.pk) if member else None
        extra = {"QUERY_STRING": query} if isinstance(query, str) else {"query_params": query}
        if method == "POST":
            response = post(client, url, body, **extra)
        else:
            response = client.generic(method, url, **extra)
        assert_not_5xx(response)
        assert_logged_in(response)
        assert (row(member.pk) if member else None) == before
        if method in ("POST", "PUT"):
            assert response.status_code == 405

    # These pages take no post: one run covers them all, a page per example.
    run(
        st.tuples(
            st.sampled_from(READ_ONLY),
            kinds,
            st.sampled_from(["GET", "POST", "POST", "HEAD", "PUT"]),
            query,
            body_for(form_data({}, extra_names=["first_name", "tag", "action"])),
        ),
        check,
    )
