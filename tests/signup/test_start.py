"""Step 1, /signup/: one answer for everyone, the right mail to each, rate limits."""

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.test import Client

from members.models import Member, User
from tests.factories import MemberFactory, UserFactory
from tests.jobs import run_worker, send_signup_mails
from tests.server import REDIS_URL, Visitor, gunicorn, redis_or_skip


def post_email(client, email, **extra):
    response = client.post("/signup/", {"email": email}, **extra)
    send_signup_mails()  # step 1's mail is a job: run it here, as a worker would
    return response


@pytest.mark.django_db
def test_it_renders_the_email_form(client):
    response = client.get("/signup/")
    assert response.status_code == 200
    assert b'name="email"' in response.content


@pytest.mark.django_db
def test_it_sends_a_continue_link_to_a_new_email(client):
    response = post_email(client, "  New.Person@Example.org ")
    assert response.status_code == 302
    assert response["Location"] == "/signup/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@example.org"]
    assert re.search(r"http://testserver/signup/continue/[^/\s]+/", mail.outbox[0].body)


@pytest.mark.django_db
def test_it_answers_new_and_existing_emails_identically_but_mails_each_rightly(client):
    MemberFactory(user__email="member@example.org")
    new = post_email(client, "newcomer@example.org")
    existing = post_email(Client(), "MEMBER@example.org")

    assert new.status_code == existing.status_code == 302
    assert new["Location"] == existing["Location"] == "/signup/sent/"
    assert new.content == existing.content
    assert sorted(new.headers) == sorted(existing.headers)

    to_new, to_member = mail.outbox
    assert to_new.to == ["newcomer@example.org"]
    assert "/signup/continue/" in to_new.body
    assert to_member.to == ["member@example.org"]
    assert "You already have an account" in to_member.body
    assert "http://testserver/accounts/login/" in to_member.body
    assert "http://testserver/accounts/password/reset/" in to_member.body
    assert "/signup/continue/" not in to_member.body


@pytest.mark.django_db
def test_it_treats_a_user_without_member_as_registered(client):
    UserFactory(email="staffer@example.org")
    post_email(client, "staffer@example.org")
    assert "You already have an account" in mail.outbox[0].body


@pytest.mark.django_db
def test_it_shows_a_field_error_for_a_bad_email_and_sends_nothing(client):
    response = post_email(client, "not an email")
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "email",
    # Django's email validator accepts both, but neither domain can be written in IDNA,
    # so no mail could be sent: too long once encoded, and a character IDNA forbids.
    ["someone@" + "\u00e9" * 60 + ".org", "someone@example.a\ufffd"],
)
def test_it_refuses_an_email_whose_domain_cannot_be_mailed(client, email):
    response = post_email(client, email)
    assert response.status_code == 200
    [error] = response.context["form"].errors["email"]
    assert error.startswith("The part after the @-sign")
    assert mail.outbox == []


@pytest.mark.django_db
def test_it_still_accepts_an_internationalised_domain_and_mails_its_ascii_form(client):
    response = post_email(client, "someone@b\u00fccher.example")
    assert response.status_code == 302
    assert mail.outbox[0].to == ["someone@xn--bcher-kva.example"]


@pytest.mark.django_db
def test_it_changes_nothing_on_get(client):
    response = client.get("/signup/")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert mail.outbox == []
    assert User.objects.count() == Member.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_it_refuses_a_post_without_a_valid_csrf_token(token):
    client = Client(enforce_csrf_checks=True)
    client.get("/signup/")
    data = {"email": "csrf@example.org"}
    if token:
        data["csrfmiddlewaretoken"] = token
    response = client.post("/signup/", data)
    assert response.status_code == 403
    assert mail.outbox == []


