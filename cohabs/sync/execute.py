"""Execution: the plan's steps become Stripe calls, each id written back at once.

Every step starts as soon as it can: a lease as soon as its own user and room
are linked, an ended lease's cancel on its own endpoint once its subscription
is stored. Each worker makes its call, then writes the id at once through a
small connection pool, so an object never waits in memory for a batch that a
crash could lose.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import pymysql
from stripe.params import SubscriptionCreateParams

from cohabs.shared.errors import CannotRun, WriteRefused
from cohabs.shared.mysql import mysql_failed
from cohabs.shared.stripe.gateway import RowFailed, send_keyed
from cohabs.shared.stripe.idempotency import idempotency_key
from cohabs.shared.stripe.pacing import Endpoint
from cohabs.sync.billing import Mode
from cohabs.sync.calls import Calls
from cohabs.sync.kinds import CANCEL_SUBSCRIPTION, KINDS
from cohabs.sync.plan import Action, Billing, Plan, Step
from cohabs.sync.problems import Problem
from cohabs.sync.rows import Kind

T = TypeVar("T")
KEY_NAMESPACE = "cohabs-relink"  # the sync's idempotency keys start with it, as they always have
# Kept by Stripe as the cancellation's comment, for whoever finds the subscription in the dashboard.
UNSTORED = "cohabs-relink: its id could not be stored in the database"


class StepFailed(RowFailed):
    """A row failed for a reason of the sync's own, with the problem its advice is keyed by."""

    def __init__(self, message: str, *, problem: Problem) -> None:
        super().__init__(message)
        self.problem = problem


def problem_of(exc: RowFailed) -> Problem:
    return exc.problem if isinstance(exc, StepFailed) else Problem.STRIPE


class Result(StrEnum):
    """What happened to one row; the order is the report's column order."""

    CREATED = "created"
    KEPT = "kept"
    ADOPTED = "adopted"
    REPLACED = "replaced_stale"
    UNCHECKED = "unchecked"  # a dry run that read no account: the stored id was not looked up
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Kind
    row_id: str
    label: str
    result: Result
    stripe_id: str | None = None
    detail: str = ""
    stale_id: str | None = None
    notes: tuple[str, ...] = ()
    problem: Problem | None = None  # why it is not synced (a kept row can carry one: a person must decide)

    @property
    def synced(self) -> bool:
        return self.problem is None and self.result not in (Result.SKIPPED, Result.FAILED)


class Writer(Protocol):
    """What the executor needs from the database: one id into one row (WriteRefused when MySQL refuses it)."""

    def write(self, kind: Kind, row_id: str, stripe_id: str) -> None: ...


Tick = Callable[[Kind], None]


@dataclass(frozen=True, slots=True)
class Cancel:
    """An ended lease's new subscription, its id stored, still to cancel: a request on its own endpoint."""

    step: Step
    stripe_id: str
    outcome: Outcome  # what the row reports once it is cancelled


Task = Step | Cancel  # what one worker does at a time
Lane = Endpoint | None  # the endpoint a task's first request goes to; None when it makes none


