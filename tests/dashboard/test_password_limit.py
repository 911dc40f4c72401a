"""The dashboard's password-confirmed forms (the login email change, the password
change, the erasure request) allow a login five wrong passwords an hour between them;
after that they refuse, with 429 and without checking the password, so a session left
open cannot be used to guess it."""

import pytest

from members.models import ErasureRequest, User
from members.ratelimit import PASSWORD_FAILURES_PER_HOUR, PASSWORD_LOCKED_MESSAGE
from tests.factories import DEFAULT_PASSWORD, MemberFactory, logged_in
from tests.jobs import jobs

ACCOUNT = "/dashboard/account/"
PRIVACY = "/dashboard/privacy/"
TASK = "members.tasks.send_email_change_mail"
NEW_PASSWORD = "harbor-Lantern-5521"  # noqa: S105 - test data


def email_change(client, password):
    data = {"action": "email", "email": "ada.new@example.org", "current_password": password}
    return client.post(ACCOUNT, data)


def password_change(client, password):
    data = {
        "action": "password",
        "old_password": password,
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    }
    return client.post(ACCOUNT, data)


def erasure(client, password):
    return client.post(PRIVACY, {"erase": "1", "password": password})


@pytest.fixture
def client_of(db):
    member = MemberFactory(email="ada@example.org", user__email="ada@example.org")
    return member, logged_in(member.user)


def fail(client, times, form=email_change):
    return [form(client, "wrong-guess").status_code for _ in range(times)]


@pytest.mark.django_db
def test_it_refuses_the_email_change_after_five_wrong_passwords_even_the_right_one(
    client_of, monkeypatch
):
    member, client = client_of
    assert fail(client, PASSWORD_FAILURES_PER_HOUR) == [200] * 5
    checked = []
    check = User.check_password
    monkeypatch.setattr(User, "check_password", lambda u, p: checked.append(p) or check(u, p))
    response = email_change(client, DEFAULT_PASSWORD)
    assert checked == []  # refused without looking at the password
    assert response.status_code == 429
    errors = response.context["email_form"].errors
    assert errors["current_password"] == [PASSWORD_LOCKED_MESSAGE]
    assert PASSWORD_LOCKED_MESSAGE in response.content.decode()
    assert jobs(TASK) == []


@pytest.mark.django_db
def test_it_refuses_the_erasure_request_after_five_wrong_passwords(client_of):
    member, client = client_of
    assert fail(client, PASSWORD_FAILURES_PER_HOUR, form=erasure) == [400] * 5
    response = erasure(client, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert "Too many wrong passwords" in response.content.decode()
    assert not ErasureRequest.objects.exists()


@pytest.mark.django_db
def test_it_refuses_the_password_change_after_five_wrong_passwords(client_of):
    member, client = client_of
    assert fail(client, PASSWORD_FAILURES_PER_HOUR, form=password_change) == [200] * 5
    response = password_change(client, DEFAULT_PASSWORD)
    assert response.status_code == 429
    errors = response.context["password_form"].errors
    assert errors["old_password"] == [PASSWORD_LOCKED_MESSAGE]
    assert PASSWORD_LOCKED_MESSAGE in response.content.decode()
    assert User.objects.get(pk=member.user_id).check_password(DEFAULT_PASSWORD)


@pytest.mark.django_db
def test_the_forms_share_one_limit_per_login(client_of):
    member, client = client_of
    fail(client, 2)
    fail(client, 2, form=password_change)
    fail(client, 1, form=erasure)
    assert erasure(client, DEFAULT_PASSWORD).status_code == 429
    assert email_change(client, DEFAULT_PASSWORD).status_code == 429
    assert not ErasureRequest.objects.exists()
    # Another login's limit is its own.
    other = MemberFactory()
    assert erasure(logged_in(other.user), DEFAULT_PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_right_password_does_not_count_as_a_failure(client_of):
    member, client = client_of
    fail(client, PASSWORD_FAILURES_PER_HOUR - 1)
    assert email_change(client, DEFAULT_PASSWORD).status_code == 302
    # The fifth failure is still checked and answered as a wrong password.
    response = email_change(client, "wrong-guess")
    assert response.status_code == 200
    assert response.context["email_form"].errors["current_password"] == [
        "That is not your password."
    ]
    assert email_change(client, DEFAULT_PASSWORD).status_code == 429
