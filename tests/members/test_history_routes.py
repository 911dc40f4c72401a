"""No tokens at rest: the audit history and the server's access log keep a request's
route with its tokens elided (`/signup/continue/…/`), and the migration scrubs rows
recorded before."""

import importlib
import secrets

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.urls import path
from pghistory.models import Context

from dhportal.routes import elide_tokens, elide_url
from members.models import Member
from signup.tokens import make_token
from tests.server import Visitor, gunicorn
from tests.signup.conftest import valid_details

EMAIL = "grace@example.org"
RESET = "/accounts/password/reset/key/"

# A URLconf for the registry test: a route added later with a `<token>` argument.
urlpatterns = [
    path("dashboard/account/email/<str:token>/", lambda request, token: HttpResponse()),
    path("dashboard/<int:page>/", lambda request, page: HttpResponse()),
]


def history_urls() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT metadata->>'url' FROM pghistory_context ORDER BY created_at")
        return [url for (url,) in cursor.fetchall()]


def history_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(string_agg(metadata::text, ' '), '') FROM pghistory_context"
        )
        return cursor.fetchone()[0]


# --- the history ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_records_a_signup_through_its_continue_link_as_the_elided_route(
    client, django_capture_on_commit_callbacks
):
    token = make_token(EMAIL)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/signup/continue/{token}/", valid_details())
    assert response.status_code == 302

    member = Member.objects.get(email=EMAIL)
    contexts = [event.pgh_context for event in member.events.order_by("pgh_id")]
    assert contexts and all(context is not None for context in contexts)
    # The critical transaction ran in the request; the scaffolding steps, run here by
    # the test after the response, have no request and so no URL.
    assert contexts[0].metadata == {"source": "signup", "user": None, "url": "/signup/continue/…/"}
    assert {context.metadata.get("url", "/signup/continue/…/") for context in contexts} == {
        "/signup/continue/…/"
    }
    assert token not in history_text()


# --- the rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("/signup/continue/eyJlIjoiYm8ifQ:1tZ:Xy-z_9/", "/signup/continue/…/"),
        ("/signup/continue/eyJlIjoiYm8ifQ:1tZ:Xy-z_9", "/signup/continue/…"),
        (
            "/accounts/password/reset/key/1b-c4f-0123456789abcdef/",
            "/accounts/password/reset/key/…/",
        ),
        ("/accounts/password/reset/key/1b-set-password/", "/accounts/password/reset/key/…/"),
        ("/accounts/confirm-email/abc:def/", "/accounts/confirm-email/…/"),
        ("/signup/", "/signup/"),
        ("/signup/continue/", "/signup/continue/"),
        ("/admin/members/member/12/change/", "/admin/members/member/12/change/"),
        ("/no/such/page/", "/no/such/page/"),
        ("/", "/"),
    ],
)
def test_it_elides_exactly_the_token_arguments_of_the_route(path, kept):
    assert elide_tokens(path) == kept


@pytest.mark.urls(__name__)
def test_it_elides_a_new_route_by_its_argument_name_not_by_its_url():
    assert elide_tokens("/dashboard/account/email/AbC.123:x/") == "/dashboard/account/email/…/"
    assert elide_tokens("/dashboard/7/") == "/dashboard/7/"


def test_it_elides_raw_urls_keeping_host_and_query():
    assert (
        elide_url("https://members.example.org/signup/continue/a%3Ab/?next=%2F")
        == "https://members.example.org/signup/continue/…/?next=%2F"
    )
    assert elide_url("/signup/continue/%E2%9C%93x/") == "/signup/continue/…/"
    assert elide_url("/dashboard/?q=%20x") == "/dashboard/?q=%20x"
    assert elide_url("-") == "-"


# --- the migration ----------------------------------------------------------------


@pytest.mark.django_db
def test_it_scrubs_tokens_from_history_rows_recorded_before():
    migration = importlib.import_module("members.migrations.0007_scrub_history_tokens")
    token = make_token(EMAIL)
    key = f"1b-c4f-{secrets.token_hex(16)}"
    old = {
        "continue": Context.objects.create(
            metadata={"source": "signup", "url": f"/signup/continue/{token}/"}
        ),
        "reset": Context.objects.create(
            metadata={"user": 3, "url": f"/accounts/password/reset/key/{key}/"}
        ),
        "plain": Context.objects.create(metadata={"user": 3, "url": "/dashboard/profile/"}),
        "no url": Context.objects.create(metadata={"source": "command"}),
        "odd url": Context.objects.create(metadata={"url": 12}),
    }

    with connection.schema_editor() as editor:
        migration.scrub_history_tokens(apps, editor)

    now = {label: Context.objects.get(pk=row.pk).metadata for label, row in old.items()}
    assert now == {
        "continue": {"source": "signup", "url": "/signup/continue/…/"},
        "reset": {"user": 3, "url": "/accounts/password/reset/key/…/"},
        "plain": {"user": 3, "url": "/dashboard/profile/"},
        "no url": {"source": "command"},
        "odd url": {"url": 12},
    }
    assert token not in history_text() and key not in history_text()


