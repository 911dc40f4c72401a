"""Signed JSON POSTs to the endpoints staff configured, and nothing else.

Only http and https URLs are sent to; redirects are not followed (a 3xx is an answer
like any other non-2xx: the receiver is told of the event at the URL staff set, never
somewhere a redirect names). Each worker thread keeps one connection per receiver, so a
busy feed does not open a connection per delivery. The secret is used to sign and is
never logged or put in an error text.

A request has one deadline, from the connect to the last byte read: every send and
receive on its socket waits at most what is left of it, so a receiver that drips its
answer a byte at a time is given up on when the timeout is spent, like one that says
nothing (a timeout per receive alone would wait for such a receiver without end).
Looking the host name up is the one step outside it: the system resolver's own timeouts
bound that.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import io
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from integrations.models import HTTP_SCHEMES

SIGNATURE_HEADER = "X-Dhportal-Signature"
USER_AGENT = "dhportal-feed/1"
# How much of a receiver's answer is kept for staff.
ANSWER_LIMIT = 1000


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, as Stripe signs its webhooks."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{t}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def body_of(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, ...)
    text: str  # what staff read on the delivery

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class RefusedURL(ValueError):
    """A URL that is not http(s), or has no host: never sent to."""


def _target(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in HTTP_SCHEMES or not parts.hostname:
        raise RefusedURL("not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedURL("the URL's port is not a number") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


class _DeadlineSocket:
    """A connected socket whose every send and receive waits at most until the
    connection's deadline (a `time.monotonic()` value); past it, TimeoutError."""

    def __init__(self, sock: socket.socket, conn: _DeadlineMixin):
        self._sock = sock
        self._conn = conn

    def _arm(self) -> None:
        left = self._conn.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's deadline passed")
        self._sock.settimeout(left)

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize, flags=0):
        self._arm()
        return self._sock.recv(bufsize, flags)

    def sendall(self, data, flags=0):
        self._arm()
        return self._sock.sendall(data, flags)

    def makefile(self, mode="r", buffering=None, **kwargs):
        # http.client reads the answer through this file: its reads come back here.
        # As socket.makefile does: the file counts as a user of the socket.
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _DeadlineMixin:
    deadline: float = 0.0
    sock: socket.socket | _DeadlineSocket | None
    timeout: float | None

    def connect(self) -> None:
        # The connect (and a TLS handshake) gets what is left of the deadline, then
        # every later read and write is held to it.
        self.timeout = max(self.deadline - time.monotonic(), 0.001)
        super().connect()  # type: ignore[misc]
        assert self.sock is not None
        self.sock = _DeadlineSocket(self.sock, self)  # type: ignore[arg-type]


class _HTTPConnection(_DeadlineMixin, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineMixin, http.client.HTTPSConnection):
    pass


_local = threading.local()


def _connection(scheme: str, host: str, port: int):
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    key = (scheme, host, port)
    conn = pool.pop(key, None)
    reused = conn is not None
    if conn is None:
        if scheme == "https":
            conn = _HTTPSConnection(host, port, context=ssl.create_default_context())
        else:
            conn = _HTTPConnection(host, port)
    return key, conn, reused


def _keep(key, conn) -> None:
    _local.pool[key] = conn


def _answer_text(status: int, reason: str, body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return f"HTTP {status} {reason}{': ' + text if text else ''}"[:ANSWER_LIMIT]


def post(url: str, *, body: bytes, secret: str, timeout: float) -> Answer:
    """POST `body` to `url`, signed with `secret`. Never raises for what the receiver
    does (refuses, times out, answers garbage): that is the Answer."""
    try:
        scheme, host, port, path = _target(url)
    except RefusedURL as error:
        return Answer(None, f"Not sent: {error}.")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, body),
    }
    # One deadline for the whole request, a retry on a fresh connection included.
    deadline = time.monotonic() + timeout
    for _ in range(2):
        key, conn, reused = _connection(scheme, host, port)
        conn.deadline = deadline
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            # Only the start of the answer is read.
            data = response.read(ANSWER_LIMIT)
            complete = response.isclosed() or not response.length
            if complete and not response.will_close:
                _keep(key, conn)
            else:
                conn.close()
            return Answer(response.status, _answer_text(response.status, response.reason, data))
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
            conn.close()
            # A kept connection the receiver closed meanwhile: once more on a new one.
            if reused:
                continue
            return Answer(None, f"{type(error).__name__}: the receiver closed the connection")
        except TimeoutError:
            conn.close()
            return Answer(None, f"Timed out after {timeout:g} s")
        except (OSError, http.client.HTTPException, ValueError) as error:
            conn.close()
            return Answer(None, f"{type(error).__name__}: {error}"[:ANSWER_LIMIT])
    return Answer(None, "The receiver closed the connection")


def close_all() -> None:
    for conn in list(getattr(_local, "pool", {}).values()):
        with contextlib.suppress(Exception):
            conn.close()
    _local.pool = {}
