"""The admin index opens with what needs staff: counts, each a link to its list."""

import pytest
from django.contrib.auth.models import Permission

from billing.models import EventState
from dhportal import needs_staff
from integrations.models import DeliveryState
from members.models import NotificationKind, NotificationState
from tests.factories import MemberFactory, UserFactory


def _panel(client):
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    return (
        html.split('class="module todo-panel"', 1)[1].split("</section>", 1)[0]
        if ('class="module todo-panel"' in html)
        else ""
    )


@pytest.mark.django_db
def test_it_shows_the_number_of_partial_members_with_a_link(as_superuser):
    MemberFactory(notes=None)
    MemberFactory()
    panel = _panel(as_superuser)
    assert '<a href="/admin/members/member/?scaffolding=partial">1 partial member</a>' in panel


@pytest.mark.django_db
def test_it_counts_every_kind_of_work_with_a_link_to_exactly_those_rows(as_superuser):
    from tests.factories import StripeEventFactory

    MemberFactory(status=None)
    MemberFactory.create_batch(2, extras=None)
    paid = MemberFactory()
    paid.status.update(membership_status="pending", subscription_status="active")
    paid.save()
    holder = MemberFactory()
    MemberFactory(duplicate_of=holder)
    StripeEventFactory(state=EventState.FAILED)
    StripeEventFactory.create_batch(2, state=EventState.UNMATCHED)
    from members.models import Notification

    Notification.objects.create(
        member=holder, kind=NotificationKind.ACTIVATED, key="k1", state=NotificationState.FAILED
    )
    from integrations.models import Delivery, Endpoint, FeedEvent

    endpoint = Endpoint.objects.create(name="door", url="http://127.0.0.1:9/feed", secret="s")
    event = FeedEvent.objects.filter(member=holder).latest("id")  # written by the trigger
    Delivery.objects.create(
        endpoint=endpoint,
        event=event,
        member_id=holder.pk,
        sequence=event.sequence,
        state=DeliveryState.DEAD,
    )

    panel = _panel(as_superuser)
    expected = [
        ("/admin/members/member/?scaffolding=partial", "3 partial members"),
        ("/admin/members/member/?onboarding=awaiting", "1 member paid and awaiting activation"),
        ("/admin/members/member/?duplicates=only", "1 possible duplicate"),
        ("/admin/billing/stripeevent/?state__exact=failed", "1 failed Stripe event"),
        ("/admin/billing/stripeevent/?state__exact=unmatched", "2 unmatched Stripe events"),
        ("/admin/members/notification/?needs=failed", "1 failed notification"),
        ("/admin/integrations/delivery/?needs=dead", "1 dead feed delivery"),
    ]
    for href, text in expected:
        assert f'<a href="{href}">{text}</a>' in panel
    # Each link lists exactly what was counted.
    for href, text in expected:
        listed = as_superuser.get(href)
        assert listed.status_code == 200, href
        assert listed.context["cl"].result_count == int(text.split()[0]), href


@pytest.mark.django_db
def test_it_says_when_nothing_needs_staff(as_superuser):
    MemberFactory()
    panel = _panel(as_superuser)
    assert "Nothing needs staff right now." in panel
    assert "0 partial members" in panel


@pytest.mark.django_db
def test_it_takes_a_count_an_app_registers_with_one_call(as_superuser):
    needs_staff.register(
        "test_extra",
        ("thing to check", "things to check"),
        count=lambda: 4,
        url="admin:members_member_changelist",
        query="scaffolding=complete",
        permission="members.view_member",
    )
    try:
        panel = _panel(as_superuser)
    finally:
        needs_staff._REGISTRY.pop("test_extra")
    assert '<a href="/admin/members/member/?scaffolding=complete">4 things to check</a>' in panel


@pytest.mark.django_db
def test_it_shows_the_member_counts_to_view_only_staff_and_no_others(as_viewer):
    MemberFactory(extras=None)
    panel = _panel(as_viewer)
    assert "1 partial member" in panel
    assert "Stripe" not in panel


@pytest.mark.django_db
def test_it_hides_the_counts_from_staff_without_permissions(client):
    MemberFactory(extras=None)
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "partial" not in response.content.decode()


@pytest.mark.django_db
def test_it_shows_a_count_only_with_the_view_permission_on_its_list(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_stripeevent"))
    client.force_login(user)
    panel = _panel(client)
    assert "0 failed Stripe events" in panel
    assert "partial" not in panel


@pytest.mark.django_db
def test_it_refuses_the_index_to_non_staff(as_outsider):
    assert as_outsider.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_it_refuses_the_index_to_anonymous_visitors(client):
    assert client.get("/admin/").status_code == 302


# The admin in the space's words: its name in the header and title; the machinery (the
# job queue, the raw audit tables) on the index for superusers only.


@pytest.mark.django_db
def test_it_carries_the_space_name_in_the_header_and_title(as_superuser, settings):
    settings.SITE_NAME = "Harbour Makers"
    html = as_superuser.get("/admin/").content.decode()
    assert '<a href="/admin/">Harbour Makers staff</a>' in html
    assert "<title>Staff tools | Harbour Makers staff</title>" in html
    assert "Django administration" not in html and "Django site admin" not in html


def _index_apps(client) -> set[str]:
    return {app["app_label"] for app in client.get("/admin/").context["app_list"]}


@pytest.mark.django_db
def test_it_keeps_the_job_queue_and_audit_tables_off_the_index_of_other_staff(client):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_member", "view_procrastinatejob", "view_events"]
        )
    )
    client.force_login(staff)
    assert _index_apps(client) == {"members"}
    # Still reachable with the permission (the "needs staff" panel links failed jobs).
    assert client.get("/admin/procrastinate/procrastinatejob/").status_code == 200


@pytest.mark.django_db
def test_it_shows_the_job_queue_and_audit_tables_to_superusers(as_superuser):
    assert {"procrastinate", "pghistory", "members"} <= _index_apps(as_superuser)
