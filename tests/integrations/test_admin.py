"""The feed's admin: endpoint secrets never shown again, keys shown once, dead
deliveries listed with the answer and replayed, the resync action."""

import re

import pytest

from integrations.models import AccessKey, Delivery, DeliveryState, Endpoint
from integrations.services import key_hash
from tests.factories import MemberFactory, StaffFactory, logged_in
from tests.integrations import RESYNC_TASK, SEND_TASK
from tests.integrations.conftest import SECRET
from tests.jobs import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return logged_in(StaffFactory())


def endpoint_form(**fields):
    return {"name": "door", "url": "https://door.example.org/hook", "enabled": "on", **fields}


def test_it_never_shows_an_endpoint_secret_after_it_is_set(staff):
    response = staff.post(
        "/admin/integrations/endpoint/add/",
        endpoint_form(new_secret=SECRET, fields_chosen=["rfid_tags", "may_enter"]),
    )
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert (endpoint.secret, endpoint.fields) == (SECRET, ["may_enter", "rfid_tags"])
    for url in (
        f"/admin/integrations/endpoint/{endpoint.pk}/change/",
        "/admin/integrations/endpoint/",
    ):
        assert SECRET not in staff.get(url).content.decode()
    # A blank secret on the change form keeps it.
    staff.post(f"/admin/integrations/endpoint/{endpoint.pk}/change/", endpoint_form(name="Door"))
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.secret, endpoint.fields) == ("Door", SECRET, [])


def test_it_generates_a_secret_and_shows_it_once(staff):
    response = staff.post("/admin/integrations/endpoint/add/", endpoint_form())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    endpoint = Endpoint.objects.get()
    assert len(endpoint.secret) >= 32
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in staff.get("/admin/integrations/endpoint/").content.decode()


@pytest.mark.parametrize(
    "url", ["ftp://door.example.org/", "javascript:alert(1)", "file:///etc/passwd", "door"]
)
def test_it_refuses_an_endpoint_url_that_is_not_http(staff, url):
    response = staff.post("/admin/integrations/endpoint/add/", endpoint_form(url=url))
    assert response.status_code == 200
    assert "Enter an http:// or https:// URL." in response.content.decode() or (
        "Enter a valid URL." in response.content.decode()
    )
    assert not Endpoint.objects.exists()


def test_it_shows_a_new_access_key_once_and_keeps_its_hash(staff):
    response = staff.post("/admin/integrations/accesskey/add/", {"name": "front door"})
    assert response.status_code == 200
    key = re.search(r'<code id="shown-once">([^<]+)</code>', response.content.decode()).group(1)
    row = AccessKey.objects.get()
    assert row.key_hash == key_hash(key)
    assert key not in staff.get(f"/admin/integrations/accesskey/{row.pk}/change/").content.decode()
    assert (
        staff.post(
            "/admin/integrations/accesskey/",
            {"action": "revoke", "_selected_action": [row.pk]},
        ).status_code
        == 302
    )
    row.refresh_from_db()
    assert row.revoked_at is not None


def test_it_makes_a_key_with_the_scopes_ticked(staff):
    form = staff.get("/admin/integrations/accesskey/add/").content.decode()
    assert re.search(r'value="access:read"[^>]*checked', form)
    staff.post(
        "/admin/integrations/accesskey/add/",
        {"name": "door", "scopes": ["door-events:write", "metrics:read"]},
    )
    staff.post("/admin/integrations/accesskey/add/", {"name": "reader"})
    assert dict(AccessKey.objects.values_list("name", "scopes")) == {
        "door": ["door-events:write", "metrics:read"],
        "reader": ["access:read"],
    }
    listing = staff.get("/admin/integrations/accesskey/").content.decode()
    assert "door-events:write, metrics:read" in listing
    refused = staff.post(
        "/admin/integrations/accesskey/add/", {"name": "odd", "scopes": ["door:open"]}
    )
    assert refused.status_code == 200
    assert not AccessKey.objects.filter(name="odd").exists()


def _dead_delivery():
    member = MemberFactory()
    endpoint = Endpoint.objects.create(name="door", url="https://door.example.org/", secret=SECRET)
    event = member.feed_events.get()
    return Delivery.objects.create(
        endpoint=endpoint,
        event=event,
        member_id=member.pk,
        sequence=event.sequence,
        state=DeliveryState.DEAD,
        attempts=35,
        last_answer="HTTP 503 Service Unavailable: <b>down for maintenance</b>",
    )


def test_it_lists_dead_deliveries_with_the_answer_and_replays_them_in_bulk(staff, queue):
    delivery = _dead_delivery()
    page = staff.get("/admin/integrations/delivery/?needs=dead").content.decode()
    assert "HTTP 503 Service Unavailable: &lt;b&gt;down for maintenance&lt;/b&gt;" in page
    response = staff.post(
        "/admin/integrations/delivery/", {"action": "replay", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING
    assert [j["args"] for j in jobs(SEND_TASK)] == [{"delivery_id": delivery.pk}]


def test_it_replays_one_delivery_from_its_page(staff, queue):
    delivery = _dead_delivery()
    url = f"/admin/integrations/delivery/{delivery.pk}/"
    page = staff.get(url + "change/").content.decode()
    assert "Replay this delivery" in page
    assert staff.get(url + "replay/").status_code == 405  # no change on GET
    assert staff.post(url + "replay/").status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING
    assert len(jobs(SEND_TASK)) == 1
    assert Delivery.objects.dead().count() == 0


def test_it_queues_every_current_snapshot_for_a_new_endpoint(staff, queue):
    endpoint = Endpoint.objects.create(name="door", url="https://door.example.org/", secret=SECRET)
    response = staff.post(
        "/admin/integrations/endpoint/",
        {"action": "send_current_snapshots", "_selected_action": [endpoint.pk]},
    )
    assert response.status_code == 302
    assert [j["args"] for j in jobs(RESYNC_TASK)] == [{"endpoint_id": endpoint.pk}]


def test_it_lets_a_member_without_staff_rights_see_none_of_it():
    member = MemberFactory()
    client = logged_in(member.user)
    for url in ("/admin/integrations/endpoint/", "/admin/integrations/accesskey/"):
        assert client.get(url).status_code == 302


def test_it_names_the_member_and_shows_at_most_200_characters_of_an_answer(staff):
    delivery = _dead_delivery()
    error_page = "HTTP 502 Bad Gateway: <html>" + "<p>stack trace line</p>" * 500 + "</html>"
    Delivery.objects.filter(pk=delivery.pk).update(last_answer=error_page)
    for url in (
        "/admin/integrations/delivery/",
        f"/admin/integrations/delivery/{delivery.pk}/change/",
    ):
        page = staff.get(url).content.decode()
        assert f"#{delivery.member_id} Ada Lovelace" in page
        assert "HTTP 502 Bad Gateway: &lt;html&gt;&lt;p&gt;stack trace line" in page
        assert page.count("stack trace line") <= 200 // len("<p>stack trace line</p>") + 1


def test_it_lists_feed_events_with_the_member_and_the_fields_in_words(staff):
    member = MemberFactory()
    page = staff.get("/admin/integrations/feedevent/").content.decode()
    assert f"#{member.pk} Ada Lovelace" in page
    assert '["' not in page  # the changed fields as words, not a JSON list
