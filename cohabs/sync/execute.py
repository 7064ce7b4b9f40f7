"""Execution: the plan's steps become Stripe calls, each id written back at once.

Every step starts as soon as it can: a lease as soon as its own user and room
are linked, an ended lease's cancel on its own endpoint once its subscription
is stored. Each worker makes its call, then writes the id at once through a
small connection pool, so an object never waits in memory for a batch that a
crash could lose.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import pymysql
from stripe.params import SubscriptionCreateParams

from cohabs.shared.errors import WriteRefused
from cohabs.shared.mysql import mysql_failed
from cohabs.shared.scheduler import Lane, Shape, Then, run_side_by_side
from cohabs.shared.stopping import StopFlag, Stopped
from cohabs.shared.stripe.gateway import RowFailed, send_keyed
from cohabs.shared.stripe.idempotency import idempotency_key
from cohabs.sync.billing import REPLACED_FOR_RENT_DAY, Mode
from cohabs.sync.calls import Calls
from cohabs.sync.kinds import CANCEL_SUBSCRIPTION, KEY_NAMESPACE, KINDS
from cohabs.sync.plan import Action, Billing, Plan, Step
from cohabs.sync.problems import Problem
from cohabs.sync.rows import Kind

T = TypeVar("T")
# Kept by Stripe as the cancellation's comment, for whoever finds the subscription in the dashboard.
UNSTORED = "cohabs-relink: its id could not be stored in the database"


class StepFailed(RowFailed):
    """A row failed for a reason of the sync's own, with the problem its advice is keyed by."""

    def __init__(self, message: str, *, problem: Problem) -> None:
        super().__init__(message)
        self.problem = problem


def problem_of(exc: RowFailed | Stopped) -> Problem:
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
    NOT_FINISHED = "not_finished"  # the run stopped before this row was done


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
    made: bool = False  # this run created the Stripe object (what `--undo` of its report removes)

    @property
    def synced(self) -> bool:
        return self.problem is None and self.result not in (Result.SKIPPED, Result.FAILED, Result.NOT_FINISHED)


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


Task = Step | Cancel


