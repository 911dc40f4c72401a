import pytest

from members.models import Member
from members.scaffolding import NULLABLE_COLUMNS
from tests.factories import MemberFactory

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

PAGES = ("dashboard", "profile", "keys", "auths", "storage", "visits", "floof", "account")
ALL_URLS = [f"/dashboard/{p}/" if p != "dashboard" else "/dashboard/" for p in PAGES]
LOCKED_URL = "/dashboard/locked/"


def member_kinds():
    """The member records every page must render for, by name."""
    return {
        "active": {},
        "pending": {"membership": "pending"},
        "lapsed": {"membership": "lapsed"},
        "suspended": {"membership": "suspended"},
        "banned": {"membership": "banned"},
        "null_status": {"status": None},
        "status_without_membership_status": {
            "status": {"membership_level": "New Member", "renewal_date": None}
        },
        "null_membership_status": {"status": {"membership_status": None}},
        "unknown_membership_status": {"status": {"membership_status": "on-a-boat"}},
        "scaffolding_null": {
            "notes": None,
            "access": None,
            "authorizations": None,
            "extras": None,
        },
        "every_nullable_column_null": {
            "status": None,
            "connections": None,
            "forms": None,
            "notes": None,
            "access": None,
            "authorizations": None,
            "extras": None,
        },
        "empty_identity_and_objects": {
            "identity": {},
            "status": {},
            "connections": {},
            "forms": {},
            "access": {},
            "authorizations": {},
            "extras": {},
        },
        "wrong_types": {
            "identity": {"first_name": 7, "last_name": None, "pronouns": ["x"]},
            "status": {
                "membership_status": 3,
                "membership_level": {"x": 1},
                "renewal_date": "soon",
                "member_since": 20260115,
                "payment_problem": "yes",
            },
            "connections": {"discord_username": None},
            "forms": {"terms_of_use_accepted": "maybe", "orientation_completed_date": 5},
            "access": {"rfid_tags": "not-a-list"},
            "authorizations": {"authorizations": "all", "computer_authorizations": None},
            "extras": {"storage_id": {"shelf": 2}, "storage_area": 4},
        },
    }


def snapshot(member):
    """Everything a dashboard write could change, plus how many history events exist."""
    row = Member.objects.get(pk=member.pk)
    columns = ("identity", *NULLABLE_COLUMNS, "email", "username", "date_modified")
    state = {c: getattr(row, c) for c in columns}
    state["last_updated_by_id"] = row.last_updated_by_id
    state["events"] = row.events.count()
    return state


def last_event(member):
    return Member.objects.get(pk=member.pk).events.order_by("pgh_id").last()


def assert_one_write_by_the_member(member, before):
    """Since the `before` snapshot, one history event, recorded as the member's own."""
    after = snapshot(member)
    assert after["events"] == before["events"] + 1
    assert after["last_updated_by_id"] == member.user.pk
    metadata = last_event(member).pgh_context.metadata
    assert (metadata["source"], metadata["user"]) == ("member", member.user.pk)


def assert_sends_to_login(client, url):
    """An anonymous visitor asking for the page is sent to log in, and back after."""
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def assert_sends_a_banned_member_to_locked(member_client, url):
    response = member_client(MemberFactory(membership="banned")).get(url)
    assert response.status_code == 302
    assert response["Location"] == LOCKED_URL


def assert_post_sent_to_locked_writes_nothing(client, member, url, data):
    """A banned member's post is sent to the locked page and changes nothing."""
    before = snapshot(member)
    response = client.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == LOCKED_URL
    assert snapshot(member) == before


@pytest.fixture
def member_client(client):
    """A client logged in as the given member's user."""

    def login(member):
        client.force_login(member.user)
        return client

    return login


@pytest.fixture
def active_member(db):
    return MemberFactory()