@pytest.mark.django_db
def test_it_accepts_a_post_with_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/signup/")
    token = page.context["csrf_token"]
    response = client.post("/signup/", {"email": "csrf@example.org", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    send_signup_mails()
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_it_rate_limits_per_client_address_without_affecting_another(client, settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_ip": "3/3600"}
    for n in range(3):
        response = post_email(client, f"person{n}@example.org", REMOTE_ADDR="203.0.113.5")
        assert response.status_code == 302

    over = post_email(client, "person3@example.org", REMOTE_ADDR="203.0.113.5")
    assert over.status_code == 429
    assert "Too many attempts" in over.content.decode()
    assert len(mail.outbox) == 3

    other = post_email(Client(), "person4@example.org", REMOTE_ADDR="203.0.113.6")
    assert other.status_code == 302
    assert len(mail.outbox) == 4


@pytest.mark.django_db
def test_it_rate_limits_per_email_across_addresses(client, settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_email": "2/3600"}
    for n in range(2):
        assert (
            post_email(client, "same@example.org", REMOTE_ADDR=f"198.51.100.{n}").status_code == 302
        )
    over = post_email(client, " SAME@example.org", REMOTE_ADDR="198.51.100.9")
    assert over.status_code == 429
    assert len(mail.outbox) == 2
    assert post_email(client, "other@example.org", REMOTE_ADDR="198.51.100.9").status_code == 302


@pytest.mark.django_db
def test_it_takes_the_client_address_from_x_forwarded_for_behind_a_trusted_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_ip": "1/3600"}
    # Same proxy address; the client's own address is the last X-Forwarded-For entry,
    # and anything the client prepends is ignored.
    first = post_email(client, "a@example.org", HTTP_X_FORWARDED_FOR="1.1.1.1, 192.0.2.10")
    spoofed = post_email(client, "b@example.org", HTTP_X_FORWARDED_FOR="9.9.9.9, 192.0.2.10")
    another = post_email(client, "c@example.org", HTTP_X_FORWARDED_FOR="192.0.2.11")
    assert (first.status_code, spoofed.status_code, another.status_code) == (302, 429, 302)


@pytest.mark.django_db
def test_it_ignores_x_forwarded_for_without_a_trusted_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_ip": "1/3600"}
    assert post_email(client, "a@example.org", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 302
    assert post_email(client, "b@example.org", HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 429


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_it_sends_a_logged_in_user_to_the_dashboard(client, method):
    member = MemberFactory()
    client.force_login(member.user)
    response = getattr(client, method)("/signup/", {"email": "x@example.org"}, follow=True)
    assert response.redirect_chain[0] == ("/dashboard/", 302)
    assert "already signed in" in response.content.decode()
    assert mail.outbox == []
    assert Member.objects.count() == 1


# --- several workers sharing Redis ----------------------------------------------


def mails_in(directory) -> int:
    # The file backend ends every message with a line of 79 dashes.
    if not directory.exists():
        return 0
    return sum(f.read_text().count("-" * 79) for f in directory.iterdir())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cache", ["redis", "default"])
def test_it_counts_the_rate_limit_across_gunicorn_workers_sharing_a_cache(tmp_path, cache):
    # "default": no CACHE_URL, so the database cache on the site's own PostgreSQL.
    if cache == "redis":
        redis_or_skip()
    mail_dir = tmp_path / "mail"
    run = uuid.uuid4().hex[:8]
    with gunicorn(
        tmp_path,
        # Each worker process serves two requests, then is replaced: the counted
        # requests are spread over several processes whatever the kernel's choice,
        # so only a cache shared between processes can keep the count.
        max_requests=2,
        # A gthread worker that reaches max_requests drops the connections it has
        # accepted but not read (a reset); a sync worker accepts one at a time.
        worker_class="sync",
        CACHE_URL=REDIS_URL if cache == "redis" else "",
        EMAIL_URL=f"filemail:///{mail_dir}",
        TRUSTED_PROXY_COUNT="1",
        SIGNUP_RATE_LIMIT_IP="6/3600",
        SIGNUP_RATE_LIMIT_EMAIL="100/3600",
    ) as (port, access_log):
        # Addresses from a documentation range, each in a /64 of its own (an IPv6 client
        # counts by its /64), fresh for every run of the test.
        network, next_network = int(run[4:], 16), (int(run[4:], 16) + 1) % 0x10000
        address = f"2001:db8:{run[:4]}:{network:x}::1"
        script = Visitor(port, address)
        other = Visitor(port, f"2001:db8:{run[:4]}:{next_network:x}::1")
        tokens = {script: script.form_token("/signup/"), other: other.form_token("/signup/")}

        def signup(visitor, email):
            return visitor.post_form("/signup/", {"email": email}, tokens[visitor]).status

        with ThreadPoolExecutor(max_workers=6) as pool:
            emails = [f"{run}-{n}@example.org" for n in range(6)]
            allowed = list(pool.map(lambda email: signup(script, email), emails))
        over = signup(script, f"{run}-over@example.org")
        elsewhere = signup(other, f"{run}-x@example.org")

    assert allowed == [302] * 6
    assert over == 429
    assert elsewhere == 302
    run_worker(EMAIL_URL=f"filemail:///{mail_dir}")  # the mails are sent by jobs
    assert mails_in(mail_dir) == 7
    workers = {
        line.split()[0] for line in access_log.read_text().splitlines() if " POST 302" in line
    }
    assert len(workers) >= 3, "several processes must have answered for the test to mean anything"
