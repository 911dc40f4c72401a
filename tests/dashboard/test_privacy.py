"""/dashboard/privacy/ (README, "Privacy"): the member's data as one JSON download, and the
erasure request."""

import json

import pytest

from dashboard.privacy import EXPORTS_PER_HOUR
from members import shapes
from members.models import ErasureRequest, Member, Notification
from members.services import DOWNLOAD_EVENT, EXPORT_NOTE
from tests.dashboard.conftest import assert_sends_to_login
from tests.factories import (
    DEFAULT_PASSWORD,
    MemberFactory,
    StripeEventFactory,
    SubscriptionFactory,
    logged_in,
)

pytestmark = pytest.mark.django_db

URL = "/dashboard/privacy/"


def _rich_member(tag="0001234567"):
    member = MemberFactory(
        connections={"phone": "+1 555 0142", "discord_username": "ada", "telegram": "@ada"},
        extras={"storage_id": 7, "storage_area": "Shelf B"},
        authorizations={"authorizations": ["Laser"], "computer_authorizations": ["CNC PC"]},
        access={"rfid_tags": [tag]},
    )
    Member.objects.filter(pk=member.pk).append_note("Brought cookies", author="staff")
    member.refresh_from_db()
    SubscriptionFactory(member=member, stripe_id=f"sub_Export{tag}", customer_id=f"cus_{tag}")
    Notification.objects.create(member=member, kind="lapsed", key="evt_x", state="sent")
    return member


def _download(client):
    response = client.post(URL, {"export": "1"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="member-')
    return json.loads(response.content)


def test_it_downloads_every_column_the_addresses_subscriptions_and_history():
    member = _rich_member()
    StripeEventFactory(member=member, stripe_id="evt_Export01")
    data = _download(logged_in(member.user))
    exported = data["member"]
    assert exported["id"] == member.pk and exported["email"] == member.email
    assert exported["username"] == member.username
    for column in shapes.COLUMNS:
        stored = getattr(Member.objects.get(pk=member.pk), column)
        if column == "notes":
            assert [n["note"] for n in exported["notes"]] == [n["note"] for n in stored]
            continue
        # Every stored key, known or not, with its value; known keys in the shape's order.
        assert {k: v for k, v in exported[column].items() if k in stored} == stored, column
        assert list(exported[column])[: len(shapes.keys(column))] == list(shapes.keys(column))
    assert exported["connections"]["telegram"] == "@ada"
    assert data["login"]["email_addresses"] == [
        {"email": member.email, "verified": True, "primary": True}
    ]
    assert [s["stripe_subscription_id"] for s in data["subscriptions"]] == ["sub_Export0001234567"]
    assert [n["kind"] for n in data["notifications"]] == ["lapsed"]
    assert [e["stripe_event_id"] for e in data["stripe_events"]] == ["evt_Export01"]
    history = data["history"]
    assert history[0]["what"] == "insert"
    assert history[-1]["row"]["notes"][-1]["note"] == EXPORT_NOTE


def test_it_gives_only_this_members_data():
    mine, other = _rich_member(), _rich_member(tag="0007654321")
    Member.objects.filter(pk=other.pk).append_note("Other's secret note", author="staff")
    text = json.dumps(_download(logged_in(mine.user)))
    needles = (other.email, other.username, other.billing_ref, "0007654321", "Other's secret")
    for needle in needles:
        assert needle not in text
    assert f'"id": {other.pk},' not in text


def test_it_records_each_download_as_the_members_own_write():
    member = MemberFactory()
    client = logged_in(member.user)
    _download(client)
    _download(client)
    member.refresh_from_db()
    assert [n["note"] for n in member.notes].count(EXPORT_NOTE) == 2
    event = member.events.order_by("pgh_id").last()
    assert event.pgh_context.metadata["source"] == "member"
    assert event.pgh_context.metadata["user"] == member.user.pk


def test_it_records_the_download_of_a_member_with_null_notes_without_writing_notes():
    member = MemberFactory(notes=None)
    assert Member.objects.partial().filter(pk=member.pk).exists()
    events = member.events.count()
    data = _download(logged_in(member.user))
    assert data["member"]["id"] == member.pk
    stored = Member.objects.get(pk=member.pk)
    # A NULL stays NULL (README, "Moving from Deep Harbor"): the record is as partial as it was.
    assert stored.notes is None
    assert Member.objects.partial().filter(pk=member.pk).exists()
    # The download is in the history all the same, as the member's own act.
    assert member.events.count() == events + 1
    event = member.events.order_by("pgh_id").last()
    assert event.pgh_label == DOWNLOAD_EVENT
    assert event.notes is None
    assert event.pgh_context.metadata["source"] == "member"
    assert event.pgh_context.metadata["user"] == member.user.pk
    # The copy the member downloads already lists it.
    assert data["history"][-1]["what"] == DOWNLOAD_EVENT
    assert EXPORT_NOTE not in json.dumps(data)


def test_it_leaves_a_damaged_notes_value_as_it_was_on_a_download():
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(notes={"not": "a list"})
    _download(logged_in(member.user))
    assert Member.objects.get(pk=member.pk).notes == {"not": "a list"}
    assert member.events.order_by("pgh_id").last().pgh_label == DOWNLOAD_EVENT


def test_it_limits_downloads_per_member():
    member = MemberFactory()
    client = logged_in(member.user)
    for _ in range(EXPORTS_PER_HOUR):
        _download(client)
    response = client.post(URL, {"export": "1"})
    assert response.status_code == 429
    assert "Content-Disposition" not in response
    # Another member's allowance is their own.
    assert logged_in(MemberFactory().user).post(URL, {"export": "1"}).status_code == 200


def test_it_sends_anonymous_visitors_to_log_in(client):
    assert_sends_to_login(client, URL)
    response = client.post(URL, {"export": "1"})
    assert response.status_code == 302 and "Content-Disposition" not in response


def test_it_lets_a_banned_member_reach_the_page_and_download():
    member = MemberFactory(membership="banned")
    client = logged_in(member.user)
    page = client.get(URL)
    assert page.status_code == 200
    assert b'name="export"' in page.content and b'name="erase"' in page.content
    assert _download(client)["member"]["id"] == member.pk


def test_it_opens_an_erasure_request_with_the_password():
    member = MemberFactory()
    client = logged_in(member.user)
    response = client.post(URL, {"erase": "1", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302 and response["Location"] == URL
    request = ErasureRequest.objects.get(member=member)
    assert request.erased_at is None and request.approved_by is None
    assert b"already asked" not in client.get(URL).content
    client.post(URL, {"erase": "1", "password": DEFAULT_PASSWORD})
    assert ErasureRequest.objects.filter(member=member).count() == 1


def test_it_refuses_an_erasure_request_with_a_wrong_password():
    member = MemberFactory()
    response = logged_in(member.user).post(URL, {"erase": "1", "password": "not-it"})
    assert response.status_code == 400
    assert b"That password is not right" in response.content
    assert not ErasureRequest.objects.exists()


def test_it_changes_nothing_on_get():
    member = MemberFactory()
    events = member.events.count()
    assert logged_in(member.user).get(URL, {"export": "1", "erase": "1"}).status_code == 200
    assert member.events.count() == events and not ErasureRequest.objects.exists()
