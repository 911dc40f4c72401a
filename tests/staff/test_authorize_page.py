"""The authorize page (/admin/members/member/<id>/authorizations/): the member's grants,
the grant form offering only the tools this user may grant, revoke buttons, a reason
for every refusal and nothing written then; its links from the member's page and the
admin index; the catalog's admin (rename, retire, trainers)."""

import datetime

import pytest
from django.utils import timezone

from members.grants import authorization_grant
from members.models import Authorization, AuthorizationGrant, Member
from tests.factories import MemberFactory, StaffFactory, logged_in
from tests.roles import staff_in
from tests.staff.conftest import messages_of


def _url(member):
    return f"/admin/members/member/{member.pk}/authorizations/"


def _state(member):
    return (
        Member.objects.values_list("authorizations", flat=True).get(pk=member.pk),
        list(AuthorizationGrant.objects.filter(member=member).values()),
    )


@pytest.fixture
def tools(db):
    laser = Authorization.objects.create(name="Laser cutter")
    lathe = Authorization.objects.create(name="Lathe")
    return laser, lathe


@pytest.mark.django_db
def test_it_offers_only_the_tools_this_user_may_grant(roles, tools):
    laser, lathe = tools
    Authorization.objects.create(name="Old kiln", retired=True)
    trainer = staff_in(roles["Authorizer"])
    lathe.trainers.add(StaffFactory())  # someone else trains the lathe
    html = logged_in(trainer).get(_url(MemberFactory())).content.decode()
    assert f'<option value="{laser.pk}">Laser cutter (physical)</option>' in html
    assert "Lathe" not in html and "Old kiln" not in html
    for name in ('name="authorization"', 'name="expires_on"', 'name="note"', 'name="grant"'):
        assert name in html


@pytest.mark.django_db
def test_it_grants_with_an_expiry_and_a_note_and_lists_the_grant(roles, tools):
    laser, _ = tools
    authorizer = staff_in(roles["Authorizer"])
    client, member = logged_in(authorizer), MemberFactory()
    expires = timezone.localdate() + datetime.timedelta(days=30)
    response = client.post(
        _url(member),
        {
            "authorization": laser.pk,
            "expires_on": expires.isoformat(),
            "note": "safety ok",
            "grant": "",
        },
        follow=True,
    )
    assert "Granted Laser cutter." in messages_of(response)
    grant = AuthorizationGrant.objects.get(member=member)
    assert (grant.granted_by, grant.expires_on, grant.note) == (authorizer, expires, "safety ok")
    html = response.content.decode()
    assert authorizer.username in html and expires.isoformat() in html
    assert f'name="revoke" value="{grant.pk}"' in html
    assert Member.objects.get(pk=member.pk).authorizations["authorizations"] == ["Laser cutter"]


@pytest.mark.django_db
def test_it_revokes_with_the_button_of_the_grant(roles, tools):
    laser, _ = tools
    authorizer = staff_in(roles["Authorizer"])
    member = MemberFactory()
    grant = authorization_grant(member_id=member.pk, authorization=laser, by=authorizer)
    response = logged_in(authorizer).post(_url(member), {"revoke": grant.pk}, follow=True)
    assert "Revoked Laser cutter." in messages_of(response)
    grant.refresh_from_db()
    assert grant.revoked_by == authorizer
    assert Member.objects.get(pk=member.pk).authorizations["authorizations"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("not a trainer", "Not granted: Only Laser cutter's trainers"),
        ("retired", "Not granted: Laser cutter is retired"),
        ("already granted", "Not granted: This member already holds Laser cutter"),
        ("banned", "Not granted: This member is banned"),
        ("merged away", "Not granted: This record was merged into member"),
        ("bad revoke", "Not revoked: This member has no such grant."),
    ],
)
def test_it_says_why_it_refuses_and_writes_nothing(roles, tools, case, reason):
    laser, _ = tools
    authorizer = staff_in(roles["Authorizer"])
    member = MemberFactory(membership="banned" if case == "banned" else "active")
    if case == "not a trainer":
        laser.trainers.add(StaffFactory())
    elif case == "retired":
        Authorization.objects.filter(pk=laser.pk).update(retired=True)
    elif case == "already granted":
        authorization_grant(member_id=member.pk, authorization=laser, by=authorizer)
    elif case == "merged away":
        Member.objects.filter(pk=member.pk).update(merged_into=MemberFactory())
    before = _state(member)
    data = {"revoke": "x"} if case == "bad revoke" else {"authorization": laser.pk, "grant": ""}
    response = logged_in(authorizer).post(_url(member), data, follow=True)
    assert response.status_code == 200
    assert any(m.startswith(reason) for m in messages_of(response)), messages_of(response)
    assert _state(member) == before


