import pytest

from tests.dashboard.conftest import assert_sends_to_login
from tests.factories import MemberFactory


@pytest.mark.django_db
def test_it_shows_a_banned_member_the_locked_page(member_client):
    member = MemberFactory(membership="banned")
    response = member_client(member).get("/dashboard/locked/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Your account is locked" in content
    assert "/dashboard/profile/" not in content


@pytest.mark.django_db
def test_it_points_a_banned_member_to_their_data(member_client):
    client = member_client(MemberFactory(membership="banned"))
    assert 'href="/dashboard/privacy/"' in client.get("/dashboard/locked/").content.decode()
    assert client.get("/dashboard/privacy/").status_code == 200


@pytest.mark.django_db
def test_it_recognises_a_banned_status_whatever_its_case(member_client):
    member = MemberFactory(status={"membership_status": " Banned "})
    client = member_client(member)
    assert client.get("/dashboard/locked/").status_code == 200
    assert client.get("/dashboard/keys/")["Location"] == "/dashboard/locked/"


@pytest.mark.django_db
def test_it_sends_a_member_who_is_not_banned_to_the_dashboard(member_client):
    response = member_client(MemberFactory(membership="suspended")).get("/dashboard/locked/")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, "/dashboard/locked/")
