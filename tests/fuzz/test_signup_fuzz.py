"""Fuzzing signup: step 1, step 2 (with a real continue link and with garbage ones)
and the username check. No answer is a 5xx; step 2 writes a whole signup or nothing."""

import datetime
import json
from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from django.core import mail, signing
from django.test import override_settings
from hypothesis import strategies as st

from members.models import Member, User, normalize_email, stored_email
from signup.tokens import SALT, make_token
from tests.factories import MemberFactory
from tests.fuzz.fuzzing import (
    Body,
    assert_not_5xx,
    body_for,
    form_body,
    form_data,
    fresh,
    just_over,
    last,
    latin1_text,
    path_segment,
    post,
    query_text,
    raw_query,
    run,
    wrong_type,
)
from tests.jobs import send_signup_mails
from tests.signup.conftest import valid_details

pytestmark = pytest.mark.django_db

TAKEN_EMAIL = "taken@example.org"
TAKEN_USERNAME = "TakenName"


@pytest.fixture
def existing():
    """A member whose email and username a fuzzed signup may collide with."""
    return MemberFactory(user__email=TAKEN_EMAIL, user__username=TAKEN_USERNAME)


def counts():
    return (User.objects.count(), Member.objects.count(), EmailAddress.objects.count())


def _swapcase_some(text, flips):
    return (
        "".join(c.swapcase() if f else c for c, f in zip(text, flips, strict=False))
        + text[len(flips) :]
    )


# What step 1 accepts and a person might type, plus the registered address in other
# cases and with spaces around it.
plain_email = st.from_regex(r"[a-z0-9._+-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True)
registered_email = st.builds(
    lambda flips, pad: pad + _swapcase_some(TAKEN_EMAIL, flips) + pad,
    st.lists(st.booleans(), max_size=len(TAKEN_EMAIL)),
    st.sampled_from(["", " ", "\t"]),
)
valid_email = st.one_of(plain_email, registered_email, st.emails().filter(lambda e: len(e) < 200))


# --- step 1 ---------------------------------------------------------------------


def test_it_answers_any_step_one_post_without_a_5xx_and_writes_no_row(client, existing):
    fields = {"email": valid_email}
    bodies = body_for(form_data(fields, extra_names=["csrfmiddlewaretoken", "username"]))

    def check(body):
        before = counts()
        response = post(fresh(client), "/signup/", body)
        assert_not_5xx(response)
        send_signup_mails()  # the mail's job, run here: it deletes its row when sent
        assert counts() == before
        if response.status_code == 302:
            assert response["Location"] == "/signup/sent/"
            assert len(mail.outbox) == 1
            if body.fields is not None:
                assert mail.outbox[0].to == [normalize_email(last(body.fields, "email"))]
        else:
            assert response.status_code in (200, 400)
            assert mail.outbox == []

    run(
        bodies,
        check,
        explicit=[
            Body("application/x-www-form-urlencoded", b"email=new%40example.org"),
            Body("application/x-www-form-urlencoded", b"email=a%00b%40example.org"),
        ],
    )


# --- step 2 ---------------------------------------------------------------------


def _no_nul(max_size):
    return st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=max_size
    )


def _adult_birthdays():
    today = datetime.date.today()
    latest = today.replace(year=today.year - 19, day=1)
    dates = st.dates(datetime.date(1900, 1, 1), latest)
    return st.one_of(
        dates.map(datetime.date.isoformat),
        dates.map(lambda d: d.strftime("%m/%d/%Y")),
    )


def _near_birthdays():
    today = datetime.date.today()
    return st.one_of(
        _adult_birthdays(),
        st.dates(datetime.date(1, 1, 1), datetime.date(9999, 12, 31)).map(datetime.date.isoformat),
        st.sampled_from(
            [today.isoformat(), "1899-12-31", "2000-02-30", "0001-01-01", "99999-01-01"]
        ),
    )


NAME = st.builds(lambda rest: "A" + rest, _no_nul(60))
USERNAME = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True),
    st.sampled_from([TAKEN_USERNAME, TAKEN_USERNAME.lower(), TAKEN_USERNAME.upper()]),
)
PHONE = st.from_regex(r"[0-9+(][0-9() .+-]{0,18}[0-9]", fullmatch=True)
PASSWORD = st.builds(lambda word: f"Vq7-{word}-Kz", st.text("abcdefghjkmnpqrstuvwxyz", min_size=6))

