"""The entry log in admin, "Who is here", a member's last entries on their admin page,
and the admin index's links, against the running server, for staff with the right to
see door events (integrations.view_doorevent) and without it."""

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.door_admin import DoorEventAdmin
from tests.factories import DoorEventFactory, MemberFactory, UserFactory
from tests.integrations.doors import visitor_as

pytestmark = pytest.mark.django_db(transaction=True)

LOG = "/admin/integrations/doorevent/"
HERE = "/admin/integrations/doorevent/here/"


def staff_with(*codenames):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def door_staff():
    return staff_with("view_doorevent", "view_member")


def ago(**delta) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)


def listed(page: str) -> list[str]:
    """The event ids (the hidden 'time' links' targets) listed, top to bottom."""
    return re.findall(r'href="/admin/integrations/doorevent/(\d+)/change/', page)


def test_it_shows_the_entry_log_newest_first_to_staff_with_the_right(live_server, door_staff):
    old = DoorEventFactory(at=ago(days=3))
    new = DoorEventFactory(at=ago(minutes=5))
    middle = DoorEventFactory(at=ago(hours=2))

    page = visitor_as(live_server, door_staff).get(LOG)

    assert page.status == 200
    assert listed(page.text) == [str(new.pk), str(middle.pk), str(old.pk)]
    assert f'href="{HERE}"' in page.text
    for user in (staff_with("view_member"), UserFactory(is_staff=False)):
        assert visitor_as(live_server, user).get(LOG).status in (302, 403)
        assert visitor_as(live_server, user).get(HERE).status in (302, 403)


def test_it_filters_by_dates_door_granted_and_unmatched(live_server, door_staff):
    ada = MemberFactory()
    today = DoorEventFactory(at=ago(minutes=1), door="front", member=ada, tag="0000000001")
    refused = DoorEventFactory(at=ago(minutes=2), door="back", granted=False)
    last_week = DoorEventFactory(at=ago(days=6), door="front", member=ada)
    long_ago = DoorEventFactory(at=ago(days=60), door="shop")
    visitor = visitor_as(live_server, door_staff)
    day = timezone.localdate()

    def shown(query):
        page = visitor.get(f"{LOG}?{query}")
        assert page.status == 200, query
        return set(listed(page.text))

    week = f"from={(day - datetime.timedelta(days=7)).isoformat()}&to={day.isoformat()}"
    assert shown(week) == {str(e.pk) for e in (today, refused, last_week)}
    assert shown(f"to={(day - datetime.timedelta(days=30)).isoformat()}") == {str(long_ago.pk)}
    assert shown("door=front") == {str(today.pk), str(last_week.pk)}
    assert shown("granted=no") == {str(refused.pk)}
    assert shown("matched=no") == {str(refused.pk), str(long_ago.pk)}
    assert shown(f"matched=yes&{week}&door=front") == {str(today.pk), str(last_week.pk)}
    # A date that is not one is refused the way admin refuses any bad filter.
    assert visitor.get(f"{LOG}?from=yesterday").status == 302


def test_it_finds_events_by_member_name_number_or_tag(live_server, door_staff):
    ada = MemberFactory(identity={"first_name": "Ada", "last_name": "Byron"})
    bo = MemberFactory(identity={"first_name": "Bo", "last_name": "Diddley"})
    ada_in = DoorEventFactory(member=ada, tag="0000000111")
    bo_in = DoorEventFactory(member=bo, tag="0000000222")
    stranger = DoorEventFactory(tag="0000000333")
    visitor = visitor_as(live_server, door_staff)

    def found(term):
        return set(listed(visitor.get(f"{LOG}?q={term}").text))

    assert found("byron") == {str(ada_in.pk)}
    assert found(str(bo.pk)) == {str(bo_in.pk)}
    assert found("333") == {str(stranger.pk)}
    assert found("0000000222") == {str(bo_in.pk)}
    assert found("nobody-at-all") == set()


def test_it_never_counts_the_whole_table_for_a_page(door_staff, monkeypatch):
    monkeypatch.setattr(DoorEventAdmin, "count_cap", 3)
    for minutes in range(6):
        DoorEventFactory(at=ago(minutes=minutes))
    client = Client()
    client.force_login(door_staff)

    with CaptureQueriesContext(connection) as queries:
        page = client.get(LOG)

    assert page.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the paginator counts (up to its cap)"
    assert all("LIMIT 4" in sql for sql in counts), counts
    assert "more than 3 door events" in page.content.decode()


def test_it_shows_who_is_here_newest_first(live_server, door_staff, settings):
    settings.PRESENCE_HOURS = 12
    ada = MemberFactory(identity={"first_name": "Ada", "last_name": "Here"})
    bo = MemberFactory(identity={"first_name": "Bo", "last_name": "Here"})
    cy = MemberFactory(identity={"first_name": "Cy", "last_name": "Refused"})
    dee = MemberFactory(identity={"first_name": "Dee", "last_name": "Yesterday"})
    DoorEventFactory(member=ada, at=ago(hours=5))
    DoorEventFactory(member=ada, at=ago(hours=1), door="back")
    DoorEventFactory(member=bo, at=ago(hours=3))
    DoorEventFactory(member=cy, at=ago(hours=2), granted=False)
    DoorEventFactory(member=dee, at=ago(hours=13))
    DoorEventFactory(at=ago(hours=1))  # an unknown tag, let in

    page = visitor_as(live_server, door_staff).get(HERE)

    assert page.status == 200
    text = page.text
    assert text.index("Ada Here") < text.index("Bo Here")
    assert "Cy Refused" not in text and "Dee Yesterday" not in text
    assert text.count("Ada Here") == 1
    assert f"/admin/members/member/{ada.pk}/change/" in text
    assert "1 granted entry with a tag no member holds" in text
    assert "last 12 hours" in text


def test_it_links_who_is_here_and_the_entry_log_from_the_admin_index(live_server, door_staff):
    index = visitor_as(live_server, door_staff).get("/admin/")
    assert f'href="{HERE}"' in index.text
    assert f'href="{LOG}"' in index.text
    other = visitor_as(live_server, staff_with("view_member")).get("/admin/")
    assert other.status == 200
    assert HERE not in other.text


def test_it_shows_a_members_last_twenty_entries_on_their_page(live_server, door_staff):
    ada = MemberFactory()
    for hours in range(25):
        DoorEventFactory(member=ada, at=ago(hours=hours), door=f"door {hours}")
    DoorEventFactory(member=MemberFactory(), door="someone else's")
    change = f"/admin/members/member/{ada.pk}/change/"

    page = visitor_as(live_server, door_staff).get(change).text

    assert "The last 20 entries" in page
    assert "door 0<" in page and "door 19<" in page
    assert "door 20<" not in page and "someone else" not in page
    assert f"{LOG}?member__id__exact={ada.pk}" in page
    without = visitor_as(live_server, staff_with("view_member")).get(change)
    assert without.status == 200
    assert "Door entries" not in without.text
