"""The change feed's background jobs (found by the worker here, in tasks.py).

- periodic `pump_feed`, every 2 seconds: committed events become deliveries and their
  send jobs. procrastinate defers it once per period however many workers run; its
  queueing lock keeps a slow run from piling up more.
- `send_delivery(delivery_id)`: one POST; retried with backoff while the receiver
  fails (FEED_RETRY: 2 s, 4 s, 8 s ... capped at an hour, for about a day), then the
  delivery is dead, listed in admin for replay.
- `resync_endpoint(endpoint_id)`: every member's current snapshot to one endpoint
  (the admin action; done here so the web request stays short).
- periodic `prune_feed_pumps`, hourly: the pump's own finished jobs (one every two
  seconds) after an hour, rather than the week other jobs are kept.
- periodic `prune_door_events`, daily: door events older than
  DOOR_EVENT_RETENTION_DAYS are forgotten, and the coming months' partitions made
  (integrations/doors.py).

Jobs carry ids only. Each task is a thin wrapper of integrations/services.py, which
defers send_delivery by name.
"""

from __future__ import annotations

from procrastinate import builtin_tasks, job_context
from procrastinate.contrib.django import app

from dhportal.jobs import CappedRetryStrategy
from integrations import doors, services

FEED_QUEUE = "feed"
PUMP_QUEUE = "feed_pump"


# First retry after 2 s, then doubling up to an hour between attempts: 11 retries take
# 68 minutes, 23 more at an hour bring the total to 24.1 hours, after which it is dead.
FEED_RETRY = CappedRetryStrategy(max_attempts=34, exponential_wait=2, max_wait=3600)


@app.periodic(cron="* * * * * */2", periodic_id="feed_pump")
@app.task(queue=PUMP_QUEUE, queueing_lock="pump_feed", lock="pump_feed")
def pump_feed(timestamp: int) -> int:
    return services.feed_pump()


@app.task(queue=FEED_QUEUE, retry=FEED_RETRY, pass_context=True)
def send_delivery(context: job_context.JobContext, delivery_id: int) -> str:
    return services.delivery_attempt(delivery_id, job=context.job)


@app.task(queue=FEED_QUEUE)
def resync_endpoint(endpoint_id: int) -> int:
    return services.endpoint_resync(endpoint_id=endpoint_id)


@app.periodic(cron="7 * * * *", periodic_id="hourly")
@app.task(queueing_lock="prune_feed_pumps", pass_context=True)
async def prune_feed_pumps(context: job_context.JobContext, timestamp: int) -> None:
    await builtin_tasks.remove_old_jobs(context, max_hours=1, queue=PUMP_QUEUE)


@app.periodic(cron="17 4 * * *", periodic_id="daily")
@app.task(queueing_lock="prune_door_events")
def prune_door_events(timestamp: int) -> int:
    return doors.door_events_prune().events_deleted
