"""Run a web server and one job worker together, and stop both together.

    python -m dhportal.devserver <web server command ...>

`make run` (runserver) and `make serve` (gunicorn) start through this. The worker is
`manage.py worker` with this interpreter. Ctrl-C (SIGINT) or SIGTERM stops both: each
gets SIGTERM, then SIGKILL if it is still there after a grace period; a second Ctrl-C
kills them at once. A worker that exits by itself is started again (after 1 s, doubling
up to a minute while it keeps failing at once), and the site keeps running meanwhile;
when the web server exits by itself, the worker is stopped and its exit status is ours.

It opens with a banner saying where the site is and where mail goes (in development,
signup links and password resets are printed in this terminal unless EMAIL_URL says
otherwise). `QuietStaticFilter` keeps runserver's log to the pages: the settings put it
on the `django.server` logger, so static files served fine are not logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

GRACE_SECONDS = 10
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 60.0
# A worker that ran this long before exiting is started again after the first delay.
RAN_WELL_SECONDS = 60.0
WORKER = [sys.executable, "manage.py", "worker"]


class Signals:
    """The first Ctrl-C or SIGTERM asks for a stop; the second for a kill."""

    def __init__(self):
        self.count = 0
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum, frame):
        self.count += 1

    @property
    def stopping(self) -> bool:
        return self.count >= 1

    @property
    def hurry(self) -> bool:
        return self.count >= 2


def mail_destination(email_url: str) -> str:
    """Where mail goes for this EMAIL_URL (settings.py's default: the console), in
    words; never the URL's user or password."""
    url = urlsplit(email_url or "consolemail://")
    scheme = url.scheme.lower()
    if scheme == "consolemail":
        where = "printed in this terminal"
    elif scheme == "filemail":
        where = f"written as files to {url.path or '(no folder set)'}"
    elif scheme == "memorymail":
        where = "kept in memory (never sent)"
    elif scheme == "dummymail":
        where = "thrown away"
    else:
        port = f":{url.port}" if url.port else ""
        where = f"sent through {scheme}://{url.hostname or ''}{port}"
    source = "EMAIL_URL" if email_url else "EMAIL_URL is not set"
    return f"Mail (signup links, password resets) is {where} ({source})."


def banner(environ: Mapping[str, str]) -> str:
    """What `make run` and `make serve` print first."""
    lines = [f"{environ.get('SITE_NAME') or 'Hackerspace'}: dhportal"]
    if environ.get("SITE_URL"):
        lines.append(f"Site: {environ['SITE_URL']}  (staff: {environ['SITE_URL']}/admin/)")
    lines.append(mail_destination(environ.get("EMAIL_URL", "")))
    lines.append("Ctrl-C stops the web server and the job worker.")
    return "\n".join(lines)


class QuietStaticFilter(logging.Filter):
    """Drops runserver's lines for static files answered without error (a page's
    stylesheets and scripts, dozens per click); errors stay."""

    def __init__(self, prefix: str = "/static/") -> None:
        super().__init__()
        self.prefix = "/" + prefix.strip("/") + "/"

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        args = record.args if isinstance(record.args, tuple) else ()
        request_line = str(args[0]) if args else ""
        parts = request_line.split()
        path = parts[1] if len(parts) > 1 else ""
        return not (path.startswith(self.prefix) and isinstance(status, int) and status < 400)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(processes: list[subprocess.Popen], signals: Signals) -> None:
    # Each child leads its own process group, so the signal also reaches what it
    # started (runserver's autoreloaded child, gunicorn's workers).
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while any(p.poll() is None for p in processes):
        if signals.hurry or time.monotonic() > deadline:
            for process in processes:
                _signal_group(process, signal.SIGKILL)
            for process in processes:
                process.wait()
            return
        time.sleep(0.1)


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(WORKER, process_group=0)  # noqa: S603 - fixed command


def _wait(seconds: float, signals: Signals) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not signals.stopping:
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    # The children run in process groups of their own, so Ctrl-C reaches only us and
    # we stop them in order, whatever each does with SIGINT.
    signals = Signals()
    print(banner(os.environ), file=sys.stderr, flush=True)
    web = subprocess.Popen(argv, process_group=0)  # noqa: S603 - the Makefile's command
    worker = _start_worker()
    started, delay = time.monotonic(), RESTART_FIRST_SECONDS
    status = 0
    try:
        while not signals.stopping:
            if web.poll() is not None:
                status = web.returncode
                if status:
                    print(f"devserver: the web server exited with status {status}", file=sys.stderr)
                break
            if worker.poll() is not None:
                if time.monotonic() - started >= RAN_WELL_SECONDS:
                    delay = RESTART_FIRST_SECONDS
                print(
                    f"devserver: the worker exited with status {worker.returncode}; "
                    f"starting it again in {delay:g} s",
                    file=sys.stderr,
                )
                _wait(delay, signals)
                if signals.stopping:
                    break
                worker, started = _start_worker(), time.monotonic()
                delay = min(delay * 2, RESTART_MAX_SECONDS)
            time.sleep(0.2)
    finally:
        _stop([web, worker], signals)
    return status if status > 0 else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