@pytest.mark.django_db
def test_it_lets_a_trainer_without_other_rights_open_it_and_grant_their_tool(roles, tools):
    laser, _ = tools
    trainer = staff_in(roles["Door logs"])
    laser.trainers.add(trainer)
    member = MemberFactory()
    client = logged_in(trainer)
    assert client.get(_url(member)).status_code == 200
    client.post(_url(member), {"authorization": laser.pk, "grant": ""})
    assert AuthorizationGrant.objects.get(member=member).granted_by == trainer


@pytest.mark.django_db
def test_it_refuses_staff_who_neither_see_authorizations_nor_train(roles, tools):
    laser, _ = tools
    member = MemberFactory()
    client = logged_in(staff_in(roles["Board"]))
    assert client.get(_url(member)).status_code == 403
    assert client.post(_url(member), {"authorization": laser.pk, "grant": ""}).status_code == 403
    assert not AuthorizationGrant.objects.exists()


@pytest.mark.django_db
def test_it_is_linked_from_the_members_page_and_the_admin_index(roles, tools):
    member = MemberFactory()
    client = logged_in(staff_in(roles["Authorizer"]))
    page = client.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert f'href="{_url(member)}"' in page
    index = client.get("/admin/").content.decode()
    assert "Grant a tool authorization" in index
    found = client.get("/admin/members/member/authorizations/", {"q": member.email})
    assert f'href="{_url(member)}"' in found.content.decode()


@pytest.mark.django_db
def test_the_catalog_admin_renames_retires_and_names_trainers(as_superuser, tools):
    laser, _ = tools
    trainer = StaffFactory()
    member = MemberFactory()
    authorization_grant(member_id=member.pk, authorization=laser, by=trainer)
    url = f"/admin/members/authorization/{laser.pk}/change/"
    page = as_superuser.get(url).content.decode()
    assert 'name="trainers"' in page and "selectfilter" in page  # filter_horizontal
    response = as_superuser.post(
        url, {"name": "Laser cutter (CO2)", "kind": "physical", "trainers": [trainer.pk]}
    )
    assert response.status_code == 302
    laser.refresh_from_db()
    assert laser.name == "Laser cutter (CO2)" and list(laser.trainers.all()) == [trainer]
    response = as_superuser.post(
        "/admin/members/authorization/",
        {"action": "retire", "_selected_action": [laser.pk]},
        follow=True,
    )
    assert "Retired 1 tool." in messages_of(response)
    laser.refresh_from_db()
    assert laser.retired
    # The grant made stays.
    assert AuthorizationGrant.objects.filter(member=member, revoked_at=None).count() == 1


@pytest.mark.django_db
def test_the_member_pages_ticks_grant_through_the_same_rule(roles, tools):
    from tests.staff.formdata import change_page_data

    laser, lathe = tools
    lathe.trainers.add(StaffFactory())
    authorizer = staff_in(roles["Authorizer"])
    client, member = logged_in(authorizer), MemberFactory()
    url = f"/admin/members/member/{member.pk}/change/"
    before = _state(member)
    refused = client.post(
        url, change_page_data(client, url, authorizations__authorizations=["Lathe"])
    )
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors["authorizations__authorizations"]
    assert errors[0].startswith("Only Lathe's trainers")
    assert _state(member) == before
    granted = client.post(
        url, change_page_data(client, url, authorizations__authorizations=["Laser cutter"])
    )
    assert granted.status_code == 302
    grant = AuthorizationGrant.objects.get(member=member)
    assert (grant.authorization, grant.granted_by) == (laser, authorizer)
