"""The admin index shows the partial-members notice, linking to the filter."""

import pytest

from tests.factories import MemberFactory


@pytest.mark.django_db
def test_it_shows_the_number_of_partial_members_with_a_link(as_superuser):
    MemberFactory(notes=None)
    MemberFactory()
    html = as_superuser.get("/admin/").content.decode()
    assert "1 member is partial" in html
    assert 'href="/admin/members/member/?scaffolding=partial"' in html


@pytest.mark.django_db
def test_it_shows_no_notice_when_every_member_is_complete(as_superuser):
    MemberFactory()
    assert "partial (missing columns)" not in as_superuser.get("/admin/").content.decode()


@pytest.mark.django_db
def test_it_shows_the_notice_to_view_only_staff(as_viewer):
    MemberFactory(extras=None)
    assert "1 member is partial" in as_viewer.get("/admin/").content.decode()


@pytest.mark.django_db
def test_it_hides_the_notice_from_staff_without_member_permissions(client):
    from tests.factories import UserFactory

    MemberFactory(extras=None)
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "partial" not in response.content.decode()


@pytest.mark.django_db
def test_it_refuses_the_index_to_non_staff(as_outsider):
    assert as_outsider.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_it_refuses_the_index_to_anonymous_visitors(client):
    assert client.get("/admin/").status_code == 302
