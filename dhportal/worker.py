"""The job worker (`python manage.py worker`): procrastinate's worker, kept running
through a database outage and stopped promptly (README, "Running in production").

- **An outage.** procrastinate's worker ends when it loses the database (a query
  fails, or its pool finds no connection within 30 s) and its own command then exits.
  Here the loss is logged ("lost the database"), the database is tried every
  RECONNECT_SECONDS (one line says it is unreachable, one that it is back), and a new
  worker starts, with a new pool and registration. The jobs that were running when it
  went stay marked running; the periodic retry of stalled jobs (members/tasks.py) puts
  them back, as it does a killed worker's.
- **A stop.** SIGTERM or SIGINT: no new job is taken and the running ones get
  STOP_GRACE_SECONDS to finish. Then procrastinate cancels an async job (retried if
  its task has a retry policy); a sync job's thread cannot be interrupted, so such a
  job is put back in the queue (the next worker runs it again) and the process exits
  without waiting for the thread. A second signal cuts the grace short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

import psycopg
from procrastinate import exceptions
from procrastinate import worker as procrastinate_worker
from procrastinate.contrib.django import app
from procrastinate.contrib.django.utils import connector_params

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 2.0
STOP_GRACE_SECONDS = 5.0
# What a lost database raises: procrastinate wraps psycopg's errors, and its pool's
# "couldn't get a connection" is a psycopg error too.
DATABASE_ERRORS = (exceptions.ConnectorException, psycopg.Error, OSError)


class Supervisor:
    """Runs procrastinate workers one after another until asked to stop."""

    def __init__(self, options: dict[str, Any]):
        self.options = options
        self.one_shot = options.get("wait") is False
        self.stopping = False
        self.worker: procrastinate_worker.Worker | None = None
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()

    def _on_signal(self, signum: int) -> None:
        if self.stopping:
            logger.warning("A second stop signal: exiting now")
            self._hurry.set()
            return
        logger.info("%s: stopping the worker", signal.Signals(signum).name)
        self.stopping = True
        self._stop.set()
        if self.worker is not None:
            self.worker.stop()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        lost = False
        while not self.stopping:
            if lost and not await self._wait_for_database():
                return
            attempt = asyncio.create_task(self._run_worker())
            await _first(attempt, self._stop.wait())
            if not attempt.done():
                await self._stop_attempt(attempt)
                return
            try:
                ended = attempt.result()
            except DATABASE_ERRORS as error:
                logger.warning("The worker lost the database (%s); reconnecting", _line(error))
                lost = True
                continue
            if ended:
                return
            # procrastinate stopped its worker by itself: a side task (the listener, the
            # heartbeat) failed, which is a lost connection too.
            logger.warning("The worker stopped by itself; starting it again")
            lost = True

    async def _run_worker(self) -> bool:
        """One procrastinate worker until it ends; True when it ended as asked (a
        stop, or a one-shot worker out of jobs)."""
        async with app.open_async():  # waits for a connection (30 s at most)
            if self.stopping:
                return True
            self.worker = app._worker(
                **{
                    **self.options,
                    "install_signal_handlers": False,
                    "shutdown_graceful_timeout": STOP_GRACE_SECONDS,
                }
            )
            try:
                await self.worker.run()
            finally:
                self.worker = None
        return self.stopping or self.one_shot

    async def _stop_attempt(self, attempt: asyncio.Task) -> None:
        """A stop while a worker starts or runs: procrastinate gives running jobs
        STOP_GRACE_SECONDS and cancels async ones, but would wait for a sync job's
        thread forever; such a job goes back in the queue and the process exits."""
        worker = self.worker
        if worker is None:  # still opening its pool: nothing is running yet
            attempt.cancel()
            await asyncio.wait([attempt])
            return
        await _first(attempt, self._hurry.wait(), timeout=STOP_GRACE_SECONDS + 1)
        if attempt.done():
            with contextlib.suppress(*DATABASE_ERRORS):
                attempt.result()
            return
        # procrastinate has no public list of running jobs; its own shutdown reads this.
        for context in list(worker._running_jobs.values()):
            logger.warning(
                "Job %s is still running: back in the queue for the next worker", context.job.id
            )
            with contextlib.suppress(*DATABASE_ERRORS, TimeoutError):
                await asyncio.wait_for(app.job_manager.retry_job(context.job), 5)
        if worker.worker_id is not None:
            with contextlib.suppress(*DATABASE_ERRORS, TimeoutError):
                await asyncio.wait_for(app.job_manager.unregister_worker(worker.worker_id), 5)
        logger.info("Stopped the worker, leaving the job's thread behind")
        # asyncio.run would join the job's thread at its end: the process ends here.
        logging.shutdown()
        os._exit(0)

    async def _wait_for_database(self) -> bool:
        """Until a connection to the database opens (True) or a stop (False)."""
        said = False
        while not self.stopping:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    **connector_params(), connect_timeout=5
                )
            except psycopg.Error as error:
                if not said:
                    logger.warning(
                        "The database is unreachable (%s); trying again every %g s",
                        _line(error),
                        RECONNECT_SECONDS,
                    )
                    said = True
                await _first(self._stop.wait(), timeout=RECONNECT_SECONDS)
                continue
            await connection.close()
            logger.info("The database is reachable again: starting the worker")
            return True
        return False


async def _first(*awaitables, timeout: float | None = None) -> None:
    """Wait until the first of `awaitables` is done (or `timeout`); cancel the rest
    of those this made into tasks."""
    tasks = [a if isinstance(a, asyncio.Future) else asyncio.ensure_future(a) for a in awaitables]
    made = [t for t, a in zip(tasks, awaitables, strict=True) if t is not a]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in made:
            task.cancel()


def _line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run(options: dict[str, Any]) -> None:
    """Run the worker until a stop (or, one-shot, until no job is left)."""
    # The worker's connector is a pool of its own (Django's connection is for the web),
    # as in procrastinate's own command.
    connector = app.connector.get_worker_connector()  # type: ignore[attr-defined]
    with app.replace_connector(connector):
        asyncio.run(Supervisor(options).run())