@dataclass
class Executor:
    calls: Calls
    writer: Writer
    workers: int = 8
    tick: Tick = lambda kind: None
    ids: dict[tuple[Kind, str], str] = field(default_factory=dict)

    stop: StopFlag = field(default_factory=StopFlag)
    # Customer -> its subscriptions past their free period, as the account was read: only they can have open
    # invoices a cancel stops collecting. A subscription this run makes is in its trial, with nothing open.
    invoiced: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Names this run in its updates' keys (see _update): no personal data, never reused by another run.
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def run(self, plan: Plan) -> list[Outcome]:
        for kind in (Kind.USER, Kind.ROOM):
            for step in plan.steps[kind]:
                if step.stripe_id and step.action is not Action.SKIP:  # a skipped step's object is not the row's
                    self.ids[(kind, step.row_id)] = step.stripe_id
        outcomes = run_side_by_side(
            _in_need_order(plan),
            self._guarded,
            SHAPE,
            workers=self.workers,
            stop=self.stop,
            finished=lambda task, outcome: self.tick(outcome.kind),
        )
        # Workers finish in any order; the report follows the plan's, rows the run stopped before included.
        by_row = {(o.kind, o.row_id): o for o in outcomes}
        active = [s for k in Kind if k in plan.active for s in plan.steps[k]]
        return [by_row.get((s.kind, s.row_id)) or self._not_finished(s) for s in active]

    def _not_finished(self, step: Step) -> Outcome:
        why = self.stop.detail or "not started"
        return _outcome(step, Result.NOT_FINISHED, detail=why, problem=Problem.NOT_FINISHED)

    def _guarded(self, task: Task) -> Outcome | Then[Task] | None:
        step = task.step if isinstance(task, Cancel) else task
        try:
            return self._cancel(task) if isinstance(task, Cancel) else self._one(task)
        except Stopped:
            return None  # its first request was not sent, or got no answer: the next run finishes the row
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

    def _update(self, step: Step, stripe_id: str, repair: Mapping[str, Any]) -> None:
        """Set fields again, under a key of this run's own.

        A create's key is the same on every run so that a retry finds what an earlier run made. An
        update is the other way round: setting a field twice is harmless, but a key an earlier run used
        would replay that run's answer instead of setting the field now (a method switched to
        send_invoice, back, then to send_invoice again within Stripe's 24 hours would stay unchanged).
        Retries within the run keep the key; the next run reads the account and sends only what differs.
        """
        send_keyed(
            lambda attempt: idempotency_key(
                KEY_NAMESPACE,
                f"{step.kind.singular}:{step.row_id}",
                {"set": dict(repair), "run": self.run_id},
                step.stale_id,
                attempt,
            ),
            lambda key: self.calls.update(step.kind, stripe_id, repair, key),
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

    def _one(self, step: Step) -> Outcome | Then[Task]:
        if step.action is Action.SKIP:
            return _outcome(step, Result.SKIPPED, detail=step.reason, problem=step.problem)
        if step.action is Action.CREATE:
            replaced = self._replace(step)
            stripe_id = self._create(step)
            detail = "; ".join(filter(None, [step.reason, replaced]))
            created = _outcome(step, Result.REPLACED if step.stale_id else Result.CREATED, stripe_id, detail, made=True)
            if step.billing is not None and step.billing.terms.mode is Mode.ENDED:
                return Then(Cancel(step, stripe_id, created))
            return created
        assert step.stripe_id is not None, step
        details = [step.reason]
        if step.action is Action.ADOPT:
            self._link(step, step.stripe_id, step.bills)  # the id first: it is what a crash must not lose
        if step.repair:
            self._update(step, step.stripe_id, step.repair)
        if step.cancel:
            customer = self.calls.cancel_subscription(step.stripe_id)
            details.append("ended lease: cancelled its subscription, left uncancelled by an earlier run")
            details.append(self._resume_collection(customer, step.stripe_id))
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
            customer = self.calls.cancel_subscription(task.stripe_id)
        except (RowFailed, Stopped) as exc:
            detail = f"created {task.stripe_id} but could not cancel it yet (the next run will): {exc}"
            return _outcome(task.step, Result.FAILED, task.stripe_id, detail, problem_of(exc), made=True)
        resumed = self._resume_collection(customer, task.stripe_id)
        return replace(task.outcome, detail="; ".join(filter(None, [task.outcome.detail, resumed])))

    def _replace(self, step: Step) -> str:
        """Cancel the subscription a new one replaces (billed on another day, nothing billed yet), marked so that
        a run stopped before the new one is stored finishes the replacement."""
        old = step.billing.replaces if step.billing else None
        if not old:
            return ""
        customer = self.calls.cancel_subscription(old, REPLACED_FOR_RENT_DAY)
        return "; ".join(filter(None, [f"cancelled {old}", self._resume_collection(customer, old)]))

    def _resume_collection(self, customer: str | None, cancelled: str) -> str:
        """Keep the tenant's other rent collected: Stripe stops collecting all a customer's finalized invoices
        when one of its subscriptions is cancelled. What was done, in words; a person is named what was not."""
        if not customer or not self.invoiced.get(customer, frozenset()) - {cancelled}:
            return ""
        try:
            resumed = self.calls.resume_collection(customer, cancelled)
        except (RowFailed, Stopped) as exc:
            raise StepFailed(
                f"cancelled {cancelled}; Stripe then stops collecting the tenant's other open invoices, and turning "
                f"it back on failed: turn on automatic collection of each in Stripe ({exc})",
                problem=Problem.STRIPE,
            ) from None
        return f"collection of the tenant's other open invoices turned back on: {', '.join(resumed)}" if resumed else ""


def _needs(step: Step) -> list[tuple[Kind, str]]:
    """What a step waits for: the rows whose ids its request carries (a new subscription names its customer and
    product), and the leases whose subscriptions must be cancelled before its currency starts."""
    if step.action is not Action.CREATE or step.billing is None:
        return []
    # A lease in another currency than the tenant's subscriptions this run cancels waits for those cancels.
    return [
        (Kind.USER, step.billing.user_id),
        (Kind.ROOM, step.billing.room_id),
        *((Kind.LEASE, lease) for lease in step.billing.after),
    ]


def _name(task: Task) -> tuple[Kind, str]:
    step = task.step if isinstance(task, Cancel) else task
    return (step.kind, step.row_id)


def _lane(task: Task) -> Lane:
    if isinstance(task, Cancel) or (task.cancel and not task.repair):
        return CANCEL_SUBSCRIPTION
    if task.action is Action.CREATE:
        return KINDS[task.kind].create_endpoint
    if task.repair:
        return KINDS[task.kind].update_endpoint
    return None


SHAPE: Shape[Task] = Shape(lane=_lane, name=_name, needs=lambda task: [] if isinstance(task, Cancel) else _needs(task))


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
    step: Step,
    result: Result,
    stripe_id: str | None = None,
    detail: str = "",
    problem: Problem | None = None,
    *,
    made: bool = False,
) -> Outcome:
    problem = problem or step.problem
    return Outcome(
        step.kind, step.row_id, step.label, result, stripe_id, detail, step.stale_id, step.notes, problem, made
    )
