"""Admin login goes through allauth's login page, and so through its rate limits."""

import pytest

from tests.factories import DEFAULT_PASSWORD

LOGIN = "/admin/login/"


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_the_allauth_login(client):
    response = client.get(LOGIN + "?next=/admin/members/member/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "%2Fadmin%2Fmembers%2Fmember%2F" in response["Location"]


@pytest.mark.django_db
def test_it_does_not_accept_credentials_posted_to_the_admin_login(client, superuser):
    response = client.post(LOGIN, {"username": superuser.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_it_lets_staff_in_after_the_allauth_login(client, superuser):
    response = client.post(
        "/accounts/login/?next=/admin/",
        {"login": superuser.email, "password": DEFAULT_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_it_refuses_the_admin_login_to_a_logged_in_member(as_outsider):
    assert as_outsider.get(LOGIN).status_code == 403


@pytest.mark.django_db
def test_it_rate_limits_failed_staff_logins(client, superuser):
    for _ in range(5):
        client.post("/accounts/login/", {"login": superuser.email, "password": "wrong"})
    response = client.post(
        "/accounts/login/?next=/admin/",
        {"login": superuser.email, "password": DEFAULT_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/admin/").status_code == 302
