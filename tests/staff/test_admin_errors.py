"""Staff get a 400 or a 404, never a 500, for what the admin's lists, the audit history
and the "view on site" redirect used to pass to the database or to pghistory as given:
datetimes with an offset PostgreSQL cannot hold, malformed ?obj= filters, events of a
model that has no events, and content types whose rows have no table or no page."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from members.models import Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/members/member/"
EVENTS_URL = "/admin/pghistory/events/"


@pytest.fixture
def historian(client):
    """View-only staff who may also read the audit history."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_member", "view_events"])
    )
    client.force_login(user)
    return client


def _listed(response):
    return {member.pk for member in response.context["cl"].result_list}


# --- datetime filters on any admin list ----------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"date_added__gte": "0001-01-01T00:00:00+23:59"},
        {"date_added__lt": "2026-01-01T00:00:00-16:00"},
        {"date_added": "2026-01-01T00:00:00+16:00"},
        {"date_added__gte": "2026-01-01T00:00:00+05:00:00.500000"},
        {"date_added__in": "2026-01-01T00:00:00Z,2026-01-01T00:00:00+20:00"},
        {"date_added__range": "2026-01-01T00:00:00-18:00,2026-02-01T00:00:00Z"},
    ],
)
def test_it_refuses_a_datetime_filter_whose_offset_the_database_cannot_hold(as_viewer, query):
    MemberFactory()
    response = as_viewer.get(LIST_URL, query)
    assert response.status_code == 400


def test_it_refuses_such_an_offset_in_the_history_list_too(historian):
    response = historian.get(EVENTS_URL, {"pgh_created_at__gte": "2026-01-01T00:00:00+23:59"})
    assert response.status_code == 400


def test_it_still_filters_by_a_datetime_with_an_offset_the_database_holds(as_viewer):
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(
        date_added=datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)
    )
    # 2026-01-02T03:59 at +15:59 is 2026-01-01T12:00 UTC; 00:00:02 at -11:59:59 is 12:00:01.
    on_time = as_viewer.get(LIST_URL, {"date_added__gte": "2026-01-02T03:59:00+15:59"})
    assert on_time.status_code == 200
    assert member.pk in _listed(on_time)
    later = as_viewer.get(LIST_URL, {"date_added__gte": "2026-01-02T04:00:00+15:59"})
    assert later.status_code == 200
    assert member.pk not in _listed(later)
    west = as_viewer.get(LIST_URL, {"date_added__lt": "2026-01-01T00:00:02-11:59:59"})
    assert west.status_code == 200
    assert member.pk in _listed(west)


# --- the audit history's object filter ------------------------------------------


@pytest.mark.parametrize(
    "pk", ["abc", "1.5", "1:2", "99999999999999999999", "", "-1", "\x00", "1e3"]
)
def test_it_answers_a_malformed_history_object_filter_with_a_400(historian, pk):
    MemberFactory()
    response = historian.get(EVENTS_URL, {"obj": f"members.Member:{pk}"})
    assert response.status_code == 400


def test_it_answers_a_history_object_filter_without_a_colon_with_a_400(historian):
    assert historian.get(EVENTS_URL, {"obj": "members.Member"}).status_code == 400


@pytest.mark.parametrize(
    "obj",
    ["members.Member:{missing}", "auth.Permission:1", "no.Such:1", "nosuch:1", ":1"],
)
def test_it_answers_a_history_object_that_has_no_events_with_a_404(historian, obj):
    member = MemberFactory()
    response = historian.get(EVENTS_URL, {"obj": obj.format(missing=member.pk + 1000)})
    assert response.status_code == 404


@pytest.mark.parametrize("method", [None, "tracks", "references"])
def test_it_lists_a_members_events_by_the_object_filter(historian, method):
    member = MemberFactory()
    query = {"obj": f"members.Member:{member.pk}", **({"method": method} if method else {})}
    response = historian.get(EVENTS_URL, query)
    assert response.status_code == 200
    if method != "references":
        models = {event.pgh_obj_model for event in response.context["cl"].result_list}
        assert models == {"members.Member"}


