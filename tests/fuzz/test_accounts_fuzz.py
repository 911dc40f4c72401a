"""Fuzzing allauth's pages as this site configures them: login, password reset, the
reset link, and every other account page that takes a post. No answer is a 5xx; a
login or password change happens whole (for the right password only) or not at all."""

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2SHA1PasswordHasher
from django.core import mail
from django.utils.http import url_has_allowed_host_and_scheme
from hypothesis import strategies as st

from members.models import Member, User
from tests.factories import MemberFactory
from tests.fuzz.fuzzing import (
    assert_not_5xx,
    body_for,
    form_body,
    form_data,
    fresh,
    nasty_text,
    path_segment,
    post,
    query_text,
    run,
)

pytestmark = pytest.mark.django_db

PASSWORD = "fuzz-Login-pass-2026"
# A legacy hash of PASSWORD, from a hasher Django still accepts but no longer prefers:
# checking a wrong guess against it costs nothing, where the default hasher (or a
# weaker hash of its own kind, which Django pads to the same cost) would spend a tenth
# of a second on every example. A right guess upgrades it to the default hasher, as
# for any member with an old hash.
CHEAP_HASH = PBKDF2SHA1PasswordHasher().encode(PASSWORD, "fuzzsalt", iterations=1)
NEW_PASSWORD = "another-Secret-word-77"
# The right password last and rare: a right guess upgrades the hash, which is slow.
WRONG = st.one_of(nasty_text, st.text(max_size=30))
RIGHT_NOW_AND_THEN = st.one_of(WRONG, WRONG, WRONG, WRONG, WRONG, st.just(PASSWORD))


@pytest.fixture
def member():
    return MemberFactory(user__password=CHEAP_HASH, user__email="lovelace@example.org")


def counts():
    return (User.objects.count(), Member.objects.count(), EmailAddress.objects.count())


def user_row(user):
    return User.objects.filter(pk=user.pk).values().get()


def logged_in_as(client):
    return client.session.get("_auth_user_id")


def assert_stays_on_site(response):
    """A fuzzed `next` never sends the visitor to another site (this site's own names,
    ALLOWED_HOSTS, are its own)."""
    location = response["Location"]
    hosts = {"testserver", *settings.ALLOWED_HOSTS}
    assert url_has_allowed_host_and_scheme(location, allowed_hosts=hosts), location


def _email_variants(email):
    return st.sampled_from([email, email.upper(), f"  {email} ", email.capitalize()])


def _login_fields(email):
    return {
        "login": st.one_of(_email_variants(email), st.emails(), nasty_text),
        "password": RIGHT_NOW_AND_THEN,
        "remember": st.sampled_from(["on", "", "1", "false"]),
    }


def test_it_logs_in_only_with_the_right_password_and_never_answers_5xx(client, member):
    user = member.user
    bodies = body_for(
        form_data(
            _login_fields(member.email),
            extra_names=["next", "csrfmiddlewaretoken", "email", "username"],
            mutations=st.sampled_from([2, 1, 3, 4, 0]),
        )
    )

    def check(body):
        before, before_counts = user_row(user), counts()
        response = post(fresh(client), "/accounts/login/", body)
        assert_not_5xx(response)
        assert counts() == before_counts
        after = user_row(user)
        if logged_in_as(client) is None:
            assert response.status_code in (200, 400)
            assert after == before
            return
        assert logged_in_as(client) == str(user.pk)
        assert response.status_code == 302
        assert_stays_on_site(response)
        assert after["last_login"] != before["last_login"]
        assert {k: v for k, v in after.items() if k not in ("last_login", "password")} == {
            k: v for k, v in before.items() if k not in ("last_login", "password")
        }
        if body.fields is not None:
            fields = body.fields
            assert str(_last(fields, "password")) == PASSWORD
            assert str(_last(fields, "login")).strip().lower() == member.email
            if "next" not in fields:
                assert response["Location"] == settings.LOGIN_REDIRECT_URL

    run(
        bodies,
        check,
        explicit=[
            form_body({"login": member.email, "password": PASSWORD}),
            form_body({"login": member.email, "password": PASSWORD + "x"}),
            form_body({"login": "nobody@example.org", "password": PASSWORD}),
        ],
    )


def _last(fields, name):
    value = fields.get(name)
    return value[-1] if isinstance(value, list) and value else value


def test_it_answers_any_password_reset_request_without_a_5xx_or_a_write(client, member):
    user = member.user
    fields = {"email": st.one_of(_email_variants(member.email), st.emails(), nasty_text)}
    bodies = body_for(form_data(fields, extra_names=["login", "next"]))

    def check(body):
        before, before_counts = user_row(user), counts()
        response = post(fresh(client), "/accounts/password/reset/", body)
        assert_not_5xx(response)
        assert (user_row(user), counts()) == (before, before_counts)
        assert logged_in_as(client) is None
        if response.status_code == 302:
            assert_stays_on_site(response)
            if body.fields is not None and "next" not in body.fields:
                assert response["Location"] == "/accounts/password/reset/done/"
            assert len(mail.outbox) == 1
        else:
            assert response.status_code in (200, 400)
            assert mail.outbox == []

    run(bodies, check, explicit=[form_body({"email": member.email})])


UNMAILABLE = ["someone@example.a\ufffd", "someone@" + "\u00e9" * 60 + ".org"]


