"""Run test code on real threads, each with its own database connection.

`run_concurrently(*targets)` runs zero-argument callables at once (released together by
a barrier unless `barrier=False`), waits for all of them, re-raises what any of them
raised and returns their results in order. `run_in_threads(fn, count)` runs one callable
`count` times. `start(*targets)` starts them without waiting, for a test that acts while
they run; its `join()` returns (or raises) the same as `run_concurrently`.
"""

import threading

from django.db import connections

BARRIER_TIMEOUT = 30


class Running:
    """Threads started by `start`; `join()` waits for them and returns their results."""

    def __init__(self, targets, *, barrier):
        self.results = [None] * len(targets)
        self.errors = []
        gate = threading.Barrier(len(targets), timeout=BARRIER_TIMEOUT) if barrier else None
        self.threads = [
            threading.Thread(target=self._run, args=(index, target, gate))
            for index, target in enumerate(targets)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, index, target, gate):
        try:
            if gate is not None:
                gate.wait()
            self.results[index] = target()
        except BaseException as error:  # re-raised by join() in the test's thread
            self.errors.append(error)
        finally:
            connections.close_all()

    def is_alive(self):
        return any(thread.is_alive() for thread in self.threads)

    def join(self):
        for thread in self.threads:
            thread.join()
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise BaseExceptionGroup(
                f"{len(self.errors)} of {len(self.threads)} threads failed", self.errors
            )
        return self.results


def start(*targets, barrier=False):
    return Running(targets, barrier=barrier)


def run_concurrently(*targets, barrier=True):
    return start(*targets, barrier=barrier).join()


def run_in_threads(fn, count, *, barrier=True):
    return run_concurrently(*[fn] * count, barrier=barrier)