# --- the access log ---------------------------------------------------------------

# Everything gunicorn can log of a request's target: the request line, the decoded path,
# the raw URI, the referer and a redirect's Location.
EVERYTHING = '"%(r)s" %(U)s %({raw_uri}e)s "%(f)s" "%({referer}i)s" %({location}o)s %(s)s'


@pytest.mark.django_db
def test_it_keeps_continue_and_reset_tokens_out_of_the_server_logs(tmp_path):
    token = make_token(EMAIL)
    key = f"zz-{secrets.token_hex(16)}"
    continue_link = f"/signup/continue/{token}/"
    # The server signs with the test's key, so the continue link is a working one.
    with gunicorn(tmp_path, access_log_format=EVERYTHING, SECRET_KEY=settings.SECRET_KEY) as (
        port,
        access_log,
    ):
        visitor = Visitor(port)
        assert visitor.get(continue_link).status == 200
        # A page opened from the link names it as the referer of what it loads.
        assert visitor.request(
            "GET", "/static/css/site.css", headers={"Referer": f"http://127.0.0.1{continue_link}"}
        ).status in (200, 404)
        # A link cut short of its slash is redirected, its Location naming the token.
        assert visitor.get(continue_link.rstrip("/")).status == 301
        assert visitor.get(f"/accounts/password/reset/key/{key}/").status == 200
        # Refused, so Django logs the path itself, on stderr.
        assert visitor.request("POST", continue_link).status == 403
    log = access_log.read_text()
    errors = (tmp_path / "gunicorn.err").read_text()
    assert "Forbidden (CSRF token missing.): /signup/continue/…/" in errors
    assert token not in errors

    assert token not in log and key not in log and key.split("-")[1] not in log
    lines = log.splitlines()
    assert len(lines) >= 6  # the startup probe and the five requests
    assert '"GET /signup/continue/…/ HTTP/1.1" /signup/continue/…/ /signup/continue/…/' in log
    assert '"http://127.0.0.1/signup/continue/…/" "http://127.0.0.1/signup/continue/…/"' in log
    assert '"GET /signup/continue/… HTTP/1.1"' in log
    assert "/signup/continue/…/ 301" in log
    assert '"GET /accounts/password/reset/key/…/ HTTP/1.1"' in log


@pytest.mark.django_db
def test_it_keeps_tokens_in_query_strings_out_of_the_access_log(tmp_path):
    token = make_token(EMAIL)
    secret = secrets.token_hex(16)
    details = f"/signup/continue/{token}/"
    with gunicorn(tmp_path, access_log_format=EVERYTHING, SECRET_KEY=settings.SECRET_KEY) as (
        port,
        access_log,
    ):
        visitor = Visitor(port)
        # The details form's username check sends the token in a POST body ...
        csrf = visitor.form_token(details)
        check = visitor.post_form(
            "/api/check-username", {"username": "freename", "token": token}, csrf
        )
        assert check.status == 200 and check.json() == {"available": True}
        # ... and an old page or a hand-made link that still puts one in a query string
        # is refused, and logged without it, as are other secret-looking parameters.
        assert visitor.get(f"/api/check-username?username=freename&token={token}").status == 405
        assert visitor.get(f"/healthz?access_token={secret}&next=%2Fkept").status == 200
        assert (
            visitor.request(
                "GET", "/healthz", headers={"Referer": f"http://127.0.0.1/x?api_key={secret}"}
            ).status
            == 200
        )
    log = access_log.read_text()
    assert token not in log and secret not in log
    assert '"POST /api/check-username HTTP/1.1"' in log
    assert '"GET /api/check-username?username=freename&token=… HTTP/1.1"' in log
    assert "/healthz?access_token=…&next=%2Fkept" in log
    assert '"http://127.0.0.1/x?api_key=…"' in log
