from pathlib import Path

import pytest

pytest_plugins = ["tests.browser", "tests.roles"]

FUZZ_TESTS = Path(__file__).with_name("fuzz")


def pytest_collection_modifyitems(items):
    """Every test under tests/fuzz/ carries the `fuzz` marker, so a run can leave
    them out (`-m "not fuzz"`) without naming the folder."""
    for item in items:
        if FUZZ_TESTS in item.path.parents:
            item.add_marker(pytest.mark.fuzz)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits live in the cache; each test starts with none used."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def smtp(settings):
    """Mail sent in this process goes to a real SMTP server on a loopback port (an
    aiosmtpd sink: tests.jobs.SmtpSink), which the test can make refuse or hold."""
    from tests.jobs import smtp_sink

    with smtp_sink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 1
        yield sink