def test_it_lists_the_events_that_point_at_a_login(historian):
    member = MemberFactory()
    response = historian.get(EVENTS_URL, {"obj": f"members.User:{member.user_id}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "obj", ["members.Member:abc", "members.Member:999999", "auth.Permission:1"]
)
def test_it_answers_staff_without_the_history_permission_403_whatever_the_filter(as_viewer, obj):
    # Checked first, so the answer cannot tell someone who may not read the history
    # whether a row exists.
    assert as_viewer.get(EVENTS_URL, {"obj": obj}).status_code == 403


@pytest.mark.parametrize("event_model", ["auth.permission", "members.member", "nosuch", "a.b.c"])
def test_it_answers_an_event_model_filter_that_is_no_event_model_with_a_400(historian, event_model):
    assert historian.get(EVENTS_URL, {"event_model": event_model}).status_code == 400


def test_it_still_filters_by_an_event_model(historian):
    MemberFactory()
    response = historian.get(EVENTS_URL, {"event_model": "members.memberevent"})
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


# --- an event's own pages ---------------------------------------------------------


@pytest.mark.parametrize("view", ["change", "history", "delete"])
@pytest.mark.parametrize(
    "event_id", ["auth.Permission:1", "members.Member:1", "auth.Permission_3A1"]
)
def test_it_answers_an_event_of_a_model_without_events_with_a_404(
    as_viewer, historian, view, event_id
):
    for client in (as_viewer, historian):
        assert client.get(f"{EVENTS_URL}{event_id}/{view}/").status_code == 404


def test_it_still_shows_a_real_event(historian):
    member = MemberFactory()
    event = member.pgh_event_model.objects.filter(pgh_obj=member).latest("pgh_id")
    response = historian.get(f"{EVENTS_URL}members.MemberEvent_3A{event.pgh_id}/change/")
    assert response.status_code == 200


# --- admin/r/<content_type_id>/<object_id>/ --------------------------------------


@pytest.mark.parametrize("object_id", ["1", "abc", "1.5", "99999999999999999999", "%00", "a/b"])
def test_it_answers_view_on_site_for_any_content_type_and_id_with_a_404(as_viewer, object_id):
    MemberFactory()
    for content_type in ContentType.objects.all():
        response = as_viewer.get(f"/admin/r/{content_type.pk}/{object_id}/")
        assert response.status_code == 404, content_type


def test_it_answers_view_on_site_for_a_missing_content_type_with_a_404(as_viewer):
    assert as_viewer.get("/admin/r/99999999999999999999/1/").status_code == 404
    assert as_viewer.get("/admin/r/0/1/").status_code == 404


def test_it_keeps_view_on_site_for_staff_only(client, as_outsider):
    content_type = ContentType.objects.get_for_model(Member)
    url = f"/admin/r/{content_type.pk}/1/"
    login = f"/admin/login/?next={url}"
    assert as_outsider.get(url).url == login
    client.logout()
    assert client.get(url).url == login


@pytest.mark.parametrize("content_type_id", ["abc", "1.5", "-1", "%00", "1/2"])
def test_it_answers_view_on_site_for_a_content_type_id_that_is_no_number_with_a_404(
    as_viewer, content_type_id
):
    assert as_viewer.get(f"/admin/r/{content_type_id}/1/").status_code == 404


def test_it_refuses_such_an_offset_in_another_apps_admin_list_too(as_superuser):
    # procrastinate registers its job admin itself; every registered admin gets the
    # project's refusals.
    query = {"scheduled_at__gte": "0001-01-01T00:00:00+23:59"}
    assert as_superuser.get("/admin/procrastinate/procrastinatejob/", query).status_code == 400
    allowed = as_superuser.get("/admin/procrastinate/procrastinatejob/", {"id__gte": "1"})
    assert allowed.status_code == 200
