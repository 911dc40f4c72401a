"""Background jobs (procrastinate on the project's PostgreSQL): what every app's
tasks.py shares.

- `defer()` and `defer_many()` put jobs in the queue on Django's own database
  connection, so the job rows commit or roll back with the change that caused them.
  `task.defer()` alone would use whatever connector the app holds, and the worker
  command swaps in a pool of its own: a job deferred from inside a running job would
  then commit on its own, even if the job's transaction rolled back.
- Both take the task object or its name (`"members.tasks.send_notification"`). A
  service defers by name, so it never imports its app's tasks.py, which imports the
  service: the task is looked up among the registered ones (procrastinate's Django app
  imports every app's tasks.py at startup), never made up, since a job deferred under an
  unknown name would land in the default queue and no worker would run it.
- `will_retry()` answers, for a failing job, whether its task's retry policy tries it
  again: the job's last attempt is where its row records that it gave up.
- `CappedRetryStrategy` is procrastinate's `RetryStrategy` with a ceiling on the wait
  (its exponential backoff has none), and `OUTSIDE_RETRY` the policy of every job that
  talks to the outside world (SMTP, HTTP receivers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attr
from procrastinate import (
    RetryDecision,
    RetryStrategy,
    builtin_tasks,
    exceptions,
    job_context,
    jobs,
    manager,
)
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.tasks import Task


@attr.dataclass(kw_only=True)
class CappedRetryStrategy(RetryStrategy):
    """`RetryStrategy` whose wait never exceeds `max_wait` seconds.

    procrastinate waits `wait + linear_wait * attempts + exponential_wait ** (attempts
    + 1)` seconds, which grows without bound (2 ** 20 s is twelve days); here the same
    formula is cut at `max_wait`. `max_attempts` and `retry_exceptions` behave as in
    procrastinate: after `max_attempts` retries the job stays failed.
    """

    max_wait: int = 3600

    def wait_seconds(self, attempts: int) -> int:
        """The wait before the retry that follows `attempts` earlier attempts."""
        wait = self.wait + self.linear_wait * attempts
        if self.exponential_wait:
            # Stop growing once past the cap, so a long-retried job cannot make a
            # huge integer (or a timedelta that overflows).
            exponent = attempts + 1
            grown = 1
            for _ in range(exponent):
                grown *= self.exponential_wait
                if grown >= self.max_wait:
                    break
            wait += grown
        return min(wait, self.max_wait)

    def get_retry_decision(self, *, exception: BaseException, job: jobs.Job):
        if super().get_retry_decision(exception=exception, job=job) is None:
            return None
        return RetryDecision(retry_in={"seconds": self.wait_seconds(job.attempts)})

    def will_retry(self, *, exception: BaseException, job: jobs.Job) -> bool:
        """Whether this failure is followed by another attempt (False: the last one)."""
        return self.get_retry_decision(exception=exception, job=job) is not None


# Jobs that talk to the outside world: 2 s, 4 s, 8 s ... doubling up to an hour between
# attempts; 16 retries span about six hours, then the job stays failed for staff.
OUTSIDE_RETRY = CappedRetryStrategy(max_attempts=16, exponential_wait=2, max_wait=3600)


def task_named(name: str) -> Task:
    """The registered task called `name`; TaskNotFound when there is none."""
    app.perform_import_paths()
    try:
        return app.tasks[name]
    except KeyError:
        raise exceptions.TaskNotFound(f"No task named {name!r}") from None


def _task(task: Task | str) -> Task:
    return task_named(task) if isinstance(task, str) else task


def defer_many(
    task: Task | str,
    task_kwargs: Iterable[dict[str, Any]],
    *,
    configure: dict[str, Any] | None = None,
) -> list[int]:
    """Defer one job of `task` (the task or its name) per item of `task_kwargs`, in one
    statement inside the current transaction (Django's connection); return their ids.
    `configure` takes `Task.configure` options (queueing_lock, ...)."""
    deferrer = _task(task).configure(**(configure or {}))
    new_jobs = [deferrer.make_new_job(**kwargs) for kwargs in task_kwargs]
    if not new_jobs:
        return []
    job_manager = manager.JobManager(connector=DjangoConnector(alias="default"))
    deferred = job_manager.batch_defer_jobs(jobs=new_jobs)
    ids = [job.id for job in deferred]
    assert None not in ids
    return ids  # type: ignore[return-value]


def defer(task: Task | str, *, configure: dict[str, Any] | None = None, **task_kwargs: Any) -> int:
    """Defer a job for `task` (the task or its name) inside the current transaction
    (Django's connection) and return its id. `configure` takes `Task.configure` options
    (queueing_lock, ...)."""
    [job_id] = defer_many(task, [task_kwargs], configure=configure)
    return job_id


def will_retry(job: jobs.Job, error: BaseException) -> bool:
    """Whether the retry policy of the job's task runs it again after `error` (False:
    this was its last attempt)."""
    strategy = task_named(job.task_name).retry_strategy
    if strategy is None:
        return False
    return strategy.get_retry_decision(exception=error, job=job) is not None


# --- upkeep of the queue (members/tasks.py runs these periodically) ------------------

# A worker beats every 10 s; one silent this long was killed (or lost its database).
STALLED_AFTER_SECONDS = 60


async def stalled_jobs_retry(job_manager, *, seconds_since_heartbeat: float) -> list[int]:
    """Put back in the queue the jobs still marked running by workers that stopped
    beating (killed, or cut from the database); returns their ids."""
    stalled = await job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    for job in stalled:
        await job_manager.retry_job(job)
    return [job.id for job in stalled]


async def old_jobs_remove(context: job_context.JobContext) -> None:
    """Finished jobs go after a week; failed ones after a month (the rows they worked
    on, a notification or a delivery, keep the error and state for staff)."""
    await builtin_tasks.remove_old_jobs(context, max_hours=7 * 24)
    await builtin_tasks.remove_old_jobs(
        context, max_hours=30 * 24, remove_failed=True, remove_cancelled=True, remove_aborted=True
    )


def job_counts() -> list[tuple[tuple[str, ...], float]]:
    """((queue, state), number of jobs) for /metrics (dhportal/reports.py): procrastinate's
    own table, counted by its queue and status."""
    from django.db.models import Count
    from procrastinate.contrib.django.models import ProcrastinateJob

    rows = ProcrastinateJob.objects.values_list("queue_name", "status").annotate(n=Count("id"))
    return [((queue, state), float(n)) for queue, state, n in rows.order_by("queue_name", "status")]
