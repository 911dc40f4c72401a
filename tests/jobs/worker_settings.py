"""Settings of the worker processes tests start: production's (DEBUG off, mail through
EMAIL_URL), except that a worker started for a few seconds defers no periodic job
unless the test asks (PERIODIC_MAX_DELAY, seconds a periodic job may be overdue), and a
test may shorten the feed's timeout (INTEGRATIONS_DELIVERY_TIMEOUT, seconds)."""

import os

from dhportal.settings import *  # noqa: F403

PROCRASTINATE_PERIODIC_DEFAULTS = {"max_delay": float(os.environ.get("PERIODIC_MAX_DELAY", "0"))}

if "INTEGRATIONS_DELIVERY_TIMEOUT" in os.environ:
    INTEGRATIONS_DELIVERY_TIMEOUT = float(os.environ["INTEGRATIONS_DELIVERY_TIMEOUT"])
