"""/api/check-username: advisory, only for holders of a valid continue link."""

import pytest
from django.test import Client

from signup.tokens import make_token
from tests.factories import MemberFactory, UserFactory


def check(client, username, token=None, **extra):
    params = {"username": username}
    if token is not False:
        params["token"] = make_token("visitor@example.org") if token is None else token
    return client.post("/api/check-username", params, **extra)


@pytest.mark.django_db
def test_it_says_a_free_name_is_available(client):
    response = check(client, "free_name")
    assert response.status_code == 200
    assert response.json() == {"available": True}


@pytest.mark.django_db
@pytest.mark.parametrize("asked", ["Taken", "taken", "TAKEN"])
def test_it_says_a_member_name_is_taken_ignoring_case(client, asked):
    MemberFactory(user__username="TaKeN")
    assert check(client, asked).json() == {"available": False}


@pytest.mark.django_db
def test_it_says_a_user_name_without_member_is_taken(client):
    UserFactory(username="staffname")
    assert check(client, "StaffName").json() == {"available": False}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    # A fixed id: the tampered token carries the time it was made.
    [False, "", "garbage", pytest.param(make_token("x@example.org")[:-2] + "zz", id="tampered")],
)
def test_it_refuses_without_a_valid_token(client, token):
    MemberFactory(user__username="taken")
    response = check(client, "taken", token=token)
    assert response.status_code == 400
    assert "error" in response.json() and "available" not in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "a" * 17, "bad name", "x<y", "nul\x00"])
def test_it_refuses_an_invalid_name_with_a_message(client, name):
    response = check(client, name)
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.django_db
def test_it_rate_limits_per_client_address(client, settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "check_username_ip": "2/60"}
    for _ in range(2):
        assert check(client, "name", REMOTE_ADDR="203.0.113.1").status_code == 200
    assert check(client, "name", REMOTE_ADDR="203.0.113.1").status_code == 429
    assert check(client, "name", REMOTE_ADDR="203.0.113.2").status_code == 200


@pytest.mark.django_db
def test_it_refuses_a_get_so_no_token_sits_in_a_url(client):
    token = make_token("visitor@example.org")
    response = client.get("/api/check-username", {"username": "x", "token": token})
    assert response.status_code == 405


@pytest.mark.django_db
def test_it_refuses_a_post_without_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/check-username", {"username": "x", "token": make_token("visitor@example.org")}
    )
    assert response.status_code == 403
