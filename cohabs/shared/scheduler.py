"""Jobs side by side within Stripe's budgets: each as soon as its endpoint has room and what it needs is done.

Both jobs run their work through here: the sync's rows (a lease waits for its
own user and room) and support's items (independent). A task's own requests
stay in order inside it; tasks run in parallel, each endpoint getting a fair
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

J = TypeVar("J")  # a task
R = TypeVar("R")  # what a finished task reports
Lane = Endpoint | None  # the endpoint a task's first request goes to; None when it makes none


def workers(settings: Settings) -> int:
    """Requests under way at once: enough to keep the account's budget busy at 300 ms or more per request."""
    return max(8, min(64, math.ceil(settings.effective_rate * 0.6)))


@dataclass(frozen=True, slots=True)
class Then(Generic[J]):
    """A task's follow-up, queued on its own lane (the sync's cancel of a subscription it just created)."""

    task: J


@dataclass(frozen=True)
class Shape(Generic[J]):
    """How the scheduler sees a task: its lane, its name, and the names of the tasks it waits for."""

    lane: Callable[[J], Lane]
    name: Callable[[J], Hashable] = id
    needs: Callable[[J], Iterable[Hashable]] = lambda task: ()


class Queues(Generic[J]):
    """What may start now: one queue per lane, each task held back until the tasks it needs are done.

    Bookkeeping only (no threads, no I/O): the runner takes tasks for its free
    workers and says which are done. No lane gets more than its share.
    """

    def __init__(self, tasks: Iterable[J], shape: Shape[J]) -> None:
        tasks = list(tasks)
        self._shape = shape
        present = {shape.name(task) for task in tasks}
        self._ready: dict[Lane, deque[J]] = {}
        self._waiting: dict[Hashable, list[J]] = {}
        self._blocked: dict[Hashable, int] = {}
        for task in tasks:
            needs = [need for need in shape.needs(task) if need in present]
            for need in needs:
                self._waiting.setdefault(need, []).append(task)
            if needs:
                self._blocked[shape.name(task)] = len(needs)
            else:
                self.add(task)

    def add(self, task: J) -> None:
        self._ready.setdefault(self._shape.lane(task), deque()).append(task)

    def done(self, name: Hashable) -> None:
        """A task is finished, whatever its result: the tasks that waited for it may go."""
        for task in self._waiting.pop(name, []):
            key = self._shape.name(task)
            self._blocked[key] -= 1
            if not self._blocked[key]:
                self.add(task)

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
    tasks: Sequence[J],
    work: Callable[[J], R | Then[J] | None],
    shape: Shape[J],
    *,
    workers: int,
    stop: StopFlag,
    finished: Callable[[J, R], None] = lambda task, result: None,
) -> list[R]:
    """Run every task; `work` returns its result, a follow-up task, or None when it did not start (stopping).

    Once `stop` is set no task starts; those running finish. A CannotRun from
    any task stops the others the same way and is raised once they are done.
    """
    stop.writing = True  # from here on a signal lets the running tasks finish (stopping.py)
    queues = Queues(tasks, shape)
    results: list[R] = []
    fatal: CannotRun | None = None
    running: dict[Future[R | Then[J] | None], tuple[Lane, J]] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker") as pool:
        while True:
            if not stop.is_set() and fatal is None:
                for lane, task in queues.take(Counter(lane for lane, _ in running.values()), workers - len(running)):
                    running[pool.submit(_unless_stopping, work, task, stop)] = (lane, task)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                _, task = running.pop(future)
                try:
                    result = future.result()
                except CannotRun as exc:
                    fatal = fatal or exc
                    continue
                if isinstance(result, Then):
                    queues.add(result.task)
                elif result is not None:
                    results.append(result)
                    finished(task, result)
                    queues.done(shape.name(task))
    if fatal is not None:
        raise fatal
    return results


def _unless_stopping(work: Callable[[J], R | Then[J] | None], task: J, stop: StopFlag) -> R | Then[J] | None:
    return None if stop.is_set() else work(task)
