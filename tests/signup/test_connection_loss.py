"""The database goes away after step 2's critical transaction committed, before the new
member's session is saved: the member exists, so the visitor is told their signup is
complete and to log in (200), never "temporarily unavailable" (503). A real gunicorn
reaches PostgreSQL through the outage tests' proxy, which breaks the connection at
that moment."""

import pytest
from django.db import connection

from members.models import Member, User
from tests.server import Visitor
from tests.signup.conftest import continue_url, valid_details
from tests.test_outage import SERVER_SECRET_KEY, DatabaseProxy, log_in, open_login_page, serve

EMAIL = "lost.connection@example.org"
PASSWORD = valid_details()["password1"]
COMPLETE = "Signup is complete"


@pytest.fixture
def link(settings):
    """A continue link the served site accepts: signed with its key."""
    settings.SECRET_KEY = SERVER_SECRET_KEY
    return continue_url(EMAIL)


@pytest.fixture
def database():
    proxy = DatabaseProxy(connection.settings_dict)
    proxy.start()
    yield proxy
    proxy.trip = proxy.cut_after = None
    proxy.cut()


def signed_up_member() -> Member:
    member = Member.objects.select_related("user").get(email=EMAIL)
    assert User.objects.filter(email=EMAIL).count() == 1
    return member


def assert_told_to_log_in(reply):
    assert reply.status == 200, reply.text
    assert COMPLETE in reply.text
    assert "we could not log you in just now: please log in" in reply.text
    assert 'href="/accounts/login/"' in reply.text
    assert "Temporarily unavailable" not in reply.text


@pytest.mark.django_db(transaction=True)
def test_it_answers_signup_complete_when_the_database_goes_away_right_after_the_commit(
    tmp_path, database, link
):
    with serve(tmp_path, database) as (port, _):
        visitor = Visitor(port)
        token = visitor.form_token(link)
        # Everything after the critical COMMIT finds no database: the four scaffolding
        # steps, the login's new session and its save.
        database.cut_after = b"COMMIT"
        reply = visitor.post_form(link, valid_details(), token)
        assert database.tripped == 1
        assert_told_to_log_in(reply)
        assert "sessionid" not in visitor.cookies

        database.cut_after = None
        database.restore()
        member = signed_up_member()
        assert (member.notes, member.access, member.authorizations, member.extras) == (
            None,
            None,
            None,
            None,
        )
        # The link now says the same, and the password the visitor chose works.
        assert COMPLETE in visitor.get(link).text
        login = Visitor(port)
        assert log_in(login, open_login_page(login), EMAIL, PASSWORD).status == 302
        assert login.get("/signup/payment/").status == 200

    log = (tmp_path / "gunicorn.err").read_text()
    for label in ("notes", "access", "authorizations", "extras"):
        assert f"Signup member {member.pk}: {label} failed: OperationalError" in log
    assert f"Signup member {member.pk}: login failed: OperationalError" in log
    assert "Service Unavailable" not in log
    assert EMAIL not in log
    assert PASSWORD not in log


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "statement",
    # The login creates the session row, then the session is saved with the login in it.
    [b'INSERT INTO "django_session"', b'UPDATE "django_session"'],
    ids=["creating", "saving"],
)
def test_it_answers_signup_complete_when_the_session_cannot_be_saved(
    tmp_path, database, link, statement
):
    with serve(tmp_path, database) as (port, _):
        visitor = Visitor(port)
        token = visitor.form_token(link)
        database.trip = statement
        reply = visitor.post_form(link, valid_details(), token)
        assert database.tripped == 1
        assert_told_to_log_in(reply)
        assert "sessionid" not in visitor.cookies

        database.trip = None
        member = signed_up_member()
        # The scaffolding ran before the login, while the connection still answered.
        assert member.notes[0]["note"] == "New signup via member portal"
        login = Visitor(port)
        assert log_in(login, open_login_page(login), EMAIL, PASSWORD).status == 302
        assert login.get("/signup/payment/").status == 200

    log = (tmp_path / "gunicorn.err").read_text()
    assert "Service Unavailable" not in log
    assert f"Signup member {member.pk}: login failed: " in log
    assert PASSWORD not in log


@pytest.mark.django_db(transaction=True)
def test_it_logs_the_new_member_in_when_the_database_stays(tmp_path, database, link):
    with serve(tmp_path, database) as (port, _):
        visitor = Visitor(port)
        reply = visitor.post_form(link, valid_details(), visitor.form_token(link))
        assert (reply.status, reply.headers["Location"]) == (302, "/signup/payment/")
        assert "sessionid" in visitor.cookies
        payment = visitor.get("/signup/payment/")
        assert payment.status == 200
        assert "Welcome! Your account is ready." in payment.text
    assert signed_up_member().notes is not None
