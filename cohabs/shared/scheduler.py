"""Jobs side by side within Stripe's budgets: each as soon as its endpoint has room and what it needs is done.

Both jobs run their work through here: the sync's rows (a lease waits for its
own user and room) and support's items (independent). A job's own requests
stay in order inside it; jobs run in parallel, each endpoint getting a fair
share of the workers so that a slow or throttled endpoint never holds the
others' requests behind it. The gateway paces every request.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from cohabs.shared.errors import CannotRun
from cohabs.shared.settings import Settings
from cohabs.shared.stopping import StopFlag
from cohabs.shared.stripe.pacing import Endpoint

J = TypeVar("J")  # a job
R = TypeVar("R")  # what a finished job reports
Lane = Endpoint | None  # the endpoint a job's first request goes to; None when it makes none


def workers(settings: Settings) -> int:
    """Requests under way at once: enough to keep the account's budget busy at 300 ms or more per request."""
    return max(8, min(64, math.ceil(settings.effective_rate * 0.6)))


@dataclass(frozen=True, slots=True)
class Then(Generic[J]):
    """A job's follow-up, queued on its own lane (the sync's cancel of a subscription it just created)."""

    job: J


@dataclass(frozen=True)
class Shape(Generic[J]):
    """How the scheduler sees a job: its lane, its name, and the names of the jobs it waits for."""

    lane: Callable[[J], Lane]
    name: Callable[[J], Hashable] = id
    needs: Callable[[J], Iterable[Hashable]] = lambda job: ()


class Queues(Generic[J]):
    """What may start now: one queue per lane, each job held back until the jobs it needs are done.

    Bookkeeping only (no threads, no I/O): the runner takes jobs for its free
    workers and says which are done. No lane gets more than its share.
    """

    def __init__(self, jobs: Iterable[J], shape: Shape[J]) -> None:
        jobs = list(jobs)
        self._shape = shape
        present = {shape.name(job) for job in jobs}
        self._ready: dict[Lane, deque[J]] = {}
        self._waiting: dict[Hashable, list[J]] = {}
        self._blocked: dict[Hashable, int] = {}
        for job in jobs:
            needs = [need for need in shape.needs(job) if need in present]
            for need in needs:
                self._waiting.setdefault(need, []).append(job)
            if needs:
                self._blocked[shape.name(job)] = len(needs)
            else:
                self.add(job)

    def add(self, job: J) -> None:
        self._ready.setdefault(self._shape.lane(job), deque()).append(job)

    def done(self, name: Hashable) -> None:
        """A job is finished, whatever its result: the jobs that waited for it may go."""
        for job in self._waiting.pop(name, []):
            key = self._shape.name(job)
            self._blocked[key] -= 1
            if not self._blocked[key]:
                self.add(job)

    def take(self, running: Counter[Lane], free: int) -> list[tuple[Lane, J]]:
        """Jobs for `free` workers, lanes in turn, each up to its max-min fair share of all the workers."""
        lanes = dict.fromkeys([*self._ready, *running])  # a fixed order: shares come out the same each time
        demand = {lane: running[lane] + len(self._ready.get(lane, ())) for lane in lanes}
        left, share = free + running.total(), {}
        for index, lane in enumerate(sorted(demand, key=lambda lane: demand[lane])):
            share[lane] = min(demand[lane], left // (len(demand) - index))
            left -= share[lane]
        quota = {lane: share[lane] - running[lane] for lane in share if share[lane] > running[lane]}
        taken: list[tuple[Lane, J]] = []
        while quota and free:
            for lane in list(quota):
                if free:
                    taken.append((lane, self._ready[lane].popleft()))
                    free -= 1
                quota[lane] -= 1
                if not quota[lane]:
                    del quota[lane]
        return taken


def run_side_by_side(
    jobs: Sequence[J],
    work: Callable[[J], R | Then[J] | None],
    shape: Shape[J],
    *,
    workers: int,
    stop: StopFlag,
    finished: Callable[[J, R], None] = lambda job, result: None,
) -> list[R]:
    """Run every job; `work` returns its result, a follow-up job, or None when it did not start (stopping).

    Once `stop` is set no job starts; those running finish. A CannotRun from
    any job stops the others the same way and is raised once they are done.
    """
    stop.writing = True  # from here on a signal lets the running jobs finish (stopping.py)
    queues = Queues(jobs, shape)
    results: list[R] = []
    fatal: CannotRun | None = None
    running: dict[Future[R | Then[J] | None], tuple[Lane, J]] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker") as pool:
        while True:
            if not stop.is_set() and fatal is None:
                for lane, job in queues.take(Counter(lane for lane, _ in running.values()), workers - len(running)):
                    running[pool.submit(_unless_stopping, work, job, stop)] = (lane, job)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                _, job = running.pop(future)
                try:
                    result = future.result()
                except CannotRun as exc:
                    fatal = fatal or exc
                    continue
                if isinstance(result, Then):
                    queues.add(result.job)
                elif result is not None:
                    results.append(result)
                    finished(job, result)
                    queues.done(shape.name(job))
    if fatal is not None:
        raise fatal
    return results


def _unless_stopping(work: Callable[[J], R | Then[J] | None], job: J, stop: StopFlag) -> R | Then[J] | None:
    return None if stop.is_set() else work(job)