DETAILS = {
    "first_name": st.one_of(NAME, just_over(100)),
    "last_name": st.one_of(NAME, just_over(100)),
    "preferred_name": st.one_of(_no_nul(60), just_over(100)),
    "pronouns": st.one_of(_no_nul(30), just_over(50)),
    "birthday": _near_birthdays(),
    "username": st.one_of(USERNAME, just_over(16)),
    "phone": st.one_of(PHONE, just_over(20), st.sampled_from(["()", "+", " 1 ", "1" * 21])),
    "discord_username": st.one_of(_no_nul(30), just_over(50)),
    "password1": st.one_of(PASSWORD, just_over(1024), st.sampled_from(["password", "12345678"])),
    "password2": PASSWORD,
    "accept_terms": st.sampled_from(["on", "true", "1", "false", "0", ""]),
}
VALID_DETAILS = st.fixed_dictionaries(
    {
        **{name: DETAILS[name] for name in ("preferred_name", "pronouns", "discord_username")},
        "first_name": NAME,
        "last_name": NAME,
        "birthday": _adult_birthdays(),
        "username": st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True),
        "phone": PHONE,
        "password1": PASSWORD,
        "accept_terms": st.just("on"),
    }
).map(lambda d: {**d, "password2": d["password1"]})
# A valid submit hashes its password (a quarter of a second), so most examples break
# more fields than the forms elsewhere (hypothesis favours the first choices); a few
# still get through whole.
details_bodies = body_for(
    form_data(
        DETAILS,
        base=VALID_DETAILS,
        extra_names=["email", "csrfmiddlewaretoken"],
        mutations=st.sampled_from([3, 4, 2, 5, 1, 6, 0]),
    )
)
# A visitor who leaves the optional fields empty.
GRACE = valid_details(preferred_name="", discord_username="")


def _assert_whole_signup(email, fields):
    """One User, its verified primary address and its Member, holding what was sent."""
    user = User.objects.get(email=email)
    address = EmailAddress.objects.get(user=user)
    member = Member.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (email, True, True)
    assert user.has_usable_password()
    assert (member.email, member.username) == (email, user.username)
    identity, status = member.identity, member.status
    assert identity["emails"] == [{"type": "primary", "email_address": email}]
    assert (identity["first_name"], identity["last_name"]) == (user.first_name, user.last_name)
    born = datetime.date.fromisoformat(identity["birthday"])
    assert born <= datetime.date.today().replace(year=datetime.date.today().year - 18)
    assert (status["membership_status"], status["membership_level"]) == ("pending", "New Member")
    assert set(member.connections) == {"phone", "discord_username"}
    assert member.forms["terms_of_use_accepted"] is True
    assert member.forms["terms_accepted_at"]
    if fields is None:
        return
    sent = {name: (last(fields, name) or "").strip() for name in DETAILS}
    assert member.username == sent["username"]
    assert (identity["first_name"], identity["last_name"]) == (
        sent["first_name"],
        sent["last_name"],
    )
    assert (identity["nickname"], identity["pronouns"]) == (
        sent["preferred_name"],
        sent["pronouns"],
    )
    assert member.connections == {
        "phone": sent["phone"],
        "discord_username": sent["discord_username"],
    }


def test_it_writes_a_whole_signup_or_nothing_for_any_step_two_post(client, existing):
    new_or_taken = st.one_of(plain_email, plain_email, registered_email)
    successes = 0

    def check(example):
        nonlocal successes
        email, body = example
        email = stored_email(email)  # the regex makes some addresses without one
        fresh(client)
        before = counts()
        response = post(client, f"/signup/continue/{make_token(email)}/", body)
        assert_not_5xx(response)
        if counts() == before:
            assert response.status_code in (200, 400)
            assert "_auth_user_id" not in client.session
            return
        successes += 1
        assert counts() == tuple(n + 1 for n in before)
        assert response.status_code == 302
        assert response["Location"] == "/signup/payment/"
        assert email != TAKEN_EMAIL
        _assert_whole_signup(email, body.fields)
        assert client.session["_auth_user_id"] == str(User.objects.get(email=email).pk)

    run(
        st.tuples(new_or_taken, details_bodies),
        check,
        explicit=[
            ("grace@example.org", form_body({})),
            ("grace@example.org", form_body(GRACE)),
            ("grace@example.org", form_body({**GRACE, "username": TAKEN_USERNAME})),
            ("grace@example.org", form_body({**GRACE, "first_name": "Gr\x00ce"})),
        ],
    )
    assert successes >= 1


