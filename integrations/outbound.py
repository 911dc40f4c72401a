"""Signed JSON POSTs to the endpoints staff configured, and nothing else.

Only http and https URLs are sent to; redirects are not followed (a 3xx is an answer
like any other non-2xx: the receiver is told of the event at the URL staff set, never
somewhere a redirect names). Each worker thread keeps one connection per receiver, so a
busy feed does not open a connection per delivery. The secret is used to sign and is
never logged or put in an error text.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
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


_local = threading.local()


def _connection(scheme: str, host: str, port: int, timeout: float):
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    key = (scheme, host, port, timeout)
    conn = pool.pop(key, None)
    reused = conn is not None
    if conn is None:
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
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
    deadline = time.monotonic() + timeout
    for _ in range(2):
        key, conn, reused = _connection(scheme, host, port, timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            # The answer is read within what is left of the timeout, and only its start.
            if conn.sock is not None:
                conn.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            data = response.read(ANSWER_LIMIT)
            complete = response.isclosed() or not response.length
            if complete and not response.will_close:
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
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
