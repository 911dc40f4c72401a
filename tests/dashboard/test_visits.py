"""/dashboard/visits/: the member's own last 100 door entries, newest first, against
the running server."""

import datetime

import pytest
from django.utils import timezone

from tests.dashboard.conftest import ESCAPED, SCRIPT, assert_sends_a_banned_member_to_locked
from tests.factories import DoorEventFactory, MemberFactory
from tests.integrations.doors import visitor_as

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/dashboard/visits/"


def test_it_lists_the_members_last_hundred_entries_newest_first(live_server):
    member = MemberFactory()
    now = timezone.now()
    for n in range(105):
        DoorEventFactory(
            member=member,
            at=now - datetime.timedelta(hours=n),
            door=f"door-{n}",
            granted=n != 1,
        )
    DoorEventFactory(member=MemberFactory(), door="not-theirs")
    DoorEventFactory(member=None, door="unknown-tag")

    page = visitor_as(live_server, member.user).get(URL)

    assert page.status == 200
    text = page.text
    assert "Your last 100 door entries, newest first" in text
    assert text.index("door-0<") < text.index("door-1<") < text.index("door-99<")
    assert "door-100<" not in text
    assert "not-theirs" not in text and "unknown-tag" not in text
    assert text.count(">refused<") == 1
    assert text.count(">granted<") == 99


def test_it_is_linked_from_the_dashboard_menu_and_says_when_there_is_nothing(live_server):
    member = MemberFactory()
    visitor = visitor_as(live_server, member.user)

    assert f'href="{URL}"' in visitor.get("/dashboard/").text
    assert "No door entries yet." in visitor.get(URL).text


def test_it_escapes_a_door_name_a_controller_sent(live_server):
    member = MemberFactory()
    DoorEventFactory(member=member, door=SCRIPT)

    text = visitor_as(live_server, member.user).get(URL).text

    assert SCRIPT not in text
    assert ESCAPED in text


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page(member_client):
    assert_sends_a_banned_member_to_locked(member_client, URL)
