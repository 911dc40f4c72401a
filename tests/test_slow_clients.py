"""Slow clients cannot stop the site: sockets that dribble their headers a byte at a time
hold a thread each, not a worker, so /healthz keeps answering (gunicorn.conf.py).

The server is started as `make serve` starts it: the project's gunicorn.conf.py and two
workers. With the sync workers it used to run, two such sockets stopped both workers
until gunicorn's 30 s timeout killed them.
"""

import http.client
import socket
import threading
import time

import pytest

from tests.server import gunicorn

SLOW_SOCKETS = 8
HOLD_SECONDS = 20
PROBE_EVERY = 1.0
PROBE_TIMEOUT = 2.0


def open_slow_socket(port: int) -> socket.socket:
    """A client that has sent its request line and a first header, and is still typing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


def trickle(sockets: list[socket.socket], stop: threading.Event, dropped: set) -> None:
    """One more header byte on every socket each second until `stop`."""
    while not stop.wait(1.0):
        for index, sock in enumerate(sockets):
            if index in dropped:
                continue
            try:
                sock.sendall(b"a")
            except OSError:
                dropped.add(index)


def probe(port: int) -> tuple[float, object]:
    """(seconds taken, status or the error's name) of one GET /healthz."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", "/healthz")
        outcome = conn.getresponse().status
    except OSError as error:
        outcome = type(error).__name__
    finally:
        conn.close()
    return round(time.monotonic() - started, 2), outcome


# The server needs the test database to exist; /healthz only reads from it.
@pytest.mark.django_db
def test_it_answers_healthz_while_slow_clients_hold_their_sockets_open(tmp_path):
    with gunicorn(tmp_path, workers=2) as (port, _):
        sockets = [open_slow_socket(port) for _ in range(SLOW_SOCKETS)]
        stop, dropped = threading.Event(), set()
        trickler = threading.Thread(target=trickle, args=(sockets, stop, dropped))
        trickler.start()
        try:
            time.sleep(1.0)  # every slow socket accepted and reading its headers
            probes = []
            deadline = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < deadline:
                taken, outcome = probe(port)
                probes.append((taken, outcome))
                time.sleep(max(0.0, PROBE_EVERY - taken))
        finally:
            stop.set()
            trickler.join()
            for sock in sockets:
                sock.close()

    answered = [taken for taken, outcome in probes if outcome == 200]
    report = f"probes (seconds, outcome): {probes}; slow sockets dropped by the server: "
    report += f"{len(dropped)} of {SLOW_SOCKETS}"
    print(report)  # the figures, with pytest -rP
    assert len(probes) >= HOLD_SECONDS / (PROBE_EVERY + PROBE_TIMEOUT), report
    assert len(answered) == len(probes), report