@pytest.mark.parametrize("email", UNMAILABLE)
def test_it_answers_a_reset_for_an_unmailable_domain_without_a_5xx(client, email):
    response = client.post("/accounts/password/reset/", {"email": email})
    assert response.status_code == 200
    # Refused with email-validator's reason (members/emails.py), not mailed.
    assert "The part after the @-sign" in response.content.decode()
    assert mail.outbox == []


def _reset_paths(member):
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    uid = user_pk_to_url_str(member.user)
    token = default_token_generator.make_token(member.user)
    base36 = st.text("0123456789abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=30)
    return st.one_of(
        st.builds(lambda u, k: f"{u}-{k}", base36, query_text.filter(lambda t: "/" not in t)),
        st.builds(lambda k: f"{uid}-{k}", st.text(max_size=40).filter(lambda t: "/" not in t)),
        st.builds(lambda cut: f"{uid}-{token[:cut]}", st.integers(0, len(token) - 1)),
        st.just(f"{uid}-{token}x"),
        st.just(f"{uid}-set-password"),
        # Another member's number with this member's token.
        st.builds(lambda u: f"{u}-{token}", base36.filter(lambda u: u.lstrip("0") != uid)),
    )


def test_it_refuses_any_broken_reset_link_without_a_5xx_or_a_write(client, member):
    user = member.user
    bodies = body_for(
        form_data(
            {"password1": st.just(NEW_PASSWORD), "password2": st.just(NEW_PASSWORD)},
            extra_names=["key", "uidb36"],
        )
    )

    def check(example):
        key, method, body = example
        before, before_counts = user_row(user), counts()
        path = f"/accounts/password/reset/key/{path_segment(key)}/"
        if method == "POST":
            response = post(fresh(client), path, body)
        else:
            response = fresh(client).generic(method, path)
        assert_not_5xx(response)
        assert (user_row(user), counts()) == (before, before_counts)
        assert logged_in_as(client) is None

    run(
        st.tuples(
            _reset_paths(member),
            st.sampled_from(["POST", "POST", "GET"]),
            bodies,
        ),
        check,
    )


# Every other account page that takes a post, with the fields any of them reads.
ACCOUNT_FIELDS = {
    "oldpassword": RIGHT_NOW_AND_THEN,
    "password": RIGHT_NOW_AND_THEN,
    "password1": st.one_of(st.just(NEW_PASSWORD), nasty_text),
    "password2": st.one_of(st.just(NEW_PASSWORD), nasty_text),
    "email": st.one_of(st.emails(), nasty_text),
    "code": nasty_text,
    "action_add": st.just(""),
    "action_remove": st.just(""),
    "next": st.sampled_from(["/dashboard/", "//evil.example/", "https://evil.example/", ""]),
}
# The account pages that act on a signed-in member's post.
FORM_PAGES = [
    "/accounts/logout/",
    "/accounts/password/change/",
    "/accounts/password/set/",
    "/accounts/reauthenticate/",
]
# Pages whose post does nothing here (a closed or unused allauth feature, a redirect,
# a notice), as (url, signed in): one run covers them all, a page per example.
OTHER_PAGES = [
    ("/accounts/email/", True),
    ("/accounts/login/", True),
    ("/accounts/signup/", False),
    ("/accounts/inactive/", False),
    ("/accounts/confirm-email/", False),
    ("/accounts/confirm-email/some-key/", True),
    ("/accounts/login/code/confirm/", False),
    ("/accounts/reauthenticate/code/", True),
    ("/accounts/reauthenticate/code/confirm/", True),
    ("/accounts/password/reset/done/", False),
    ("/accounts/password/reset/key/done/", False),
]


def _account_check(client, member):
    user = member.user
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value

    def check(example):
        (url, signed_in), body = example
        fresh(client)
        if signed_in:
            client.cookies[settings.SESSION_COOKIE_NAME] = session
        before, before_counts = user_row(user), counts()
        response = post(client, url, body)
        assert_not_5xx(response)
        if response.status_code in (301, 302, 303, 307, 308):
            assert_stays_on_site(response)
        assert counts() == before_counts
        after = user_row(user)
        if after["password"] == before["password"]:
            assert after == before
            return
        assert signed_in
        assert {k: v for k, v in after.items() if k != "password"} == {
            k: v for k, v in before.items() if k != "password"
        }
        # The right password, checked, upgrades the legacy hash: still the same password
        # (the check costs a default-strength hash, so only where it could be another).
        if url != "/accounts/password/change/" or User.objects.get(pk=user.pk).check_password(
            PASSWORD
        ):
            return
        # Otherwise only a password change writes, whole: to the new password, given twice.
        assert response.status_code == 302
        if body.fields is not None:
            assert _last(body.fields, "oldpassword") == PASSWORD
            assert _last(body.fields, "password1") == _last(body.fields, "password2")

    return check


ACCOUNT_BODIES = body_for(form_data(ACCOUNT_FIELDS, mutations=st.sampled_from([2, 1, 3, 0, 5])))


@pytest.mark.parametrize("url", FORM_PAGES)
def test_it_answers_any_post_to_an_account_form_without_a_5xx_or_a_stray_write(client, member, url):
    run(st.tuples(st.just((url, True)), ACCOUNT_BODIES), _account_check(client, member))


def test_it_answers_any_post_to_the_other_account_pages_without_a_5xx_or_a_write(client, member):
    run(st.tuples(st.sampled_from(OTHER_PAGES), ACCOUNT_BODIES), _account_check(client, member))
