"""GET /api/v1/access/: bearer keys, who is listed and with what, ETag and 304, the
limit per key."""

import threading

import pytest
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from integrations.models import AccessKey
from integrations.services import access_key_create, access_key_revoke
from members.models import Member
from tests.factories import MemberFactory

URL = "/api/v1/access/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return access_key_create(name="front door")[1]


def get(key=None, client=None, **headers):
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return (client or Client()).get(URL, **headers)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer dhak_wrong",
        "Bearer ☃",
        "Token x",
    ],
)
def test_it_answers_401_without_a_valid_key(key, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client().get(URL, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "members" not in response.json()


def test_it_answers_401_to_a_revoked_key(key):
    assert get(key).status_code == 200
    access_key_revoke(name="front door")
    assert get(key).status_code == 401


def test_it_lists_only_members_who_may_enter_with_their_tags_and_nothing_else(key):
    active = MemberFactory(
        username="ada",
        access={"rfid_tags": ["123"]},
        authorizations={"authorizations": ["laser"], "computer_authorizations": ["cnc"]},
    )
    shouty = MemberFactory(status={"membership_status": " ACTIVE "}, username="bo")
    for number, status in enumerate(("pending", "lapsed", "suspended", "banned"), start=1):
        MemberFactory(membership=status, access={"rfid_tags": [f"{number}0000"]})
    MemberFactory(status=None, access={"rfid_tags": ["555"]})

    response = get(key)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["generated_at", "members"]
    assert body["members"] == [
        {
            "member_id": active.pk,
            "username": "ada",
            "rfid_tags": ["0000000123"],
            "authorizations": ["laser"],
            "computer_authorizations": ["cnc"],
        },
        {
            "member_id": shouty.pk,
            "username": "bo",
            "rfid_tags": [],
            "authorizations": [],
            "computer_authorizations": [],
        },
    ]
    text = response.content.decode()
    for personal in (active.email, "Lovelace", "Ada", "+1 555", "1990-12-10"):
        assert personal not in text
    assert "set-cookie" not in {h.lower() for h in response.headers}


def test_it_never_lists_a_banned_members_tags(key):
    member = MemberFactory(access={"rfid_tags": ["0000000666"]})
    assert "0000000666" in get(key).content.decode()
    Member.objects.filter(pk=member.pk).merge_json("status", {"membership_status": "banned"})
    assert "0000000666" not in get(key).content.decode()


@pytest.mark.django_db(transaction=True)
def test_it_answers_304_to_the_etag_until_the_list_changes(key):
    # The ETag is the list's version, which a change gives a new value as it commits.
    member = MemberFactory(access={"rfid_tags": []})
    first = get(key)
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = get(key)
    assert again["ETag"] == etag  # generated_at moved on; the list did not
    assert again.json()["generated_at"] >= first.json()["generated_at"]

    cached = get(key, HTTP_IF_NONE_MATCH=etag)
    assert cached.status_code == 304
    assert cached["ETag"] == etag
    assert cached.content == b""
    assert get(key, HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert get(key, HTTP_IF_NONE_MATCH='"stale"').status_code == 200

    # A write that is not about entry keeps the ETag; a new tag changes it.
    Member.objects.filter(pk=member.pk).append_note("hello", author="staff")
    assert get(key, HTTP_IF_NONE_MATCH=etag).status_code == 304
    Member.objects.filter(pk=member.pk).add_rfid_tag("0000000777")
    changed = get(key, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["members"][0]["rfid_tags"] == ["0000000777"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "head"])
def test_it_answers_405_to_anything_but_get(key, method):
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(URL, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 405


def test_it_limits_requests_per_key(key, settings):
    settings.INTEGRATIONS_ACCESS_RATE_LIMIT = "3/60"
    other = access_key_create(name="back door")[1]
    assert [get(key).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert get(key)["Retry-After"] == "60"
    assert get(other).status_code == 200


def test_it_records_when_a_key_was_last_used(key):
    row = AccessKey.objects.get(name="front door")
    assert row.last_used_at is None
    before = timezone.now()
    get(key)
    row.refresh_from_db()
    assert row.last_used_at >= before
    assert key not in str(AccessKey.objects.values_list())  # only the hash is kept


@pytest.mark.django_db(transaction=True)
def test_it_lists_a_new_tag_once_its_change_commits():
    key = access_key_create(name="door")[1]
    member = MemberFactory(access={"rfid_tags": []})
    written, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                Member.objects.filter(pk=member.pk).add_rfid_tag("0000004321")
                written.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert written.wait(10)
        assert "0000004321" not in get(key).content.decode()
    finally:
        release.set()
        thread.join(10)
    assert get(key).json()["members"][0]["rfid_tags"] == ["0000004321"]
