"""Erasure requests in admin (README, "Privacy"): the `erase` action's confirmation page,
permissions, refusals, staff opening a request, and the admin index's count."""

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission

from members.erasure import LIVE_SUBSCRIPTION_REFUSAL
from members.models import ErasureRequest, Member
from tests.factories import MemberFactory, UserFactory
from tests.staff.conftest import messages_of

pytestmark = pytest.mark.django_db

LIST = "/admin/members/erasurerequest/"


def _erase(client, *requests, confirm=True):
    data = {"action": "erase", helpers.ACTION_CHECKBOX_NAME: [r.pk for r in requests]}
    if confirm:
        data["confirm"] = "yes"
    return client.post(LIST, data, follow=confirm)


def test_it_asks_for_confirmation_before_erasing(as_superuser):
    request = ErasureRequest.objects.create(member=MemberFactory(membership="lapsed"))
    response = _erase(as_superuser, request, confirm=False)
    assert response.status_code == 200
    assert b"cannot be undone" in response.content and b'name="confirm"' in response.content
    assert ErasureRequest.objects.get(pk=request.pk).erased_at is None


def test_it_erases_with_counts_and_refusals(as_superuser, superuser):
    done = ErasureRequest.objects.create(member=MemberFactory(membership="lapsed"))
    paying = MemberFactory()
    Member.objects.filter(pk=paying.pk).merge_json("status", {"subscription_status": "active"})
    refused = ErasureRequest.objects.create(member=paying)
    response = _erase(as_superuser, done, refused)
    text = " ".join(messages_of(response))
    assert "Erased 1 member." in text
    assert f"member #{paying.pk}: {LIVE_SUBSCRIPTION_REFUSAL}" in text
    done.refresh_from_db()
    assert done.erased_at is not None and done.approved_by == superuser
    assert Member.objects.get(pk=done.member_id).email == ""
    assert ErasureRequest.objects.get(pk=refused.pk).erased_at is None
    assert Member.objects.get(pk=paying.pk).email == paying.email
    # Again: harmless, and said so.
    text = " ".join(messages_of(_erase(as_superuser, done)))
    assert "Erased 0 members. 1 request was already done." in text


def test_it_refuses_the_action_to_view_only_staff(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_erasurerequest", "view_member"])
    )
    client.force_login(viewer)
    request = ErasureRequest.objects.create(member=MemberFactory(membership="lapsed"))
    page = client.get(LIST)
    assert page.status_code == 200 and b'value="erase"' not in page.content
    _erase(client, request)
    assert ErasureRequest.objects.get(pk=request.pk).erased_at is None
    assert Member.objects.get(pk=request.member_id).email != ""


def test_it_lets_staff_open_a_request_for_a_member(as_superuser):
    member = MemberFactory()
    response = as_superuser.post(
        "/admin/members/member/",
        {"action": "open_erasure_requests", helpers.ACTION_CHECKBOX_NAME: [member.pk]},
        follow=True,
    )
    assert "Opened 1 erasure request." in messages_of(response)
    as_superuser.post("/admin/members/erasurerequest/add/", {"member": member.pk})
    assert ErasureRequest.objects.filter(member=member, erased_at=None).count() == 1
    other = MemberFactory()
    response = as_superuser.post("/admin/members/erasurerequest/add/", {"member": other.pk})
    assert response.status_code == 302
    assert ErasureRequest.objects.filter(member=other).count() == 1


def test_it_counts_open_requests_on_the_admin_index(as_superuser):
    ErasureRequest.objects.create(member=MemberFactory())
    ErasureRequest.objects.create(member=MemberFactory())
    content = as_superuser.get("/admin/").content.decode()
    assert "2 open erasure requests" in content
    assert f"{LIST}?state=open" in content


@pytest.mark.django_db
def test_it_names_the_member_of_each_request_in_the_list(as_superuser):
    member = MemberFactory()
    ErasureRequest.objects.create(member=member)
    html = as_superuser.get("/admin/members/erasurerequest/").content.decode()
    link = f'<a href="/admin/members/member/{member.pk}/change/">#{member.pk} Ada Lovelace</a>'
    assert link in html
