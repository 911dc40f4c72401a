"""Step 2, /signup/continue/<token>/: the details form, the critical transaction and
the four best-effort scaffolding steps after it."""

import logging
from functools import partial

import pytest
from allauth.account.models import EmailAddress
from django.core import signing
from django.test import Client

from members.models import Member, User
from members.scaffolding import NULLABLE_COLUMNS
from signup.tokens import SALT, make_token
from tests.factories import MemberFactory
from tests.signup.conftest import (
    continue_url,
    fail_when_filled,
    install_fault,
    valid_details,
    years_ago,
)
from tests.threads import run_concurrently

JSON_COLUMNS = ("identity",) + NULLABLE_COLUMNS
STEPS = ("notes", "access", "authorizations", "extras")
EMAIL = "grace@example.org"


def nothing_created():
    return User.objects.count() == EmailAddress.objects.count() == Member.objects.count() == 0


def signup_log(caplog, level):
    return [
        r.getMessage() for r in caplog.records if r.name.startswith("signup") and r.levelno == level
    ]


@pytest.fixture
def signup_logs(caplog):
    caplog.set_level(logging.INFO, logger="signup")
    return caplog


# --- GET ---------------------------------------------------------------------


@pytest.mark.django_db
def test_it_renders_the_details_form_with_the_email_from_the_token(client):
    response = client.get(continue_url(EMAIL))
    assert response.status_code == 200
    assert EMAIL in response.content.decode()
    assert set(response.context["form"].fields) == {
        "first_name",
        "last_name",
        "preferred_name",
        "pronouns",
        "birthday",
        "username",
        "phone",
        "discord_username",
        "password1",
        "password2",
        "accept_terms",
    }


@pytest.mark.django_db
def test_it_changes_nothing_on_get(client):
    response = client.get(continue_url(EMAIL))
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert nothing_created()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        # Signed tokens carry the time they were made: fixed ids keep the test names the
        # same in every process that collects them (pytest-xdist's workers).
        pytest.param(make_token(EMAIL)[:-3] + "abc", id="tampered-signature"),
        pytest.param(signing.dumps({"email": EMAIL}, salt="another.purpose"), id="other-salt"),
        pytest.param(signing.dumps({"nope": 1}, salt=SALT), id="no-email"),
        pytest.param(signing.dumps("just a string", salt=SALT), id="a-string"),
        pytest.param(signing.dumps({"email": ["a@example.org"]}, salt=SALT), id="email-list"),
        pytest.param(signing.dumps({"email": 7}, salt=SALT), id="email-number"),
        "x" * 5000,
        "%00",
        "é:ü:ß",
        "a:b:c",
        "::",
    ],
)
def test_it_shows_a_friendly_page_for_a_bad_link(client, token):
    for response in (
        client.get(f"/signup/continue/{token}/"),
        client.post(f"/signup/continue/{token}/", valid_details()),
    ):
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
        assert 'href="/signup/"' in response.content.decode()
    assert nothing_created()


@pytest.mark.django_db
def test_it_shows_a_friendly_page_for_an_expired_link(client, settings):
    url = continue_url(EMAIL)
    settings.SIGNUP_TOKEN_MAX_AGE = -1
    response = client.post(url, valid_details())
    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()
    assert nothing_created()


@pytest.mark.django_db
def test_it_says_signup_is_complete_once_the_member_exists(client):
    MemberFactory(user__email=EMAIL)
    response = client.get(continue_url(EMAIL))
    assert response.status_code == 200
    assert "Signup is complete" in response.content.decode()
    assert 'href="/accounts/login/"' in response.content.decode()


@pytest.mark.django_db
def test_it_sends_a_logged_in_user_to_the_dashboard(client):
    client.force_login(MemberFactory().user)
    url = continue_url(EMAIL)
    for method in (client.get, client.post):
        response = method(url, valid_details(), follow=True)
        assert response.redirect_chain[0] == ("/dashboard/", 302)
        assert "already signed in" in response.content.decode()
    assert Member.objects.count() == 1


# --- the happy path ------------------------------------------------------------


