"""Carrying out a support plan: one Stripe create per item, and for a dispute its row right after.

Items run one after another: a support run makes a handful of writes, and a
strict order keeps "what exists after a kill" simple: a request without its
row (the next run writes the row), never a row without its request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import pymysql
from stripe.params import PaymentIntentCancelParams

from cohabs.shared.mysql import Connection, mysql_failed
from cohabs.shared.stripe.gateway import RowFailed, StoredFailure, send_keyed
from cohabs.shared.stripe.idempotency import idempotency_key
from cohabs.support.calls import SupportCalls
from cohabs.support.disputes import Rules, due_date, from_timestamp
from cohabs.support.objects import Intent
from cohabs.support.plan import Action, Item, Job, Payout, Plan, Problem, Recollection
from cohabs.support.tables import RowConflict, Tables, insert_copy

T = TypeVar("T")
KEY_NAMESPACE = "cohabs-support"  # support's idempotency keys start with it


def create_once(job: Job, subject: str, params: Any, create: Callable[[str], T]) -> T:
    """Create one object under the item's key sequence (see gateway.send_keyed).

    The plan read the account first and found nothing for this item; an error
    this run caused itself fails the item for this run, and the next run's
    read decides: the object, if Stripe made it, or the next key.
    """
    return send_keyed(
        lambda attempt: idempotency_key(KEY_NAMESPACE, f"{job.value}:{subject}", params, None, attempt), create
    )


@dataclass
class Executor:
    calls: SupportCalls
    conn: Connection
    tables: Tables
    rules: Rules
    now: Callable[[], datetime]

    def run(self, plan: Plan) -> list[Item]:
        done: list[Item] = []
        for item in plan.items:
            try:
                done.append(self._one(item))
            except RowFailed as exc:
                replayed = isinstance(exc, StoredFailure) and exc.replayed
                failed = replace(item, reason=str(exc), problem=Problem.STRIPE, failed=True, replayed=replayed)
                done.append(replace(failed, action=Action.REPORT))
            except RowConflict as exc:
                done.append(
                    replace(item, action=Action.REPORT, reason=str(exc), problem=Problem.NOT_STORED, failed=True)
                )
            except pymysql.err.Error as exc:
                raise mysql_failed(exc, f" while handling {item.subject}") from None
        return done

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
                Job.DISPUTES, collection.dispute_id, params, lambda key: self.calls.create_intent(params, key)
            )
        due = due_date(from_timestamp(intent.created), self.rules)
        written = insert_copy(self.conn, self.tables, collection.row, charge_id=intent.id, due=due, now=self.now())
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
            Job.DISPUTES, f"cancel:{intent_id}", params, lambda key: self.calls.cancel_intent(intent_id, params, key)
        )

    def _transfer(self, item: Item, payout: Payout) -> Item:
        transfer = create_once(
            Job.TRANSFERS, payout.payment_id, payout.params, lambda key: self.calls.create_transfer(payout.params, key)
        )
        return replace(item, stripe_id=transfer.id, reason=f"{item.reason}. Done: {transfer.id}")
