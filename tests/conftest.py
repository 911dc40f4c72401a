from pathlib import Path

import pytest

pytest_plugins = ["tests.browser"]

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
