import uuid

import pytest
from django.core import mail

from members.models import User
from tests.factories import DEFAULT_PASSWORD, MemberFactory
from tests.server import REDIS_URL, Visitor, gunicorn, redis_or_skip


def _log_in(client, email, password=DEFAULT_PASSWORD, **headers):
    return client.post("/accounts/login/", {"login": email, "password": password}, **headers)


@pytest.mark.django_db
def test_it_does_not_create_users_through_allauths_signup(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.org", "password1": "a-Long-pass-9", "password2": "a-Long-pass-9"},
    )
    assert response.status_code in (200, 302, 403)
    assert not User.objects.filter(email="new@example.org").exists()


@pytest.mark.django_db
def test_it_logs_in_by_email_and_lands_on_the_dashboard(client):
    member = MemberFactory()
    response = _log_in(client, member.email.upper())
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 200
    assert "Hello, Ada" in dashboard.content.decode()


@pytest.mark.django_db
def test_it_refuses_a_wrong_password(client):
    member = MemberFactory()
    response = _log_in(client, member.email, "nope")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_it_logs_out_only_on_post(client):
    member = MemberFactory()
    client.force_login(member.user)
    client.get("/accounts/logout/")
    assert "_auth_user_id" in client.session
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_it_mails_a_password_reset_link(client):
    member = MemberFactory()
    response = client.post("/accounts/password/reset/", {"email": member.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert member.email in mail.outbox[0].to


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_from_the_dashboard_to_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_it_answers_login_with_a_short_forwarded_header_without_an_error(client, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    member = MemberFactory()
    response = _log_in(client, member.email, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 302


def _fail_logins(client, count, address):
    # A different unknown email each time, so only the per-address limit can trip.
    for n in range(count):
        response = _log_in(client, f"nobody{n}@example.org", "wrong", HTTP_X_FORWARDED_FOR=address)
        assert response.status_code == 200


def assert_refused_as_too_many(response):
    # Even the right password is refused once the address has failed too often.
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in response.client.session


@pytest.mark.django_db
def test_it_rate_limits_failed_logins_per_forwarded_client_address(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip"}
    member = MemberFactory()
    _fail_logins(client, 3, "203.0.113.7")

    assert_refused_as_too_many(_log_in(client, member.email, HTTP_X_FORWARDED_FOR="203.0.113.7"))
    assert _log_in(client, member.email, HTTP_X_FORWARDED_FOR="198.51.100.4").status_code == 302


@pytest.mark.django_db
def test_it_counts_failed_logins_per_connection_without_a_trusted_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip"}
    member = MemberFactory()
    _fail_logins(client, 3, "203.0.113.7")

    # A forged header does not buy a fresh allowance: the address is REMOTE_ADDR.
    assert_refused_as_too_many(_log_in(client, member.email, HTTP_X_FORWARDED_FOR="198.51.100.4"))


@pytest.mark.django_db
def test_it_rate_limits_password_resets_per_forwarded_client_address(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "reset_password": "2/m/ip"}

    def reset(email, address):
        return client.post(
            "/accounts/password/reset/", {"email": email}, HTTP_X_FORWARDED_FOR=address
        ).status_code

    assert [reset(f"a{n}@example.org", "203.0.113.7") for n in range(3)] == [302, 302, 429]
    assert reset("b@example.org", "198.51.100.4") == 302


@pytest.mark.django_db
def test_it_does_not_let_a_member_add_an_email_address_through_allauth(client):
    from allauth.account.models import EmailAddress

    member = MemberFactory()
    client.force_login(member.user)
    response = client.post("/accounts/email/", {"action_add": "", "email": "victim@example.net"})
    assert response.status_code == 302
    assert not EmailAddress.objects.filter(email="victim@example.net").exists()


def _reset_link(user) -> str:
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    uid = user_pk_to_url_str(user)
    return f"/accounts/password/reset/key/{uid}-{default_token_generator.make_token(user)}/"


@pytest.mark.django_db
def test_it_asks_a_signed_in_visitor_to_log_out_before_using_a_reset_link(client):
    owner, visitor = MemberFactory(), MemberFactory()
    link = _reset_link(owner.user)
    client.force_login(visitor.user)

    page = client.get(link)
    assert page.status_code == 200
    assert "log out first" in page.content.decode()
    assert client.session["_auth_user_id"] == str(visitor.user.pk)

    logout = client.post("/accounts/logout/", {"next": link})
    assert logout["Location"] == link
    form = client.get(link, follow=True)
    assert form.redirect_chain[-1][0].endswith("-set-password/")
    assert 'name="password1"' in form.content.decode()


@pytest.mark.django_db
def test_it_closes_allauths_email_confirmation_links(client):
    member = MemberFactory()
    client.force_login(member.user)
    assert client.get("/accounts/confirm-email/some-key/").status_code == 404
    assert client.session["_auth_user_id"] == str(member.user.pk)


@pytest.mark.django_db(transaction=True)
def test_it_counts_failed_logins_across_two_gunicorn_workers_sharing_redis(tmp_path):
    redis_or_skip()
    member = MemberFactory()
    run = uuid.uuid4().hex[:8]
    with gunicorn(
        tmp_path,
        # Workers are replaced every two requests, so the attempts land in several
        # processes and only the shared cache can add them up.
        max_requests=2,
        CACHE_URL=REDIS_URL,
        TRUSTED_PROXY_COUNT="1",
        LOGIN_FAILED_RATE_LIMIT="3/m/ip",
    ) as (port, access_log):
        # allauth counts an IPv6 client by its /64, so the two differ there.
        attacker = Visitor(port, f"2001:db8:{run[:4]}:{run[4:]}::1")
        elsewhere = Visitor(port, f"2001:db8:{run[4:]}:{run[:4]}::1")
        login = "/accounts/login/"
        token = attacker.form_token(login)
        failures = [
            attacker.post_form(login, {"login": f"{run}{n}@example.org", "password": "x"}, token)
            for n in range(3)
        ]
        right_password = {"login": member.email, "password": DEFAULT_PASSWORD}
        refused = attacker.post_form(login, right_password, token)
        allowed = elsewhere.post_form(login, right_password, elsewhere.form_token(login))

    assert [reply.status for reply in failures] == [200] * 3
    assert refused.status == 200
    assert "Too many failed login attempts" in refused.text
    assert allowed.status == 302
    workers = {line.split()[0] for line in access_log.read_text().splitlines() if " POST " in line}
    assert len(workers) >= 3, "several processes must have answered for the test to mean anything"


# Canonical email (docs/shapes.md): login and password reset put the typed address through
# the canonical form before allauth looks it up or mails it.

LOGIN_SPELLINGS = [
    ("Bo@ＥＸＡＭＰＬＥ.org", "bo@example.org"),
    ("  BO@example.ORG ", "bo@example.org"),
    ("Ｂｏ＠example.org", "bo@example.org"),
    ("bo@exämple.org", "bo@xn--exmple-cua.org"),
    ("bo@xn--EXMPLE-cua.org", "bo@xn--exmple-cua.org"),
]
REFUSED_SPELLINGS = [
    ("bo@example.org\u200b", "ZERO WIDTH SPACE"),
    ('"bo"@example.org', "Quoting"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "held"), LOGIN_SPELLINGS)
def test_it_logs_in_under_any_spelling_of_the_address(client, typed, held):
    member = MemberFactory(user__email=held)
    response = _log_in(client, typed)
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == member.user_id


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "reason"), REFUSED_SPELLINGS)
def test_it_refuses_a_login_address_without_a_canonical_form_with_the_reason(client, typed, reason):
    MemberFactory(user__email="bo@example.org")
    response = _log_in(client, typed)
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_it_counts_failed_logins_per_email_across_spellings(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/5m/key"}
    member = MemberFactory(user__email="bo@example.org")
    for typed in ("bo@example.org", "BO@ＥＸＡＭＰＬＥ.org", " Bo@Example.Org "):
        assert _log_in(client, typed, "wrong").status_code == 200
    assert_refused_as_too_many(_log_in(client, "ｂｏ@example.org"))
    assert member.user.last_login is None


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "held"), LOGIN_SPELLINGS)
def test_it_mails_a_password_reset_to_the_canonical_address_not_the_typed_one(client, typed, held):
    MemberFactory(user__email=held)
    response = client.post("/accounts/password/reset/", {"email": typed})
    assert response.status_code == 302
    [sent] = mail.outbox
    assert sent.to == [held]
    assert "/accounts/password/reset/key/" in sent.body


@pytest.mark.django_db
def test_it_mails_an_unknown_address_in_its_canonical_form_too(client):
    client.post("/accounts/password/reset/", {"email": "Nobody@ＥＸÄＭＰＬＥ.org"})
    [sent] = mail.outbox
    assert sent.to == ["nobody@xn--exmple-cua.org"]


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "reason"), REFUSED_SPELLINGS)
def test_it_refuses_a_password_reset_for_an_address_without_a_canonical_form(client, typed, reason):
    MemberFactory(user__email="bo@example.org")
    response = client.post("/accounts/password/reset/", {"email": typed})
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert mail.outbox == []


