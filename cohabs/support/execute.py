"""Carrying out a support plan: items side by side within Stripe's budgets, each its own task.

An item's requests stay in order inside its task: its create, then for a dispute
its row, on a connection of a small pool (PyMySQL connections are not
thread-safe). Items run in parallel on the shared scheduler, which gives each
endpoint its share of the workers; the gateway paces every request and handles
429s. So "what exists after a kill" stays simple for each item: a request
without its row (the next run writes the row), never a row without its request.
Once the run is stopping (Ctrl-C, SIGTERM, Stripe unreachable) no item starts;
those under way finish, and the others are reported as not finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import pymysql
from stripe.params import PaymentIntentCancelParams

from cohabs.shared.clock import from_unix
from cohabs.shared.mysql import Pool, mysql_failed
from cohabs.shared.scheduler import Lane, Shape, run_side_by_side
from cohabs.shared.stopping import StopFlag, Stopped
from cohabs.shared.stripe.gateway import RowFailed, StoredFailure, send_keyed
from cohabs.shared.stripe.idempotency import idempotency_key
from cohabs.support.calls import CANCEL_INTENT, CREATE_INTENT, CREATE_TRANSFER, SupportCalls
from cohabs.support.disputes import Rules, due_date
from cohabs.support.items import WRITES, Action, Incident, Item, Payout, Plan, Problem, Recollection
from cohabs.support.objects import Intent
from cohabs.support.tables import RowConflict, Tables, insert_copy

T = TypeVar("T")
KEY_NAMESPACE = "cohabs-support"  # support's idempotency keys start with it
Task = tuple[int, Item]  # an item to carry out, and its place in the plan


def create_once(incident: Incident, subject: str, params: Any, create: Callable[[str], T]) -> T:
    """Create one object under the item's key sequence (see gateway.send_keyed).

    The plan read the account first and found nothing for this item; an error
    this run caused itself fails the item for this run, and the next run's
    read decides: the object, if Stripe made it, or the next key.
    """
    return send_keyed(
        lambda attempt: idempotency_key(KEY_NAMESPACE, f"{incident.value}:{subject}", params, None, attempt), create
    )


LANES = {Action.CANCEL: CANCEL_INTENT, Action.COLLECT: CREATE_INTENT, Action.TRANSFER: CREATE_TRANSFER}


def _lane(task: Task) -> Lane:
    """The endpoint an item's first request goes to: an item that only records its row makes none."""
    return LANES.get(task[1].action)


def shape(plan: Plan) -> Shape[Task]:
    """Items by their endpoint; cancels first, as the plan lists them: every other item waits for them."""
    cancels = [n for n, item in enumerate(plan.items) if item.action is Action.CANCEL]
    return Shape(
        lane=_lane, name=lambda task: task[0], needs=lambda task: () if task[1].action is Action.CANCEL else cancels
    )


@dataclass
class Executor:
    calls: SupportCalls
    rows: Pool  # where a re-collection's row is written
    tables: Tables
    rules: Rules
    now: Callable[[], datetime]
    stop: StopFlag
    workers: int = 8

    def run(self, plan: Plan) -> list[Item]:
        """The plan's items as they ended, in the plan's order; those the run stopped before say so."""
        tasks = [(n, item) for n, item in enumerate(plan.items) if item.action in WRITES]
        done = dict(run_side_by_side(tasks, self._guarded, shape(plan), workers=self.workers, stop=self.stop))
        return [
            done.get(n) or (self._not_finished(item) if item.action in WRITES else item)
            for n, item in enumerate(plan.items)
        ]

    def _not_finished(self, item: Item) -> Item:
        why = self.stop.detail or "not started"
        return replace(
            item,
            action=Action.REPORT,
            reason=f"not done: the run stopped first ({why}); run again to finish",
            problem=Problem.NOT_FINISHED,
        )

    def _guarded(self, task: Task) -> tuple[int, Item] | None:
        n, item = task
        try:
            return n, self._one(item)
        except Stopped:
            return None  # its request was not sent, or got no answer: the next run's listing tells
        except RowFailed as exc:
            replayed = isinstance(exc, StoredFailure) and exc.replayed
            failed = replace(item, reason=str(exc), problem=Problem.STRIPE, failed=True, replayed=replayed)
            return n, replace(failed, action=Action.REPORT)
        except RowConflict as exc:
            return n, replace(item, action=Action.REPORT, reason=str(exc), problem=Problem.NOT_STORED, failed=True)
        except pymysql.err.Error as exc:
            raise mysql_failed(exc, f" while handling {item.subject}") from None

    def _one(self, item: Item) -> Item:
        if item.action is Action.CANCEL:
            return self._cancel(item)
        if item.collection is not None and item.action in (Action.COLLECT, Action.RECORD):
            return self._collect(item, item.collection)
        if item.payout is not None and item.action is Action.TRANSFER:
            return self._transfer(item, item.payout)
        return item

    def _collect(self, item: Item, collection: Recollection) -> Item:
        intent = collection.existing
        if intent is None:
            assert collection.params is not None
            params = collection.params
            intent = create_once(
                Incident.DISPUTES, collection.dispute_id, params, lambda key: self.calls.create_intent(params, key)
            )
        due = due_date(from_unix(intent.created), self.rules)
        with self.rows.borrow() as conn:
            written = insert_copy(conn, self.tables, collection.row, charge_id=intent.id, due=due, now=self.now())
        note = f"row {collection.row.id} added, due {due:%Y-%m-%d}" if written else f"row {collection.row.id} was there"
        return replace(
            item,
            stripe_id=intent.id,
            reason=f"{item.reason} → request {intent.id} ({intent.status}); {note}",
            instructions=intent.instructions,
        )

    def _cancel(self, item: Item) -> Item:
        """Cancel the unpaid requests of a dispute that gave the money back; a paid one is never touched."""
        said = [f"{intent.id} {intent.status}" for intent in map(self._cancel_one, item.cancels)]
        return replace(item, stripe_id=item.cancels[0], reason=f"{item.reason} → {', '.join(said)}")

    def _cancel_one(self, intent_id: str) -> Intent:
        # "duplicate": the platform has the money back, so the request would take it a second time.
        params: PaymentIntentCancelParams = {"cancellation_reason": "duplicate"}
        return create_once(
            Incident.DISPUTES,
            f"cancel:{intent_id}",
            params,
            lambda key: self.calls.cancel_intent(intent_id, params, key),
        )

    def _transfer(self, item: Item, payout: Payout) -> Item:
        transfer = create_once(
            Incident.TRANSFERS,
            payout.payment_id,
            payout.params,
            lambda key: self.calls.create_transfer(payout.params, key),
        )
        return replace(item, stripe_id=transfer.id, reason=f"{item.reason}. Done: {transfer.id}")
