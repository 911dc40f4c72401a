"""Settings for the gunicorn that the multi-worker test starts: the production settings
(DEBUG off, the cache from CACHE_URL) with plain static storage, so the test needs no
collectstatic run."""

from dhportal.settings import *  # noqa: F403

STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
