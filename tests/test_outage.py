"""A database outage: a real gunicorn reaches PostgreSQL only through a proxy that the
test cuts and restores. While it is cut, pages answer a plain 503 page, /healthz 503
and the Stripe webhook 503 (so Stripe retries); once it is back, the same server
answers normally again and the redelivered event is processed once."""

import contextlib
import os
import socket
import threading
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.exceptions import SessionInterrupted
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.db import DatabaseError, OperationalError, connection
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from billing.models import EventState, StripeEvent, Subscription
from dhportal.views import RETRY_AFTER_SECONDS, bad_request, server_error
from tests.billing.stripe_events import SECRET, WEBHOOK_URL, checkout_for, signed
from tests.factories import DEFAULT_PASSWORD, MemberFactory
from tests.server import Reply, Visitor, free_port, gunicorn

UNAVAILABLE_TEXT = "Temporarily unavailable"
SERVER_SECRET_KEY = "outage-test-secret-key"


class DatabaseProxy:
    """A TCP proxy in front of the test database.

    The gunicorn under test is given the proxy's address, so only its connections pass
    through here: `cut()` refuses new connections and breaks the open ones, as a
    database that went away does; `restore()` listens again on the same port; while
    `trip` is set, a connection that sends those bytes (a piece of SQL) is broken
    before they reach the server, a connection lost in the middle of a request; while
    `cut_after` is set, a connection that sent those bytes (e.g. COMMIT) and got the
    server's answer cuts the whole proxy at the next bytes it sends: the database goes
    away right after that statement, and stays away until `restore()`.
    """

    def __init__(self, db):
        host, port = db["HOST"] or "/var/run/postgresql", db.get("PORT") or "5432"
        # The embedded PostgreSQL listens only on a socket in a directory.
        if host.startswith("/"):
            self._target = (socket.AF_UNIX, os.path.join(host, f".s.PGSQL.{port}"))
        else:
            self._target = (None, (host, int(port)))
        password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
        self._credentials = f"{quote(db['USER'])}{password}"
        self.database_name = db["NAME"]
        self._lock = threading.Lock()
        self._links = set()
        self._listener = None
        self.port = 0
        self.trip = None
        self.cut_after = None
        self.tripped = 0

    @property
    def database_url(self) -> str:
        return f"postgres://{self._credentials}@127.0.0.1:{self.port}/{self.database_name}"

    def start(self):
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    restore = start

    def cut(self) -> int:
        """Stop listening and break every open connection; return how many there were."""
        links = self._sever()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        return links

    def _sever(self) -> int:
        with self._lock:
            listener, self._listener = self._listener, None
            links = list(self._links)
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        _shut(listener)
        for link in links:
            self._drop(link)
        return len(links)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            link = (client, upstream)
            with self._lock:
                if self._listener is not listener:  # cut while this one was accepted
                    _shut(client)
                    _shut(upstream)
                    return
                self._links.add(link)
            for source, sink, outgoing in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump, args=(link, source, sink, outgoing), daemon=True
                ).start()

    def _connect_upstream(self):
        family, address = self._target
        if family is None:
            return socket.create_connection(address, timeout=10)
        upstream = socket.socket(family, socket.SOCK_STREAM)
        upstream.connect(address)
        return upstream

    def _pump(self, link, source, sink, outgoing):
        seen = b""
        answered = False  # cut_after was sent; the server's answer has gone back since
        try:
            while data := source.recv(65536):
                if answered:
                    with self._lock:
                        self.tripped += 1
                    self._sever()
                    return
                trip, after = self.trip, self.cut_after
                if outgoing and (trip or after):
                    # Keep the end of the previous chunk: the SQL may span two reads.
                    seen = seen[-max(len(trip or b""), len(after or b"")) :] + data
                    if trip and trip in seen:
                        with self._lock:
                            self.tripped += 1
                        return
                    # The client waits for the answer before it sends anything else.
                    answered = bool(after and after in seen)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(link)

    def _drop(self, link):
        with self._lock:
            self._links.discard(link)
        for sock in link:
            _shut(sock)


def _shut(sock):
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy():
    database = DatabaseProxy(connection.settings_dict)
    database.start()
    yield database
    database.cut()


def open_login_page(visitor) -> str:
    """The login page's CSRF token, fetched while the database answers."""
    return visitor.form_token("/accounts/login/")


def log_in(visitor, token, email, password=DEFAULT_PASSWORD) -> Reply:
    return visitor.post_form("/accounts/login/", {"login": email, "password": password}, token)


def deliver(visitor, event) -> Reply:
    body, signature = signed(event)
    return visitor.request(
        "POST",
        WEBHOOK_URL,
        body,
        {"Content-Type": "application/json", "Stripe-Signature": signature},
    )


