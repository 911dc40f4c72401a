import pytest

from integrations.models import Endpoint
from tests.integrations import Receiver
from tests.jobs import clear_queue

# The Deep Harbor source database the import tests use.
from tests.legacy.conftest import deepharbor, sources  # noqa: F401

SECRET = "whsec_feed_tests_0123456789abcdef"


@pytest.fixture
def queue(db):
    """An empty job queue (the test database's flush leaves procrastinate's tables)."""
    clear_queue()
    yield
    clear_queue()


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _short_timeout(settings):
    # A receiver that holds is given up on after half a second rather than 10.
    settings.INTEGRATIONS_DELIVERY_TIMEOUT = 0.5


@pytest.fixture
def endpoint(db, receiver):
    return Endpoint.objects.create(name="door", url=receiver.url, secret=SECRET)
