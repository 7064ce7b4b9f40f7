"""Execution: the plan's steps become Stripe calls, each id written back at once.

Users and rooms run together, then leases (they need both). Each worker makes
its call, then writes the id at once through a small connection pool, so an
object never waits in memory for a batch that a crash could lose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast

import pymysql
from stripe.params import CustomerCreateParams, ProductCreateParams

from .billing import Mode
from .errors import CannotRun, WriteRefused, mysql_failed
from .gateway import Gateway, RowFailed, send_keyed
from .idempotency import idempotency_key
from .plan import Action, Plan, Step
from .problems import Problem
from .rows import Kind

T = TypeVar("T")
# Kept by Stripe as the cancellation's comment, for whoever finds the subscription in the dashboard.
UNSTORED = "cohabs-relink: its id could not be stored in the database"


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


@dataclass
class Executor:
    gateway: Gateway
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
        first = [s for k in (Kind.USER, Kind.ROOM) if k in plan.active for s in plan.steps[k]]
        outcomes = self._run_all(first)
        if Kind.LEASE in plan.active:
            outcomes += self._run_all(plan.steps[Kind.LEASE])
        # Workers finish in any order; the report follows the plan's.
        order = {(s.kind, s.row_id): i for i, s in enumerate(s for k in Kind for s in plan.steps[k])}
        return sorted(outcomes, key=lambda o: order[(o.kind, o.row_id)])

    def _run_all(self, steps: Iterable[Step]) -> list[Outcome]:
        """Run steps on the pool, keeping only a few more in flight than there are workers."""
        outcomes: list[Outcome] = []
        fatal: BaseException | None = None
        queue = iter(steps)
        pending: set[Future[Outcome | None]] = set()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="relink") as pool:
            while True:
                while len(pending) < 2 * self.workers and not self._stop.is_set():
                    step = next(queue, None)
                    if step is None:
                        break
                    pending.add(pool.submit(self._guarded, step))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        outcome = future.result()
                    except CannotRun as exc:
                        fatal = fatal or exc
                        self._stop.set()
                        continue
                    if outcome is not None:
                        outcomes.append(outcome)
                        self.tick(outcome.kind)
        if fatal is not None:
            raise fatal
        return outcomes

    def _guarded(self, step: Step) -> Outcome | None:
        if self._stop.is_set():
            return None
        try:
            return self._one(step)
        except RowFailed as exc:
            return _outcome(step, Result.FAILED, detail=str(exc), problem=exc.problem)
        except pymysql.err.Error as exc:
            raise mysql_failed(exc, f" while linking {step.kind.singular} {step.row_id}") from None

    @staticmethod
    def _keyed(step: Step, params: Mapping[str, Any], send: Callable[[str], T]) -> T:
        """Send under the row's key; past a key whose 500 an earlier run left stored, under the next one."""
        return send_keyed(lambda attempt: idempotency_key(step.kind, step.row_id, params, step.stale_id, attempt), send)

    def _link(self, step: Step, stripe_id: str, bills: bool = False) -> None:
        if stripe_id == step.stale_id:
            raise RowFailed(f"Stripe answered with the stale id {stripe_id} again; not stored", Problem.NOT_STORED)
        try:
            self.writer.write(step.kind, step.row_id, stripe_id)
        except WriteRefused as exc:
            why = f"{stripe_id} exists but could not be stored ({exc})"
            if bills:
                # A subscription no row knows would bill unseen: cancelled. The row stores no id, so the
                # next run gives an ongoing lease a new subscription.
                try:
                    self.gateway.cancel_subscription(stripe_id, UNSTORED)
                except RowFailed as cancel:
                    raise RowFailed(
                        f"{why}; cancelling it failed too, cancel it in Stripe: {cancel}", Problem.NOT_STORED
                    ) from None
                why += "; cancelled it so that it cannot bill"
            raise RowFailed(why, Problem.NOT_STORED) from None
        with self._lock:
            self.ids[(step.kind, step.row_id)] = stripe_id

    def _one(self, step: Step) -> Outcome:
        if step.action is Action.SKIP:
            return _outcome(step, Result.SKIPPED, detail=step.reason, problem=step.problem)
        if step.action is Action.CREATE:
            stripe_id = self._create(step)
            return _outcome(step, Result.REPLACED if step.stale_id else Result.CREATED, stripe_id, step.reason)
        assert step.stripe_id is not None, step
        details = [step.reason]
        if step.action is Action.ADOPT:
            self._link(step, step.stripe_id, step.bills)  # the id first: it is what a crash must not lose
        if step.repair:
            stripe_id, repair = step.stripe_id, step.repair
            self._keyed(step, repair, lambda key: self.gateway.update(step.kind, stripe_id, repair, key))
        if step.cancel:
            self.gateway.cancel_subscription(step.stripe_id)
            details.append("ended lease: cancelled its subscription, left uncancelled by an earlier run")
        detail = "; ".join(filter(None, details))
        if step.action is Action.KEEP:
            return _outcome(step, Result.KEPT, step.stripe_id, detail)
        return _outcome(step, Result.REPLACED if step.stale_id else Result.ADOPTED, step.stripe_id, detail)

    def _create(self, step: Step) -> str:
        if step.kind is Kind.USER and step.params is not None:
            customer_params = cast(CustomerCreateParams, step.params)
            stripe_id = self._keyed(
                step, customer_params, lambda key: self.gateway.create_customer(customer_params, key)
            )
            self._link(step, stripe_id)
            return stripe_id
        if step.kind is Kind.ROOM and step.params is not None:
            product_params = cast(ProductCreateParams, step.params)
            stripe_id = self._keyed(step, product_params, lambda key: self.gateway.create_product(product_params, key))
            self._link(step, stripe_id)
            return stripe_id
        billing = step.billing
        assert billing is not None, step
        customer = self.ids.get((Kind.USER, billing.user_id))
        product = self.ids.get((Kind.ROOM, billing.room_id))
        if customer is None or product is None:
            missing = f"user {billing.user_id}" if customer is None else f"room {billing.room_id}"
            raise RowFailed(f"{missing} could not be linked in this run (see its line)", Problem.DEPENDENCY)
        params = billing.params(customer, product)
        subscription = self._keyed(step, params, lambda key: self.gateway.create_subscription(params, key))
        self._link(step, subscription.id, bills=True)
        if billing.terms.mode is Mode.ENDED:
            try:
                self.gateway.cancel_subscription(subscription.id)
            except RowFailed as exc:
                raise RowFailed(
                    f"created {subscription.id} but could not cancel it yet (the next run will): {exc}"
                ) from None
        return subscription.id


def _outcome(
    step: Step, result: Result, stripe_id: str | None = None, detail: str = "", problem: Problem | None = None
) -> Outcome:
    problem = problem or step.problem
    return Outcome(step.kind, step.row_id, step.label, result, stripe_id, detail, step.stale_id, step.notes, problem)
