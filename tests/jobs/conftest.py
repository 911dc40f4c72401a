import pytest

from tests.jobs import clear_queue, smtp_sink


@pytest.fixture
def job_queue(transactional_db):
    """An empty job queue, emptied again afterwards (the flush leaves procrastinate's
    tables alone)."""
    clear_queue()
    yield
    clear_queue()


@pytest.fixture
def sink():
    with smtp_sink() as server:
        yield server