def serve(tmp_path, proxy):
    """gunicorn as in production (DEBUG off, persistent database connections), one
    worker so that the connection the test breaks is the one the next request uses."""
    return gunicorn(
        tmp_path,
        workers=1,
        DATABASE_URL=proxy.database_url,
        CONN_MAX_AGE="60",
        SECRET_KEY=SERVER_SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=SECRET,
    )


def assert_unavailable(reply, proxy):
    assert reply.status == 503, reply.text
    assert reply.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "no-store" in reply.headers["Cache-Control"]
    assert UNAVAILABLE_TEXT in reply.text
    leaks = ("Traceback", "Error", "psycopg", "127.0.0.1", str(proxy.port), proxy.database_name)
    for leak in (*leaks, SERVER_SECRET_KEY, SECRET):
        assert leak not in reply.text


def assert_logged_in(visitor, member):
    dashboard = visitor.get("/dashboard/")
    assert dashboard.status == 200
    assert f"Hello, {member.preferred_name}" in dashboard.text


def checkout_notes(member):
    member.refresh_from_db()
    return [n for n in member.notes if "checkout" in n["note"] and "completed" in n["note"]]


def assert_processed_once(event, member):
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert (stored.state, stored.attempts, stored.member_id) == (EventState.PROCESSED, 1, member.pk)
    assert len(checkout_notes(member)) == 1
    subscription = event["data"]["object"]["subscription"]
    assert Subscription.objects.get(stripe_id=subscription).member_id == member.pk


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_while_the_database_is_cut_and_recovers_by_itself(tmp_path, proxy):
    member = MemberFactory(membership="pending")
    checkout = checkout_for(member, customer="cus_outage", sub_id="sub_outage")
    with serve(tmp_path, proxy) as (port, _):
        member_browser = Visitor(port)
        assert log_in(member_browser, open_login_page(member_browser), member.email).status == 302
        assert member_browser.get("/").status == 200
        assert_logged_in(member_browser, member)
        newcomer = Visitor(port)
        token = open_login_page(newcomer)

        # The worker's persistent connection is among those broken.
        assert proxy.cut() >= 1

        # Loading the logged-in user's session needs the database.
        assert_unavailable(member_browser.get("/"), proxy)
        assert_unavailable(member_browser.get("/dashboard/"), proxy)
        assert_unavailable(log_in(newcomer, token, member.email), proxy)
        health = newcomer.get("/healthz")
        assert (health.status, health.json()) == (503, {"status": "unavailable"})
        assert_unavailable(deliver(newcomer, checkout), proxy)
        # A page that needs no database goes on serving.
        assert newcomer.get("/").status == 200

        proxy.restore()

        assert member_browser.get("/").status == 200
        assert_logged_in(member_browser, member)
        assert newcomer.get("/healthz").status == 200
        assert log_in(newcomer, token, member.email).headers["Location"] == "/dashboard/"
        assert_logged_in(newcomer, member)
        redelivered = deliver(newcomer, checkout)
        assert redelivered.status == 200
        assert redelivered.json()["state"] == EventState.PROCESSED
        assert deliver(newcomer, checkout).json()["duplicate"] is True

    assert_processed_once(checkout, member)
    log = (tmp_path / "gunicorn.err").read_text()
    # django.request logs each 503 with its path and the database error; nothing the
    # visitors typed.
    assert "Service Unavailable: /dashboard/" in log
    assert "Service Unavailable: /accounts/login/" in log
    assert f"Service Unavailable: {WEBHOOK_URL}" in log
    assert "OperationalError" in log
    assert member.email not in log
    assert DEFAULT_PASSWORD not in log


