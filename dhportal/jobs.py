"""Background jobs (procrastinate on the project's PostgreSQL): what every app's
tasks.py shares.

- `defer()` puts a job in the queue on Django's own database connection, so the job row
  commits or rolls back with the change that caused it. `task.defer()` alone would use
  whatever connector the app holds, and the worker command swaps in a pool of its own:
  a job deferred from inside a running job would then commit on its own, even if the
  job's transaction rolled back.
- `CappedRetryStrategy` is procrastinate's `RetryStrategy` with a ceiling on the wait
  (its exponential backoff has none), and `OUTSIDE_RETRY` the policy of every job that
  talks to the outside world (SMTP, HTTP receivers).
"""

from __future__ import annotations

from typing import Any

import attr
from procrastinate import RetryDecision, RetryStrategy, jobs, manager
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


def defer(task: Task, *, configure: dict[str, Any] | None = None, **task_kwargs: Any) -> int:
    """Defer a job for `task` inside the current transaction (Django's connection) and
    return its id. `configure` takes `Task.configure` options (queueing_lock, ...)."""
    deferrer = task.configure(**(configure or {}))
    job = deferrer.make_new_job(**task_kwargs)
    job_manager = manager.JobManager(connector=DjangoConnector(alias="default"))
    deferred = job_manager.defer_job(job=job)
    assert deferred.id is not None
    return deferred.id
