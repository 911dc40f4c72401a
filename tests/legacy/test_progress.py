"""Progress on stderr when it is a terminal; the summary line alone on stdout."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from members.models import Member
from tests.dburl import test_database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_it_shows_progress_on_a_terminal_and_the_summary_on_stdout(deepharbor):
    leader, follower = pty.openpty()
    # A terminal 100 columns wide (a fresh pseudo-terminal has none).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "import_deepharbor", "--source", deepharbor],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": test_database_url(),
                "DJANGO_SETTINGS_MODULE": "dhportal.settings_test",
            },
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
        )
        os.close(follower)
        follower = None
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)

    assert done.returncode == 0
    assert done.stdout.decode().startswith("imported 19, already imported 0,")
    assert done.stdout.decode().count("\n") == 1
    assert b"Deep Harbor members" in shown
    assert b"19/19" in shown
    assert Member.objects.count() == 19