@pytest.mark.django_db(transaction=True)
def test_it_reconnects_when_the_database_comes_back_between_two_requests(tmp_path, proxy):
    member = MemberFactory()
    with serve(tmp_path, proxy) as (port, _):
        browser = Visitor(port)
        assert log_in(browser, open_login_page(browser), member.email).status == 302
        assert_logged_in(browser, member)

        # A database restart: the worker's persistent connection is dead, though no
        # request saw it happen; the next request must not fail on it.
        assert proxy.cut() >= 1
        proxy.restore()

        assert_logged_in(browser, member)
        assert browser.get("/healthz").status == 200


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_and_keeps_nothing_when_the_connection_drops_inside_a_webhook_handler(
    tmp_path, proxy
):
    member = MemberFactory(membership="pending")
    checkout = checkout_for(member, customer="cus_drop", sub_id="sub_drop")
    with serve(tmp_path, proxy) as (port, _):
        stripe = Visitor(port)
        # The event row is inserted first; the handler's first query on the member
        # loses the connection.
        proxy.trip = b'"members_member"'
        assert_unavailable(deliver(stripe, checkout), proxy)
        assert proxy.tripped == 1

        assert not StripeEvent.objects.filter(stripe_id=checkout["id"]).exists()
        assert not Subscription.objects.exists()
        assert checkout_notes(member) == []
        # An outage, not a failing handler: the event is not reported as failed.
        assert f"Stripe event {checkout['id']}" not in (tmp_path / "gunicorn.err").read_text()

        proxy.trip = None
        assert deliver(stripe, checkout).json()["state"] == EventState.PROCESSED

    assert_processed_once(checkout, member)


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_the_session_cannot_be_saved_after_the_view(tmp_path, proxy):
    member = MemberFactory()
    with serve(tmp_path, proxy) as (port, _):
        browser = Visitor(port)
        token = open_login_page(browser)
        # The login view creates the session; SessionMiddleware saves it again on the
        # way out, and that is where the connection is lost.
        proxy.trip = b'UPDATE "django_session"'
        reply = log_in(browser, token, member.email)
        assert_unavailable(reply, proxy)
        assert proxy.tripped == 1
        assert "sessionid" not in browser.cookies

        proxy.trip = None
        assert log_in(browser, token, member.email).status == 302
        assert_logged_in(browser, member)
    # Django logs it as an interrupted session; the traceback says why.
    log = (tmp_path / "gunicorn.err").read_text()
    assert "request.session.save()" in log
    assert "OperationalError: consuming input failed" in log


# --- the error handlers themselves, in process ----------------------------------------


def refused_connection_error() -> psycopg.OperationalError:
    """What psycopg raises when nothing listens where the database should be."""
    try:
        psycopg.connect(host="127.0.0.1", port=free_port(), connect_timeout=5)
    except psycopg.OperationalError as error:
        return error
    raise AssertionError("a free port accepted a connection")


def wrapped(driver_error):
    """The driver's error as Django raises it."""
    try:
        raise OperationalError(*driver_error.args) from driver_error
    except OperationalError as error:
        return error


def session_interrupted(by):
    """SessionInterrupted as SessionMiddleware raises it when saving fails with `by`."""
    try:
        try:
            try:
                raise by
            except DatabaseError:
                raise UpdateError from None
        except UpdateError:
            raise SessionInterrupted("The request's session was deleted") from None
    except SessionInterrupted as error:
        return error


def request_from_a_member():
    """A request as the middleware leaves it: a session and a lazy user that would be
    loaded from the database. These tests have no database access, so a handler that
    touches either fails."""
    request = RequestFactory().get("/dashboard/")
    request.session = SessionStore(session_key="a" * 32)
    request.user = SimpleLazyObject(lambda: get_user(request))
    return request


def answer_to(exception):
    """The error handlers' answer to a request that raised `exception`, called as
    Django calls them: inside the except block."""
    request = request_from_a_member()
    try:
        raise exception
    except (BadRequest, SuspiciousOperation) as error:
        return bad_request(request, error)
    except Exception:
        return server_error(request)


@pytest.mark.parametrize(
    "make_error",
    [
        refused_connection_error,
        lambda: psycopg.OperationalError("the connection is closed"),
        lambda: psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        lambda: psycopg.errors.CannotConnectNow("the database system is starting up"),
        lambda: psycopg.errors.TooManyConnections("sorry, too many clients already"),
    ],
    ids=["refused", "closed", "terminated", "starting-up", "full"],
)
def test_it_answers_the_plain_503_page_when_the_database_cannot_be_reached(make_error):
    driver_error = make_error()
    response = answer_to(wrapped(driver_error))
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    page = response.content.decode()
    assert UNAVAILABLE_TEXT in page
    assert str(driver_error) not in page
    assert type(driver_error).__name__ not in page
    assert settings.SECRET_KEY not in page


def test_it_answers_503_to_a_session_that_could_not_be_saved_for_want_of_a_database():
    lost = wrapped(psycopg.OperationalError("consuming input failed: server closed"))
    response = answer_to(session_interrupted(by=lost))
    assert response.status_code == 503
    assert UNAVAILABLE_TEXT in response.content.decode()


def test_it_answers_400_to_a_session_interrupted_by_anything_else():
    deleted = DatabaseError("no row was updated")
    assert answer_to(session_interrupted(by=deleted)).status_code == 400


@pytest.mark.parametrize(
    "exception",
    [
        wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
        wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
        ValueError("a bug"),
    ],
    ids=["deadlock", "statement-timeout", "bug"],
)
def test_it_answers_the_plain_500_page_to_any_other_error(exception):
    response = answer_to(exception)
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert "Something went wrong" in response.content.decode()
    assert "Traceback" not in response.content.decode()
