"""The members app's background jobs. They live here, in tasks.py, because that is where
the worker (`manage.py worker`) finds tasks: a task defined in any other
module works when called in the web process and fails in the worker (TaskNotFound).
Each is a thin wrapper: what it does lives elsewhere, and services defer these jobs by
name (dhportal.jobs), so nothing imports this module but the worker.

Jobs carry ids only: never an address, a link or a mail body.

- `send_notification(notification_id)`: renders and sends one lifecycle mail
  (members/notifications.py), retried with backoff while SMTP is in trouble.
- `send_email_change_mail(email_change_mail_id)`: the confirmation link of a login
  email change, to the new address (members/email_change.py).
- periodic: `expire_authorizations` daily (grants past their expiry leave the
  member's column, members/grants.py), `repair_members` hourly, `retry_stalled_jobs`
  every five minutes (jobs a killed worker left running), `remove_old_jobs` daily.
  procrastinate defers each periodic job once per period, however many workers run
  (a unique row per period).
"""

from __future__ import annotations

import logging

from procrastinate import job_context
from procrastinate.contrib.django import app

from dhportal.jobs import OUTSIDE_RETRY, STALLED_AFTER_SECONDS, old_jobs_remove, stalled_jobs_retry
from dhportal.mail import MAIL_QUEUE
from members.audit import audit
from members.email_change import EMAIL_CHANGE_MAILS
from members.grants import authorizations_expire
from members.models import Member
from members.notifications import NOTIFICATION_MAILS
from members.services import members_repair

logger = logging.getLogger(__name__)


@app.task(queue=MAIL_QUEUE, retry=OUTSIDE_RETRY, pass_context=True)
def send_notification(context: job_context.JobContext, notification_id: int) -> str:
    return NOTIFICATION_MAILS.run(context.job, notification_id)


@app.task(queue=MAIL_QUEUE, retry=OUTSIDE_RETRY, pass_context=True)
def send_email_change_mail(context: job_context.JobContext, email_change_mail_id: int) -> str:
    return EMAIL_CHANGE_MAILS.run(context.job, email_change_mail_id)


@app.periodic(cron="23 * * * *", periodic_id="hourly")
@app.task(queueing_lock="repair_members")
def repair_members(timestamp: int) -> str:
    """What `manage.py repair_members` does, every hour."""
    with audit("repair"):
        return members_repair(queryset=Member.objects.all()).summary()


@app.periodic(cron="7 0 * * *", periodic_id="daily")
@app.task(queueing_lock="expire_authorizations")
def expire_authorizations(timestamp: int) -> str:
    """Grants whose expiry day has passed end, once a day."""
    ended = authorizations_expire()
    return f"ended {ended.grants} grants of {ended.members} members"


@app.periodic(cron="*/5 * * * *", periodic_id="stalled")
@app.task(queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context: job_context.JobContext, timestamp: int) -> str:
    ids = await stalled_jobs_retry(
        context.app.job_manager, seconds_since_heartbeat=STALLED_AFTER_SECONDS
    )
    if ids:
        logger.warning("Retried %d jobs left running by a stopped worker", len(ids))
    return f"retried {len(ids)}"


@app.periodic(cron="41 3 * * *", periodic_id="daily")
@app.task(queueing_lock="remove_old_jobs", pass_context=True)
async def remove_old_jobs(context: job_context.JobContext, timestamp: int) -> None:
    await old_jobs_remove(context)