@pytest.mark.django_db
def test_it_creates_a_complete_member_logs_them_in_and_shows_their_payment_page(
    client, django_capture_on_commit_callbacks, signup_logs, stripe_settings
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(continue_url(EMAIL), valid_details())
    assert response.status_code == 302
    assert response["Location"] == "/signup/payment/"

    member = Member.objects.get()
    assert all(getattr(member, column) is not None for column in JSON_COLUMNS)
    assert member.email == EMAIL
    assert member.username == "ghopper"
    assert member.status["membership_status"] == "pending"
    assert member.status["membership_level"] == "New Member"
    assert member.connections == {"phone": "+1 (555) 010-2000", "discord_username": "grace#1906"}
    assert member.forms["terms_of_use_accepted"] is True
    assert member.forms["terms_accepted_at"]
    assert member.forms["is_21_or_older"] is True
    assert member.identity["first_name"] == "Grace"
    assert member.identity["nickname"] == "Amazing Grace"
    assert member.identity["birthday"] == "1990-05-01"
    assert member.identity["emails"] == [{"type": "primary", "email_address": EMAIL}]
    assert member.notes[0]["note"] == "New signup via member portal"
    assert member.access == {"rfid_tags": []}
    assert member.last_updated_by is None

    user = member.user
    assert user.check_password("cobol-Compiler-1959")
    assert user.password.startswith("pbkdf2_sha256$")
    assert EmailAddress.objects.filter(user=user, email=EMAIL, verified=True, primary=True).exists()
    assert int(client.session["_auth_user_id"]) == user.pk

    assert signup_log(signup_logs, logging.INFO) == [
        f"Signup member {member.pk}: {step} initialized" for step in STEPS
    ]
    assert signup_log(signup_logs, logging.ERROR) == []
    assert {e.pgh_context.metadata["source"] for e in member.events.all()} == {"signup"}

    page = client.get("/signup/payment/").content.decode()
    assert f'customer-email="{EMAIL}"' in page
    assert f'client-reference-id="{member.billing_ref}"' in page


@pytest.mark.django_db
def test_it_records_an_18_year_old_as_not_21(client):
    client.post(continue_url(EMAIL), valid_details(birthday=years_ago(18)))
    assert Member.objects.get().forms["is_21_or_older"] is False


@pytest.mark.django_db
def test_it_ignores_an_email_in_the_post(client):
    response = client.post(continue_url(EMAIL), valid_details(email="mallory@example.org"))
    assert response.status_code == 302
    member = Member.objects.get()
    assert member.email == member.user.email == EMAIL
    assert not User.objects.filter(email="mallory@example.org").exists()


@pytest.mark.django_db
def test_it_says_the_username_is_taken_ignoring_case(client):
    MemberFactory(user__username="GHopper")
    response = client.post(continue_url(EMAIL), valid_details(username="ghOPPer"))
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == ["That username is already taken."]
    assert not Member.objects.filter(email=EMAIL).exists()


# --- bad input ---------------------------------------------------------------

BAD_INPUTS = [
    ("under 18", {"birthday": years_ago(18, days=1)}, "birthday"),
    ("born in the future", {"birthday": years_ago(-1)}, "birthday"),
    ("not a date", {"birthday": "31/31/1990"}, "birthday"),
    ("no birthday", {"birthday": ""}, "birthday"),
    ("17-character username", {"username": "a" * 17}, "username"),
    ("space in username", {"username": "grace hopper"}, "username"),
    ("a placeholder login name", {"username": "Member-12"}, "username"),
    ("punctuation in username", {"username": "grace!"}, "username"),
    ("non-ASCII username", {"username": "grâce"}, "username"),
    ("no first name", {"first_name": ""}, "first_name"),
    ("too-long first name", {"first_name": "G" * 101}, "first_name"),
    ("too-long last name", {"last_name": "H" * 101}, "last_name"),
    ("too-long preferred name", {"preferred_name": "P" * 101}, "preferred_name"),
    ("too-long pronouns", {"pronouns": "x" * 51}, "pronouns"),
    ("too-long discord name", {"discord_username": "d" * 51}, "discord_username"),
    ("letters in phone", {"phone": "call me maybe"}, "phone"),
    ("too-long phone", {"phone": "1" * 21}, "phone"),
    ("phone without digits", {"phone": "()-"}, "phone"),
    ("mismatched passwords", {"password2": "cobol-Compiler-1960"}, "password2"),
    ("common password", {"password1": "password123", "password2": "password123"}, "password1"),
    ("short password", {"password1": "a1-B", "password2": "a1-B"}, "password1"),
    ("numeric password", {"password1": "8405917326", "password2": "8405917326"}, "password1"),
    ("password like the username", {"password1": "ghopper1", "password2": "ghopper1"}, "password1"),
    ("terms not accepted", {"accept_terms": ""}, "accept_terms"),
    ("NUL byte", {"first_name": "Gr\x00ace"}, "first_name"),
    ("100 kB field", {"last_name": "x" * 100_000}, "last_name"),
    ("100 kB password", {"password1": "p" * 100_000, "password2": "p" * 100_000}, "password1"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_INPUTS])
def test_it_refuses_bad_input_with_a_field_error_and_creates_nothing(client, changes, field):
    response = client.post(continue_url(EMAIL), valid_details(**changes))
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert nothing_created()


@pytest.mark.django_db
def test_it_keeps_the_input_but_not_the_passwords_after_an_error(client):
    response = client.post(continue_url(EMAIL), valid_details(birthday=years_ago(10)))
    page = response.content.decode()
    assert 'value="Grace"' in page
    assert 'value="ghopper"' in page
    assert "cobol-Compiler-1959" not in page
    assert 'class="errorlist' in page


@pytest.mark.django_db
def test_it_escapes_what_the_visitor_typed(client):
    response = client.post(
        continue_url(EMAIL), valid_details(first_name="<script>x</script>", accept_terms="")
    )
    assert b"<script>x</script>" not in response.content
    assert b"&lt;script&gt;x&lt;/script&gt;" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_it_refuses_a_post_without_a_valid_csrf_token(token):
    client = Client(enforce_csrf_checks=True)
    url = continue_url(EMAIL)
    client.get(url)
    data = valid_details()
    if token:
        data["csrfmiddlewaretoken"] = token
    assert client.post(url, data).status_code == 403
    assert nothing_created()


@pytest.mark.django_db
def test_it_accepts_a_post_with_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    url = continue_url(EMAIL)
    token = client.get(url).context["csrf_token"]
    response = client.post(url, valid_details(csrfmiddlewaretoken=token))
    assert response.status_code == 302
    assert Member.objects.filter(email=EMAIL).exists()


# --- failures ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("failing", STEPS)
def test_it_reaches_the_payment_page_when_one_scaffolding_step_fails(
    client, django_capture_on_commit_callbacks, signup_logs, failing
):
    fail_when_filled(failing)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(continue_url(EMAIL), valid_details())
    assert response["Location"] == "/signup/payment/"
    assert client.get("/signup/payment/").status_code == 200

    member = Member.objects.get()
    assert getattr(member, failing) is None
    for other in STEPS:
        if other != failing:
            assert getattr(member, other) is not None

    errors = signup_log(signup_logs, logging.ERROR)
    assert errors == [f"Signup member {member.pk}: {failing} failed: ProgrammingError"]
    assert signup_log(signup_logs, logging.INFO) == [
        f"Signup member {member.pk}: {step} initialized" for step in STEPS if step != failing
    ]
    for personal in (EMAIL, "Grace", "Hopper", "ghopper", "555"):
        assert personal not in errors[0]


@pytest.mark.django_db
def test_it_reaches_the_payment_page_when_two_scaffolding_steps_fail(
    client, django_capture_on_commit_callbacks, signup_logs
):
    fail_when_filled("notes")
    fail_when_filled("authorizations")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(continue_url(EMAIL), valid_details())
    assert response["Location"] == "/signup/payment/"

    member = Member.objects.get()
    assert (member.notes, member.authorizations) == (None, None)
    assert member.access is not None and member.extras is not None
    assert signup_log(signup_logs, logging.ERROR) == [
        f"Signup member {member.pk}: notes failed: ProgrammingError",
        f"Signup member {member.pk}: authorizations failed: ProgrammingError",
    ]


@pytest.mark.django_db
def test_it_leaves_no_row_and_shows_the_form_when_the_critical_transaction_fails(
    client, django_capture_on_commit_callbacks
):
    install_fault(when="BEFORE INSERT ON members_member FOR EACH ROW")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(continue_url(EMAIL), valid_details())
    assert response.status_code == 200
    assert "could not create your account" in response.content.decode()
    assert response.context["form"].data["first_name"] == "Grace"
    assert nothing_created()
    assert callbacks == []
    assert "_auth_user_id" not in client.session


# --- races ---------------------------------------------------------------------


def submit_concurrently(posts):
    """Run (url, data) posts at once, each from its own client (session) and thread."""
    return run_concurrently(*(partial(Client().post, url, data) for url, data in posts))


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_member_from_20_concurrent_submits_of_one_link():
    url = continue_url(EMAIL)
    responses = submit_concurrently([(url, valid_details())] * 20)

    assert all(r.status_code < 500 for r in responses)
    winners = [r for r in responses if r.status_code == 302]
    losers = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1 and len(losers) == 19
    assert winners[0]["Location"] == "/signup/payment/"
    assert all("Signup is complete" in r.content.decode() for r in losers)
    assert User.objects.count() == EmailAddress.objects.count() == Member.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_member_from_20_concurrent_signups_for_one_username_in_mixed_case():
    names = ["racer", "Racer", "RACER", "rAcEr", "RaCeR"]
    posts = [
        (continue_url(f"racer{n}@example.org"), valid_details(username=names[n % len(names)]))
        for n in range(20)
    ]
    responses = submit_concurrently(posts)

    assert all(r.status_code < 500 for r in responses)
    winners = [r for r in responses if r.status_code == 302]
    losers = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1 and len(losers) == 19
    for response in losers:
        assert response.context["form"].errors["username"] == ["That username is already taken."]
    assert User.objects.count() == EmailAddress.objects.count() == Member.objects.count() == 1
    assert Member.objects.get().username.lower() == "racer"
