"""Raw HTTP at a real gunicorn: what the test client cannot send. Invalid UTF-8 and
percent junk in the path and query, wrong or conflicting Content-Length, broken chunked
bodies, truncated and malformed multipart, wrong content types, and header junk, each
aimed at a form endpoint or the webhook.

No answer is a 5xx and the server logs no error; whatever got through, every signup is
whole (a User, its address and its Member, or none) and every member is in step with
its login."""

import json
import re
import secrets
import socket
import time
from dataclasses import dataclass

import pytest
import stripe
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from members.models import Member, User
from signup.tokens import make_token
from tests.billing.stripe_events import SECRET, stripe_event
from tests.factories import MemberFactory, StaffFactory
from tests.fuzz.fuzzing import EXAMPLES, FUZZ, body_for, form_data, junk_bytes
from tests.server import gunicorn

CSRF = secrets.token_hex(16)  # an unmasked secret is a valid token for its own cookie


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """One gunicorn for the module (starting one costs seconds), on the test database."""
    directory = tmp_path_factory.mktemp("raw_http")
    with (
        django_db_blocker.unblock(),
        gunicorn(directory, STRIPE_WEBHOOK_SECRET=SECRET) as (port, _),
    ):
        yield port, directory / "gunicorn.err"


@pytest.fixture
def site(server):
    """Rows the server can see (this test's transaction commits), and the cookies of
    a member and a staff user."""
    port, errors = server
    member = MemberFactory()
    staff = StaffFactory()
    cookies = {}
    for name, user in (("member", member.user), ("staff", staff)):
        client = Client()
        client.force_login(user)
        cookies[name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return Site(port, errors, member, cookies)


@dataclass
class Site:
    port: int
    errors: object
    member: Member
    cookies: dict

    def targets(self):
        """(path, who) for every form endpoint and the webhook."""
        return [
            ("/signup/", None),
            (f"/signup/continue/{make_token('raw@example.org')}/", None),
            ("/api/check-username", None),
            ("/accounts/login/", None),
            ("/accounts/password/reset/", None),
            ("/dashboard/profile/", "member"),
            ("/dashboard/floof/", "member"),
            ("/dashboard/keys/", "member"),
            ("/accounts/password/change/", "member"),
            (f"/admin/members/member/{self.member.pk}/change/", "staff"),
            ("/admin/members/member/", "staff"),
            ("/billing/stripe/webhook/", None),
        ]


@dataclass(frozen=True)
class Raw:
    data: bytes

    def __repr__(self):
        return f"Raw({self.data[:400]!r}{'...' if len(self.data) > 400 else ''})"


def send(port: int, raw: Raw) -> bytes:
    """Send the bytes, close our side (so a short body ends), read until the server
    closes. A server that never answers fails the test by the timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        try:
            sock.sendall(raw.data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused early and closed; its answer may still be there
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/\d\.\d (\d{3})", answer)
    return int(match[1]) if match else None


def assert_whole(site):
    """Every signup is whole and every member is in step with its login."""
    users = User.objects.filter(is_staff=False)
    assert users.count() == Member.objects.filter(user__isnull=False).count()
    for member in Member.objects.select_related("user").filter(user__isnull=False):
        assert (member.user.email, member.user.username) == (member.email, member.username)
        assert member.identity is not None
        assert all(
            getattr(member, column) is not None for column in ("status", "connections", "forms")
        )
    for user in User.objects.all():
        assert EmailAddress.objects.filter(user=user, primary=True, email=user.email).exists()


def _server_errors(site, offset):
    """The server's error lines logged since `offset`, and where the log ends now."""
    text = site.errors.read_text(errors="replace")
    new = text[offset:]
    # Django logs a refused request (a 400) with its traceback at WARNING, and a
    # SuspiciousOperation at ERROR on django.security: neither is a server error.
    problems = [
        line
        for line in new.splitlines()
        if re.search(r"Internal Server Error|\[CRITICAL\]|WORKER TIMEOUT|\[ERROR\]", line)
    ]
    return problems, len(text)


def fuzz_raw(site, requests):
    """Send EXAMPLES raw requests; each gets a non-5xx answer (or none: the server may
    close on bytes that are not HTTP) and leaves no server error and no partial write."""
    ran = 0
    offset = _server_errors(site, 0)[1]

    def one(raw):
        nonlocal ran, offset
        ran += 1
        answer = send(site.port, raw)
        status = status_of(answer)
        problems, offset = _server_errors(site, offset)
        assert status is None or status < 500, answer[:300]
        assert problems == [], problems
        assert_whole(site)

    FUZZ(given(requests)(one))()
    assert ran >= EXAMPLES


# --- building requests ----------------------------------------------------------

PATH_JUNK = [
    b"%ff",
    b"%fe%ff",
    b"%c0%af",
    b"%e2%82",
    b"%00",
    b"\xff",
    b"\xc3",
    b"\x80abc",
    b"%",
    b"%zz",
    b"%2f",
    b"..",
    b"//",
    b"~",
    b"\x7f",
    b"%u2603",
    "é".encode(),
    "😀".encode(),
]
junk_piece = st.one_of(st.sampled_from(PATH_JUNK), st.binary(max_size=4))
junk_run = st.lists(junk_piece, min_size=1, max_size=6).map(b"".join)


def _line_safe(data: bytes) -> bytes:
    # A space or line break would end the request line early: a different test.
    return data.replace(b" ", b"%20").replace(b"\r", b"%0D").replace(b"\n", b"%0A")


def _form_for(path: str, draw):
    if path.startswith("/billing/"):
        return draw(_webhook_bodies())
    fields = {
        "email": st.emails(),
        "username": st.just("rawuser"),
        "first_name": st.just("Raw"),
        "tag": st.just("123"),
        "login": st.emails(),
        "password": st.text(max_size=10),
    }
    return draw(body_for(form_data(fields)))


def _webhook_bodies():
    def signed(name):
        body = json.dumps(stripe_event(name, event_id=f"evt_raw_{name}"))
        header = stripe.WebhookSignature.generate_signature_header(
            body, SECRET, timestamp=int(time.time())
        )
        return _Payload("application/json", body.encode(), header)

    return st.one_of(
        st.sampled_from(["customer.created", "invoice.paid"]).map(signed),
        st.builds(lambda b: _Payload("application/json", b, "t=1,v1=00"), junk_bytes),
    )


@dataclass(frozen=True)
class _Payload:
    """A body with its content type, and a Stripe-Signature header when it has one."""

    content_type: str
    data: bytes
    signature: str = ""


def _headers(site, path, who, body, content_length, extra):
    headers = [(b"Host", f"127.0.0.1:{site.port}".encode())]
    cookie = f"csrftoken={CSRF}"
    if who:
        cookie += f"; {settings.SESSION_COOKIE_NAME}={site.cookies[who]}"
    headers += [(b"Cookie", cookie.encode()), (b"X-CSRFToken", CSRF.encode())]
    if body is not None:
        headers.append((b"Content-Type", body.content_type.encode("latin-1", "replace")))
        if getattr(body, "signature", ""):
            headers.append((b"Stripe-Signature", body.signature.encode()))
    if content_length is not None:
        headers.append((b"Content-Length", content_length))
    headers += extra
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def _request(method, target, version, headers, body):
    return Raw(method + b" " + target + b" " + version + b"\r\n" + headers + b"\r\n" + body)


@st.composite
def bad_request_lines(draw, site):
    """Junk in the method, the path, the query and the HTTP version."""
    path, who = draw(st.sampled_from(site.targets()))
    base, _, query = path.partition("?")
    where = draw(st.sampled_from(["path", "query", "both", "long", "replace"]))
    target = base.encode()
    if where in ("path", "both"):
        cut = draw(st.integers(0, len(target)))
        target = target[:cut] + draw(junk_run) + target[cut:]
    if where == "long":
        target += b"a" * draw(st.sampled_from([4_000, 5_000, 9_000]))
    if where == "replace":
        target = b"/" + draw(junk_run)
    query = query.encode()
    if where in ("query", "both"):
        query += b"&" + draw(junk_run) + b"=" + draw(junk_run)
    if query:
        target += b"?" + query
    method = draw(
        st.sampled_from([b"POST", b"POST", b"GET", b"HEAD", b"PUT", b"OPTIONS", b"get", b"P\x00ST"])
    )
    version = draw(
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.x"])
    )
    body = _form_for(path, draw) if method == b"POST" else None
    data = body.data if body is not None else b""
    headers = _headers(site, path, who, body, str(len(data)).encode(), [])
    return _request(method, _line_safe(target), version, headers, data)


@st.composite
def bad_lengths_and_headers(draw, site):
    """Content-Length that lies, conflicts or is not a number; Transfer-Encoding next to
    it; header junk: bytes that are not Latin-1, NUL, a header longer than allowed."""
    path, who = draw(st.sampled_from(site.targets()))
    body = _form_for(path, draw)
    data = body.data
    length = len(data)
    content_length = draw(
        st.sampled_from(
            [
                str(length),
                str(length + 1),
                str(length + 1000),
                str(max(length - 1, 0)),
                "0",
                "-1",
                "",
                "abc",
                "1e3",
                " 12",
                "+5",
                "0x10",
                "99999999999999999999",
                f"{length}, {length}",
                None,
            ]
        )
    )
    extra = []
    for _ in range(draw(st.sampled_from([1, 0, 2, 3]))):
        extra.append(
            draw(
                st.sampled_from(
                    [
                        (b"Content-Length", b"7"),
                        (b"Transfer-Encoding", b"chunked"),
                        (b"Transfer-Encoding", b"gzip"),
                        (b"Transfer-Encoding", b"chunked, identity"),
                        (b"Content-Type", b"multipart/form-data; boundary=\xff\xfe"),
                        (b"Content-Type", b"text/plain; charset=\x00"),
                        (b"X-Forwarded-For", b"\xff\xfe, 1.2.3.4, ::1"),
                        (b"Cookie", b"sessionid=\xff\x00; csrftoken=" + b"x" * 300),
                        (b"Stripe-Signature", "t=1,v1=\u00e9".encode()),
                        (b"Host", b"evil.example"),
                        (b"X-Long", b"x" * 9000),
                        (b"X-Nul", b"a\x00b"),
                        (b"Bad Header", b"space in the name"),
                        (b"X-Folded", b"first\r\n second"),
                    ]
                )
            )
        )
    if content_length is not None:
        content_length = content_length.encode()
    headers = _headers(site, path, who, body, content_length, extra)
    return _request(b"POST", path.encode(), b"HTTP/1.1", headers, data)


def _chunked(data: bytes, sizes, damage) -> bytes:
    out, at = b"", 0
    for size in sizes:
        piece = data[at : at + size]
        at += size
        if not piece:
            break
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    if at < len(data):
        rest = data[at:]
        out += b"%x\r\n" % len(rest) + rest + b"\r\n"
    out += b"0\r\n\r\n"
    if damage == "size_too_big":
        out = out.replace(b"\r\n", b"0\r\n", 1)
    elif damage == "not_hex":
        out = b"zz\r\n" + out
    elif damage == "no_end":
        out = out[: -len(b"0\r\n\r\n")]
    elif damage == "extension":
        out = out.replace(b"\r\n", b";name=\xff\r\n", 1)
    elif damage == "cut":
        out = out[: len(out) // 2]
    return out


@st.composite
def bad_bodies(draw, site):
    """Chunked bodies (whole and broken), bodies cut short, and multipart or form bodies
    under the wrong content type."""
    path, who = draw(st.sampled_from(site.targets()))
    body = _form_for(path, draw)
    how = draw(st.sampled_from(["chunked", "chunked", "truncated", "swap_type", "empty"]))
    data = body.data
    if how == "chunked":
        sizes = draw(st.lists(st.integers(1, 64), max_size=6))
        damage = draw(
            st.sampled_from(["", "size_too_big", "not_hex", "no_end", "extension", "cut"])
        )
        headers = _headers(site, path, who, body, None, [(b"Transfer-Encoding", b"chunked")])
        return _request(b"POST", path.encode(), b"HTTP/1.1", headers, _chunked(data, sizes, damage))
    if how == "truncated":
        cut = draw(st.integers(0, max(len(data) - 1, 0)))
        headers = _headers(site, path, who, body, str(len(data)).encode(), [])
        return _request(b"POST", path.encode(), b"HTTP/1.1", headers, data[:cut])
    if how == "swap_type":
        other = draw(
            st.sampled_from(
                [
                    "multipart/form-data; boundary=nope",
                    "application/x-www-form-urlencoded",
                    "application/json",
                    "text/plain",
                ]
            )
        )
        body = _Payload(other, data, getattr(body, "signature", ""))
        headers = _headers(site, path, who, body, str(len(data)).encode(), [])
        return _request(b"POST", path.encode(), b"HTTP/1.1", headers, data)
    headers = _headers(site, path, who, body, b"0", [])
    return _request(b"POST", path.encode(), b"HTTP/1.1", headers, b"")


@pytest.mark.django_db(transaction=True)
def test_it_answers_junk_in_the_request_line_without_a_5xx(site):
    fuzz_raw(site, bad_request_lines(site))


@pytest.mark.django_db(transaction=True)
def test_it_answers_lying_lengths_and_junk_headers_without_a_5xx(site):
    fuzz_raw(site, bad_lengths_and_headers(site))


@pytest.mark.django_db(transaction=True)
def test_it_answers_chunked_truncated_and_mistyped_bodies_without_a_5xx(site):
    fuzz_raw(site, bad_bodies(site))


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_query_string_too_long_for_the_server(site):
    # The reason the client-side fuzzing sends long query values, not megabytes.
    offset = _server_errors(site, 0)[1]
    answer = send(site.port, Raw(_long_get(site, 1_000_000)))
    assert status_of(answer) in (400, 414, None)
    assert _server_errors(site, offset)[0] == []


UNPARSEABLE = [
    # A form post declaring another charset than UTF-8 (Django refuses it) ...
    ("/signup/", "application/x-www-form-urlencoded; charset=utf-16", b"email=a%40b.org", 400),
    # ... and a multipart post with no boundary, to a page that does not exist.
    ("/no-such-page/", "multipart/form-data", b"", 404),
]


@pytest.mark.parametrize(("path", "content_type", "body", "expected"), UNPARSEABLE)
@pytest.mark.django_db(transaction=True)
def test_it_answers_a_body_that_fails_to_parse_without_a_500(
    site, path, content_type, body, expected
):
    sent = _Payload(content_type, body)
    headers = _headers(site, path, None, sent, b"%d" % len(body), [])
    answer = send(site.port, _request(b"POST", path.encode(), b"HTTP/1.1", headers, body))
    assert status_of(answer) == expected


def _long_get(site, size):
    return (
        b"GET /api/check-username?username=" + b"a" * size + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1:" + str(site.port).encode() + b"\r\n\r\n"
    )
