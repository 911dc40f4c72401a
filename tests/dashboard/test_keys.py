import threading
from functools import partial

import pytest
from django.db import connections, transaction

from dashboard.views import UNKNOWN
from members.models import Member, RfidTag
from tests.dashboard.conftest import (
    assert_one_write_by_the_member,
    assert_post_sent_to_locked_writes_nothing,
    assert_sends_to_login,
    snapshot,
)
from tests.factories import MemberFactory, logged_in
from tests.threads import run_concurrently, start

URL = "/dashboard/keys/"


def _add(client, tag):
    return client.post(URL, {"action": "add", "tag": tag})


def _remove(client, tag):
    return client.post(URL, {"action": "remove", "tag": tag})


def _tags(member):
    return Member.objects.get(pk=member.pk).access.get("rfid_tags")


@pytest.mark.django_db
def test_it_shows_tags_zero_padded(member_client):
    member = MemberFactory(access={"rfid_tags": ["12345", "0000067890"]})
    content = member_client(member).get(URL).content.decode()
    assert "<code>0000012345</code>" in content
    assert "<code>0000067890</code>" in content


@pytest.mark.django_db
def test_it_shows_unknown_for_a_null_access_column(member_client):
    response = member_client(MemberFactory(access=None)).get(URL)
    assert response.status_code == 200
    assert f"Your RFID tags: {UNKNOWN}" in response.content.decode()


@pytest.mark.django_db
def test_it_adds_a_tag_zero_padded_for_an_active_member(member_client):
    member = MemberFactory(access={"rfid_tags": ["0000000001"], "door_group": "main"})
    before = snapshot(member)
    response = _add(member_client(member), "12345")
    assert response.status_code == 302
    row = Member.objects.get(pk=member.pk)
    assert row.access == {"rfid_tags": ["0000000001", "0000012345"], "door_group": "main"}
    assert set(RfidTag.objects.filter(member=member).values_list("tag", flat=True)) == {
        "0000000001",
        "0000012345",
    }
    assert_one_write_by_the_member(member, before)


@pytest.mark.django_db
def test_it_accepts_a_full_ten_digit_tag_with_spaces(member_client):
    member = MemberFactory()
    _add(member_client(member), " 00123 45678 ")
    assert _tags(member) == ["0012345678"]


@pytest.mark.django_db
def test_it_adds_a_tag_to_a_null_access_column(member_client):
    member = MemberFactory(access=None)
    _add(member_client(member), "4242")
    assert Member.objects.get(pk=member.pk).access == {"rfid_tags": ["0000004242"]}


@pytest.mark.django_db
@pytest.mark.parametrize("stored", ["0000004242", "4242"])
def test_it_writes_nothing_when_the_tag_is_already_on_the_account(member_client, stored):
    member = MemberFactory(access={"rfid_tags": [stored]})
    before = snapshot(member)
    response = _add(member_client(member), "0000004242")
    assert response.status_code == 302
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_removes_a_tag_and_keeps_the_others_in_order(member_client):
    member = MemberFactory(access={"rfid_tags": ["0000000003", "12", "0000000001"], "x": 1})
    before = snapshot(member)
    response = _remove(member_client(member), "0000000012")
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).access == {
        "rfid_tags": ["0000000003", "0000000001"],
        "x": 1,
    }
    assert not RfidTag.objects.filter(tag="0000000012").exists()
    assert_one_write_by_the_member(member, before)


@pytest.mark.django_db
def test_it_writes_nothing_when_removing_a_tag_not_on_the_account(member_client):
    member = MemberFactory(access={"rfid_tags": ["0000000003"]})
    holder = MemberFactory(access={"rfid_tags": ["0000000009"]})
    before, holder_before = snapshot(member), snapshot(holder)
    _remove(member_client(member), "0000000009")
    assert snapshot(member) == before
    assert snapshot(holder) == holder_before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tag", ["", "abc", "12345678901", "12-34", "-1", "0x1F", "١٢٣", "12.5", "1e5", "99999999999"]
)
def test_it_refuses_a_badly_formed_tag_next_to_the_field(member_client, tag):
    member = MemberFactory()
    before = snapshot(member)
    response = _add(member_client(member), tag)
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["tag"]
    assert snapshot(member) == before


