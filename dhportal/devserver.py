"""Run a web server and one job worker together, and stop both together.

    python -m dhportal.devserver <web server command ...>

`make run` (runserver) and `make serve` (gunicorn) start through this. The worker is
`manage.py procrastinate worker` with this interpreter. Ctrl-C (SIGINT) or SIGTERM
stops both: each gets SIGTERM, then SIGKILL if it is still there after a grace period.
When either exits by itself, the other is stopped too and the exit status is the one
that ended first, so a crashed worker never leaves a site running without its jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 10


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(processes: list[subprocess.Popen]) -> None:
    # Each child leads its own process group, so the signal also reaches what it
    # started (runserver's autoreloaded child, gunicorn's workers).
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    worker = [sys.executable, "manage.py", "procrastinate", "worker"]
    # The children run in process groups of their own, so Ctrl-C reaches only us and
    # we stop them in order, whatever each does with SIGINT.
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    processes = [
        subprocess.Popen(argv, process_group=0),  # noqa: S603 - the Makefile's command
        subprocess.Popen(worker, process_group=0),  # noqa: S603 - fixed command
    ]
    names = {processes[0].pid: "web server", processes[1].pid: "worker"}
    status = 0
    try:
        while not stopping:
            ended = [p for p in processes if p.poll() is not None]
            if ended:
                status = ended[0].returncode
                if status:
                    print(
                        f"devserver: the {names[ended[0].pid]} exited with status {status}; "
                        "stopping the other",
                        file=sys.stderr,
                    )
                break
            time.sleep(0.2)
    finally:
        _stop(processes)
    return status if status > 0 else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