class Queues:
    """What may start now: one queue per endpoint, each lease held back until its own user and room are done.

    Bookkeeping only (no threads, no I/O): the executor takes tasks for its
    free workers and says which rows are done. No endpoint gets more than its
    share of the workers, so a slow or throttled endpoint never holds the
    others' requests behind it.
    """

    def __init__(self, steps: list[Step]) -> None:
        present = {(s.kind, s.row_id) for s in steps}
        self._ready: dict[Lane, deque[Task]] = {}
        self._waiting: dict[tuple[Kind, str], list[Step]] = {}
        self._blocked: dict[tuple[Kind, str], int] = {}
        for step in steps:
            needs = [need for need in _needs(step) if need in present]
            for need in needs:
                self._waiting.setdefault(need, []).append(step)
            if needs:
                self._blocked[(step.kind, step.row_id)] = len(needs)
            else:
                self.add(step)

    def add(self, task: Task) -> None:
        self._ready.setdefault(_lane(task), deque()).append(task)

    def done(self, kind: Kind, row_id: str) -> None:
        """A row is finished, whatever its result: leases that waited for it may go."""
        for step in self._waiting.pop((kind, row_id), []):
            key = (step.kind, step.row_id)
            self._blocked[key] -= 1
            if not self._blocked[key]:
                self.add(step)

    def take(self, running: Counter[Lane], free: int) -> list[tuple[Lane, Task]]:
        """Tasks for `free` workers, endpoints in turn, each up to its fair share of all the workers.

        Shares are max-min fair: an endpoint that needs less than an equal
        share leaves the rest to the others.
        """
        lanes = dict.fromkeys([*self._ready, *running])  # in a fixed order: shares come out the same each time
        demand = {lane: running[lane] + len(self._ready.get(lane, ())) for lane in lanes}
        left, share = free + running.total(), {}
        for index, lane in enumerate(sorted(demand, key=lambda lane: demand[lane])):
            share[lane] = min(demand[lane], left // (len(demand) - index))
            left -= share[lane]
        quota = {lane: share[lane] - running[lane] for lane in share if share[lane] > running[lane]}
        taken: list[tuple[Lane, Task]] = []
        while quota and free:
            for lane in list(quota):
                if free:
                    taken.append((lane, self._ready[lane].popleft()))
                    free -= 1
                quota[lane] -= 1
                if not quota[lane]:
                    del quota[lane]
        return taken


@dataclass
class Executor:
    calls: Calls
    writer: Writer
    workers: int = 8
    tick: Tick = lambda kind: None
    ids: dict[tuple[Kind, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def run(self, plan: Plan) -> list[Outcome]:
        for kind in (Kind.USER, Kind.ROOM):
            for step in plan.steps[kind]:
                if step.stripe_id and step.action is not Action.SKIP:  # a skipped step's object is not the row's
                    self.ids[(kind, step.row_id)] = step.stripe_id
        outcomes = self._run_all(_in_need_order(plan))
        # Workers finish in any order; the report follows the plan's.
        order = {(s.kind, s.row_id): i for i, s in enumerate(s for k in Kind for s in plan.steps[k])}
        return sorted(outcomes, key=lambda o: order[(o.kind, o.row_id)])

    def _run_all(self, steps: list[Step]) -> list[Outcome]:
        """Run every step as soon as its endpoint has a free share of the workers and its dependencies are done."""
        queues = Queues(steps)
        outcomes: list[Outcome] = []
        fatal: BaseException | None = None
        running: dict[Future[Outcome | Cancel | None], Lane] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sync") as pool:
            while True:
                if not self._stop.is_set():
                    for lane, task in queues.take(Counter(running.values()), self.workers - len(running)):
                        running[pool.submit(self._guarded, task)] = lane
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    del running[future]
                    try:
                        result = future.result()
                    except CannotRun as exc:
                        fatal = fatal or exc
                        self._stop.set()
                        continue
                    if isinstance(result, Cancel):
                        queues.add(result)
                    elif result is not None:
                        outcomes.append(result)
                        self.tick(result.kind)
                        queues.done(result.kind, result.row_id)
        if fatal is not None:
            raise fatal
        return outcomes

    def _guarded(self, task: Task) -> Outcome | Cancel | None:
        if self._stop.is_set():
            return None
        step = task.step if isinstance(task, Cancel) else task
        try:
            return self._cancel(task) if isinstance(task, Cancel) else self._one(task)
        except RowFailed as exc:
            return _outcome(step, Result.FAILED, detail=str(exc), problem=problem_of(exc))
        except pymysql.err.Error as exc:
            raise mysql_failed(exc, f" while linking {step.kind.singular} {step.row_id}") from None

    @staticmethod
    def _keyed(step: Step, params: Mapping[str, Any], send: Callable[[str], T]) -> T:
        """Send under the row's key; past a key whose 500 an earlier run left stored, under the next one."""
        return send_keyed(
            lambda attempt: idempotency_key(
                KEY_NAMESPACE, f"{step.kind.singular}:{step.row_id}", params, step.stale_id, attempt
            ),
            send,
        )

    def _link(self, step: Step, stripe_id: str, bills: bool = False) -> None:
        if stripe_id == step.stale_id:
            raise StepFailed(
                f"Stripe answered with the stale id {stripe_id} again; not stored", problem=Problem.NOT_STORED
            )
        try:
            self.writer.write(step.kind, step.row_id, stripe_id)
        except WriteRefused as exc:
            why = f"{stripe_id} exists but could not be stored ({exc})"
            if bills:
                # A subscription no row knows would bill unseen: cancelled. The row stores no id, so the
                # next run gives an ongoing lease a new subscription.
                try:
                    self.calls.cancel_subscription(stripe_id, UNSTORED)
                except RowFailed as cancel:
                    raise StepFailed(
                        f"{why}; cancelling it failed too, cancel it in Stripe: {cancel}", problem=Problem.NOT_STORED
                    ) from None
                why += "; cancelled it so that it cannot bill"
            raise StepFailed(why, problem=Problem.NOT_STORED) from None
        with self._lock:
            self.ids[(step.kind, step.row_id)] = stripe_id

    def _one(self, step: Step) -> Outcome | Cancel:
        if step.action is Action.SKIP:
            return _outcome(step, Result.SKIPPED, detail=step.reason, problem=step.problem)
        if step.action is Action.CREATE:
            stripe_id = self._create(step)
            created = _outcome(step, Result.REPLACED if step.stale_id else Result.CREATED, stripe_id, step.reason)
            if step.billing is not None and step.billing.terms.mode is Mode.ENDED:
                return Cancel(step, stripe_id, created)
            return created
        assert step.stripe_id is not None, step
        details = [step.reason]
        if step.action is Action.ADOPT:
            self._link(step, step.stripe_id, step.bills)  # the id first: it is what a crash must not lose
        if step.repair:
            stripe_id, repair = step.stripe_id, step.repair
            self._keyed(step, repair, lambda key: self.calls.update(step.kind, stripe_id, repair, key))
        if step.cancel:
            self.calls.cancel_subscription(step.stripe_id)
            details.append("ended lease: cancelled its subscription, left uncancelled by an earlier run")
        detail = "; ".join(filter(None, details))
        if step.action is Action.KEEP:
            return _outcome(step, Result.KEPT, step.stripe_id, detail)
        return _outcome(step, Result.REPLACED if step.stale_id else Result.ADOPTED, step.stripe_id, detail)

    def _create(self, step: Step) -> str:
        params = step.params if step.billing is None else self._subscription_params(step.billing)
        assert params is not None, step
        created = self._keyed(step, params, lambda key: self.calls.create(step.kind, params, key))
        self._link(step, created.id, bills=step.billing is not None)
        return created.id

    def _subscription_params(self, billing: Billing) -> SubscriptionCreateParams:
        customer = self.ids.get((Kind.USER, billing.user_id))
        product = self.ids.get((Kind.ROOM, billing.room_id))
        if customer is None or product is None:
            missing = f"user {billing.user_id}" if customer is None else f"room {billing.room_id}"
            raise StepFailed(f"{missing} could not be linked in this run (see its line)", problem=Problem.DEPENDENCY)
        return billing.params(customer, product)

    def _cancel(self, task: Cancel) -> Outcome:
        try:
            self.calls.cancel_subscription(task.stripe_id)
        except RowFailed as exc:
            detail = f"created {task.stripe_id} but could not cancel it yet (the next run will): {exc}"
            return _outcome(task.step, Result.FAILED, detail=detail, problem=problem_of(exc))
        return task.outcome


def _needs(step: Step) -> list[tuple[Kind, str]]:
    """The rows whose ids a step's request carries: a new subscription names its customer and product."""
    if step.action is not Action.CREATE or step.billing is None:
        return []
    return [(Kind.USER, step.billing.user_id), (Kind.ROOM, step.billing.room_id)]


def _lane(task: Task) -> Lane:
    if isinstance(task, Cancel) or (task.cancel and not task.repair):
        return CANCEL_SUBSCRIPTION
    if task.action is Action.CREATE:
        return KINDS[task.kind].create_endpoint
    if task.repair:
        return KINDS[task.kind].update_endpoint
    return None


def _in_need_order(plan: Plan) -> list[Step]:
    """The active steps, users and rooms in the order the leases to create need them: leases start early."""
    first_need: dict[tuple[Kind, str], int] = {}
    if Kind.LEASE in plan.active:
        for step in plan.steps[Kind.LEASE]:
            for need in _needs(step):
                first_need.setdefault(need, len(first_need))
    steps = [s for k in Kind if k in plan.active for s in plan.steps[k]]
    late = len(first_need)
    return sorted(steps, key=lambda s: first_need.get((s.kind, s.row_id), late))


def _outcome(
    step: Step, result: Result, stripe_id: str | None = None, detail: str = "", problem: Problem | None = None
) -> Outcome:
    problem = problem or step.problem
    return Outcome(step.kind, step.row_id, step.label, result, stripe_id, detail, step.stale_id, step.notes, problem)