def _tampered(token, at, char):
    at = at % len(token)
    return token[:at] + char + token[at + 1 :]


def _signed_elsewhere(email):
    # Signed with this site's key, but by another part of it (another salt).
    return signing.dumps({"email": email}, salt="somewhere.else")


garbage_tokens = st.one_of(
    query_text.filter(lambda t: "/" not in t),
    latin1_text.filter(lambda t: "/" not in t),
    st.builds(
        _tampered,
        plain_email.map(make_token),
        st.integers(0, 200),
        st.sampled_from("A0:_-.%"),
    ),
    st.builds(lambda e, cut: make_token(e)[:cut], plain_email, st.integers(0, 80)),
    st.builds(lambda e, tail: make_token(e) + tail, plain_email, st.text(max_size=5)),
    plain_email.map(_signed_elsewhere),
    st.builds(lambda t: t, st.sampled_from([".", "..", "%2e", "null", "undefined", " "])),
)


def test_it_refuses_any_garbage_continue_link_without_a_5xx_or_a_write(client, existing):
    def check(example):
        token, method, body, expired = example
        before = counts()
        path = f"/signup/continue/{path_segment(token)}/"
        with override_settings(SIGNUP_TOKEN_MAX_AGE=-1 if expired else 86400):
            if method == "POST":
                response = post(fresh(client), path, body)
            else:
                response = fresh(client).generic(method, path)
        assert_not_5xx(response)
        assert counts() == before
        assert response.status_code in (400, 404, 405)

    valid_tokens = plain_email.map(make_token)
    run(
        st.tuples(
            st.one_of(garbage_tokens, garbage_tokens, valid_tokens),
            st.sampled_from(["POST", "POST", "GET", "HEAD", "PUT", "DELETE"]),
            details_bodies,
            st.booleans(),
        ).filter(lambda e: e[3] or e[0] not in _minted),
        check,
    )


class _Minted:
    """Whether a token is one this site minted (and so valid while it is fresh)."""

    def __contains__(self, token):
        try:
            data = signing.loads(token, salt=SALT)
        except signing.BadSignature:
            return False
        return isinstance(data, dict)


_minted = _Minted()


# --- username check -------------------------------------------------------------


def test_it_answers_any_username_check_with_json_and_no_5xx(client, existing):
    token = make_token("checker@example.org")
    params = st.fixed_dictionaries(
        {},
        optional={
            "username": st.one_of(USERNAME, query_text, wrong_type, st.lists(USERNAME, max_size=3)),
            "token": st.one_of(
                st.just(token), garbage_tokens, st.lists(garbage_tokens, max_size=2)
            ),
            "extra": query_text,
        },
    )

    def check(example):
        method, query = example
        before = counts()
        fresh(client)
        # The fields travel as a form body (the check is a POST); a raw string is sent
        # as the body exactly as it is.
        body = urlencode(query, doseq=True) if isinstance(query, dict) else query
        response = client.generic(
            method, "/api/check-username", body, "application/x-www-form-urlencoded"
        )
        assert_not_5xx(response)
        assert counts() == before
        assert "sessionid" not in response.cookies
        if method != "POST":
            assert response.status_code == 405
            return
        assert response.status_code in (200, 400)
        if isinstance(query, str):
            assert response.status_code == 400
        answer = json.loads(response.content)
        if response.status_code == 400:
            assert set(answer) == {"error"}
            return
        assert last(query, "token") in _minted
        username = last(query, "username").strip()
        assert answer == {"available": username.lower() != TAKEN_USERNAME.lower()}

    run(
        st.tuples(
            st.sampled_from(["POST", "POST", "POST", "HEAD", "GET"]),
            st.one_of(params, params, params, raw_query),
        ),
        check,
        explicit=[("POST", {"username": "freename", "token": token})],
    )