# allauth's pages and mails in the portal's layout and words (templates/account/).


@pytest.mark.django_db
def test_it_tells_members_from_the_old_system_to_use_forgot_password(client):
    content = client.get("/accounts/login/").content.decode()
    assert "Coming from the old member system?" in content
    assert "your old password has not" in content
    assert '<a href="/accounts/password/reset/">Forgot password?</a>' in content


@pytest.mark.django_db
def test_it_walks_the_password_reset_in_the_portals_pages_and_words(client, settings):
    member = MemberFactory()
    member.identity["nickname"] = "Countess"
    member.save()
    ask = client.get("/accounts/password/reset/").content.decode()
    # The portal's own header, with the space's name.
    assert f'<a class="brand" href="/">{settings.SITE_NAME}</a>' in ask
    assert "Forgot your password?" in ask and "Send me the link" in ask
    assert "Reset My Password" not in ask

    sent = client.post("/accounts/password/reset/", {"email": member.email}, follow=True)
    assert "Check your email" in sent.content.decode()
    (message,) = mail.outbox
    assert message.subject == f"[{settings.SITE_NAME}] Choose your password"
    assert message.body.startswith("Hello Countess,")  # the preferred name
    link = next(line for line in message.body.splitlines() if "/password/reset/key/" in line)

    form = client.get(link.split("testserver", 1)[-1], follow=True)
    page = form.content.decode()
    assert "Choose a new password" in page and 'name="password1"' in page
    done = client.post(
        form.redirect_chain[-1][0],
        {"password1": "a-New-pass-2026", "password2": "a-New-pass-2026"},
        follow=True,
    )
    assert "Your password is saved" in done.content.decode()
    assert _log_in(client, member.email, "a-New-pass-2026")["Location"] == "/dashboard/"


@pytest.mark.django_db
def test_it_explains_a_used_or_bad_reset_link_in_words(client):
    member = MemberFactory()
    bad = _reset_link(member.user)[:-3] + "xx/"
    page = client.get(bad, follow=True).content.decode()
    assert "This link no longer works" in page
    assert "Bad Token" not in page
    assert '<a href="/accounts/password/reset/">Ask for a new link</a>' in page
