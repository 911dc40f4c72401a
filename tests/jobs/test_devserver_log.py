"""What `make run` shows a newcomer (dhportal/devserver.py): a banner saying where the
site is and where mail goes, and runserver's log without a line per static file."""

import subprocess
import sys
import time
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from django.conf import settings

from dhportal.devserver import banner, mail_destination
from tests.jobs import wait_for, worker_env
from tests.server import free_port


def test_it_says_mail_is_printed_in_the_terminal_when_email_url_is_not_set():
    text = banner({"SITE_NAME": "Test Space", "SITE_URL": "http://127.0.0.1:8000"})
    assert "Test Space" in text
    assert "Site: http://127.0.0.1:8000" in text
    assert (
        "Mail (signup links, password resets) is printed in this terminal "
        "(EMAIL_URL is not set)." in text
    )


@pytest.mark.parametrize(
    "email_url,where",
    [
        ("consolemail://", "printed in this terminal (EMAIL_URL)"),
        ("filemail:////tmp/portal-mail", "written as files to //tmp/portal-mail (EMAIL_URL)"),
        ("smtp://127.0.0.1:1025", "sent through smtp://127.0.0.1:1025 (EMAIL_URL)"),
        (
            "smtp+tls://portal:s3cret-pass@mail.example.org:587",
            "sent through smtp+tls://mail.example.org:587 (EMAIL_URL)",
        ),
    ],
)
def test_it_says_where_the_email_url_sends_mail_without_its_password(email_url, where):
    text = mail_destination(email_url)
    assert text == f"Mail (signup links, password resets) is {where}."
    assert "s3cret" not in text and "portal:" not in text


@pytest.mark.django_db(transaction=True)
def test_it_prints_the_banner_when_it_starts(job_queue):
    # A web server command that ends at once: devserver stops the worker and exits 0.
    process = subprocess.run(
        [sys.executable, "-m", "dhportal.devserver", "true"],
        cwd=settings.BASE_DIR,
        env=worker_env(EMAIL_URL="", SITE_URL="http://127.0.0.1:8000", SITE_NAME="Test Space"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    first_lines = process.stderr.splitlines()[:4]
    assert first_lines[0] == "Test Space: dhportal"
    assert "printed in this terminal (EMAIL_URL is not set)" in "\n".join(first_lines)


def _get(url: str) -> int:
    try:
        with urlopen(url, timeout=5) as response:
            return response.status
    except HTTPError as error:
        return error.code
    except OSError:
        return 0


@pytest.mark.django_db(transaction=True)
def test_it_keeps_static_files_served_fine_out_of_runservers_log():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env=worker_env(
            DJANGO_SETTINGS_MODULE="dhportal.settings", DEBUG="on", ALLOWED_HOSTS="127.0.0.1"
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _get(f"{base}/healthz") == 200, timeout=60, what="runserver")
        assert _get(f"{base}/static/admin/css/base.css") == 200
        assert _get(f"{base}/static/no-such-file.css") == 404
        assert _get(f"{base}/accounts/login/") == 200
        # runserver writes a request's line after answering it: wait for the last one.
        wait_for(lambda: _get(f"{base}/healthz?done") == 200, timeout=10, what="a last request")
        time.sleep(0.5)
    finally:
        process.terminate()
        log = process.communicate(timeout=30)[1]
    assert "GET /healthz" in log
    assert "GET /accounts/login/" in log
    assert "GET /static/no-such-file.css" in log  # an error stays in the log
    assert "/static/admin/css/base.css" not in log
