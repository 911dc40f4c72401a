"""The billing app's background jobs (the worker finds tasks in each app's tasks.py).

- periodic: `reconcile_stripe` hourly, what `manage.py reconcile_stripe` does, when
  `STRIPE_SECRET_KEY` is set (without it the job returns at once). procrastinate
  defers it once per hour however many workers run, and the queueing lock keeps a
  second one from waiting behind a slow run. A run Stripe could not read is not
  retried: the next hour's run is its retry, from the same watermark.
"""

from __future__ import annotations

import logging

from django.conf import settings
from procrastinate.contrib.django import app

from billing import reconcile

logger = logging.getLogger(__name__)


@app.periodic(cron="37 * * * *", periodic_id="hourly")
@app.task(queueing_lock="reconcile_stripe")
def reconcile_stripe(timestamp: int) -> str:
    if not settings.STRIPE_SECRET_KEY:
        return "not configured: STRIPE_SECRET_KEY is not set"
    result = reconcile.reconcile()
    if result.busy:
        return "another reconciliation is running"
    if not result.readable:
        logger.warning("Stripe reconciliation: Stripe could not be read: %s", result.error)
    return result.summary()
