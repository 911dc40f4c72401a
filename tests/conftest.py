import pytest

pytest_plugins = ["tests.browser"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits live in the cache; each test starts with none used."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