@pytest.mark.django_db
@pytest.mark.parametrize("tag", ["", "12345", "abcdefghij", "00000000001"])
def test_it_refuses_a_badly_formed_tag_to_remove(member_client, tag):
    member = MemberFactory(access={"rfid_tags": ["0000012345"]})
    before = snapshot(member)
    response = _remove(member_client(member), tag)
    assert response.status_code == 302
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_refuses_a_tag_held_by_another_member_with_a_message(member_client):
    holder = MemberFactory(access={"rfid_tags": ["0000012345"]})
    member = MemberFactory(access={"rfid_tags": ["0000000001"]})
    before, holder_before = snapshot(member), snapshot(holder)
    client = member_client(member)
    response = _add(client, "12345")
    assert response.status_code == 200
    assert "registered to another member" in response.context["form"].errors["tag"][0]
    assert snapshot(member) == before
    assert snapshot(holder) == holder_before
    assert RfidTag.objects.get(tag="0000012345").member_id == holder.pk
    # The refusal was contained in a savepoint: the same request cycle still works.
    assert client.get(URL).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status",
    [
        {"membership_status": "pending"},
        {"membership_status": "lapsed"},
        {"membership_status": "suspended"},
        {"membership_level": "New Member"},
        None,
    ],
    ids=["pending", "lapsed", "suspended", "no-membership-status", "null-status"],
)
def test_it_refuses_key_changes_from_a_member_who_is_not_active(member_client, status):
    member = MemberFactory(status=status, access={"rfid_tags": ["0000000001"]})
    before = snapshot(member)
    client = member_client(member)
    page = client.get(URL).content.decode()
    assert 'name="tag"' not in page
    for response in (_add(client, "4242"), _remove(client, "0000000001")):
        assert response.status_code == 403
        assert "Only active members can change their keys." in response.content.decode()
    assert snapshot(member) == before


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page_and_writes_nothing(member_client):
    member = MemberFactory(membership="banned", access={"rfid_tags": ["0000000001"]})
    client = member_client(member)
    for data in ({"action": "add", "tag": "4242"}, {"action": "remove", "tag": "0000000001"}):
        assert_post_sent_to_locked_writes_nothing(client, member, URL, data)


@pytest.mark.django_db
def test_it_changes_only_the_logged_in_members_tags(member_client):
    member = MemberFactory()
    other = MemberFactory(access={"rfid_tags": ["0000000002"]})
    other_before = snapshot(other)
    client = member_client(member)
    _add(client, "7")
    _remove(client, "0000000002")
    assert snapshot(other) == other_before
    assert _tags(member) == ["0000000007"]


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, URL)


@pytest.mark.django_db(transaction=True)
def test_it_lets_one_of_two_members_adding_the_same_tag_at_once_win():
    first, second = MemberFactory(), MemberFactory()
    answers = run_concurrently(
        *(partial(_add, logged_in(m.user), "5550001") for m in (first, second))
    )
    responses = {first.pk: answers[0], second.pk: answers[1]}

    codes = sorted(r.status_code for r in responses.values())
    assert codes == [200, 302]  # one redirect after adding, one form with the refusal
    holders = [m for m in (first, second) if _tags(m) == ["0005550001"]]
    assert len(holders) == 1
    loser = second if holders[0] == first else first
    assert _tags(loser) == []
    assert RfidTag.objects.get(tag="0005550001").member_id == holders[0].pk
    assert "registered to another member" in responses[loser.pk].content.decode()


def _waiting_on_a_lock():
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_tag_whose_concurrent_add_commits_while_the_page_waits():
    """The first writer holds its uncommitted tag while the page's write is proven to be
    waiting on it; once the first commits, the page answers with a message, not a 500."""
    first, second = MemberFactory(), MemberFactory()
    holding, release = threading.Event(), threading.Event()
    client = logged_in(second.user)

    def first_writer():
        with transaction.atomic():
            Member.objects.filter(pk=first.pk).add_rfid_tag("0000031337")
            holding.set()
            release.wait(30)

    writer = start(first_writer)
    assert holding.wait(30)
    request = start(partial(_add, client, "31337"))
    for _ in range(3000):
        if _waiting_on_a_lock() or not request.is_alive():
            break
        threading.Event().wait(0.01)
    blocked = _waiting_on_a_lock() > 0
    release.set()
    writer.join()
    [page] = request.join()

    assert blocked
    assert page.status_code == 200
    assert "registered to another member" in page.content.decode()
    assert _tags(first) == ["0000031337"]
    assert _tags(second) == []


@pytest.mark.django_db
@pytest.mark.parametrize("access", [{"rfid_tags": "0000000001"}, {"rfid_tags": {"a": 1}}])
def test_it_leaves_a_damaged_tag_list_for_staff_and_says_so(member_client, access):
    member = MemberFactory(access=access)
    before = snapshot(member)
    response = _add(member_client(member), "4242")
    assert response.status_code == 302
    assert snapshot(member) == before
    content = member_client(member).get(URL).content.decode()
    assert "Your keys could not be changed. Please contact staff." in content
