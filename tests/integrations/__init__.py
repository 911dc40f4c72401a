"""Helpers for the change feed's tests: a programmable loopback HTTP receiver (a
threaded http.server on 127.0.0.1, real sockets), the signature check a receiver
runs, and running the feed's jobs in this process as a worker would."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import connection

from tests.jobs import jobs, run_in_process
from tests.server import free_port

SEND_TASK = "integrations.tasks.send_delivery"
RESYNC_TASK = "integrations.tasks.resync_endpoint"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What the README tells a receiver to run (the same code)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"]) and (
        abs(time.time() - timestamp) <= tolerance
    )


@dataclass
class Request:
    at: float
    body: bytes
    headers: dict
    answered: int | None  # the status sent back; None when it held past the timeout

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1:`port`. Each request takes the next behaviour of
    `plan` (then `default`): "accept" (200), "fail" (500 with a body), "redirect"
    (302), "hold" (answer nothing for `hold_seconds`, longer than the client's
    timeout), "late" (store the event at once, as "accept" does, but answer 200 only
    after `hold_seconds`), or "drip" (a 200 answer sent one byte every `drip_seconds`;
    `dripping` counts the answers being dripped now). `stop()` closes the port
    (connection refused); `start()` opens it."""

    port: int = field(default_factory=free_port)
    plan: list[str] = field(default_factory=list)
    default: str = "accept"
    hold_seconds: float = 1.5
    drip_seconds: float = 2.0
    dripping: int = 0
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/dhportal"

    @property
    def accepted(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.answered == 200]

    def _behaviour(self) -> str:
        with self.lock:
            return self.plan.pop(0) if self.plan else self.default

    def _drip(self, wfile) -> None:
        with self.lock:
            self.dripping += 1
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                wfile.write(bytes([byte]))
                time.sleep(self.drip_seconds)
        except OSError:  # the client gave up
            pass
        finally:
            with self.lock:
                self.dripping -= 1

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver._server is None:
                    # Stopped: a connection kept alive from an earlier test's worker must
                    # not answer for this one (another receiver may have the port now).
                    self.close_connection = True
                    return
                behaviour = receiver._behaviour()
                status = {"accept": 200, "late": 200, "fail": 500, "redirect": 302}.get(behaviour)
                request = Request(time.time(), body, dict(self.headers.items()), status)
                if behaviour == "drip":
                    with receiver.lock:
                        receiver.requests.append(request)
                    receiver._drip(self.wfile)
                    self.close_connection = True
                    return
                if behaviour == "hold":
                    time.sleep(receiver.hold_seconds)
                    with receiver.lock:
                        receiver.requests.append(request)
                    self.close_connection = True
                    return
                with receiver.lock:
                    receiver.requests.append(request)
                if behaviour == "late":
                    time.sleep(receiver.hold_seconds)
                answer = b"ok" if status == 200 else b"receiver broke: try later"
                with contextlib.suppress(OSError):  # a late answer's client may be gone
                    self.send_response(status)
                    if status == 302:
                        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def send_jobs(task_name: str = SEND_TASK) -> list[dict]:
    return [j for j in jobs(task_name) if j["status"] == "todo"]


def run_send(job: dict, attempts: int = 0):
    """Run one send job here, as its `attempts`-th attempt; its result or exception."""
    try:
        return run_in_process(job, attempts=attempts)
    except Exception as error:  # the worker would retry it
        return error


def finish(job: dict) -> None:
    """Mark a job run (the worker would), so send_jobs() no longer lists it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s", [job["id"]]
        )


def run_all_sends() -> list:
    """Run every queued send job once, oldest first."""
    results = []
    for job in send_jobs():
        results.append(run_send(job))
        finish(job)
    return results
