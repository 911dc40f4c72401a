"""Browser tests: Playwright (from PyPI) driving Debian's chromium.

Outside CI a machine without chromium skips these tests with a message naming the
package; under CI=true a missing chromium fails them instead. Requests to anything
but loopback are aborted, so no test reaches the network. ORM calls must stay out
of Playwright's event loop: use `orm(fn, ...)`, which runs them on another thread.
"""

import os
import shutil
from functools import partial
from urllib.parse import urlsplit

import pytest

from tests.threads import run_concurrently

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    return shutil.which("chromium")


def orm(fn, *args, **kwargs):
    """Run a database call on a plain thread, away from Playwright's event loop."""
    [result] = run_concurrently(partial(fn, *args, **kwargs), barrier=False)
    return result


def _block_non_loopback(route):
    host = urlsplit(route.request.url).hostname or ""
    if host in LOOPBACK or route.request.url.startswith(("data:", "about:")):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def page(live_server):
    path = chromium_path()
    if path is None:
        message = "browser tests need Debian's `chromium` package (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context()
        context.route("**/*", _block_non_loopback)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
