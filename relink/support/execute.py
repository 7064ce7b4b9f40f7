"""Carrying out a support plan: one Stripe create per item, and for a dispute its row right after.

Items run one after another: a support run makes a handful of writes, and a
strict order keeps "what exists after a kill" simple: a request without its
row (the next run writes the row), never a row without its request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import pymysql

from ..db import Connection
from ..errors import lost_mysql
from ..gateway import RowFailed
from .disputes import Rules, due_date, from_timestamp
from .objects import Transfer
from .plan import Action, Collection, Item, Job, Payout, Plan, Problem, idempotency_key
from .stripe_calls import StripeCalls
from .tables import RowConflict, Tables, insert_copy

T = TypeVar("T")
# Keys tried for one create when Stripe keeps answering 500: a stored 500 replays under its key for a day.
GENERATIONS = 3


def create_once(job: Job, subject: str, params: Any, create: Callable[[str], T], find: Callable[[], T | None]) -> T:
    """Create one object, or find the one an earlier attempt made: never two.

    A 500 that survives the SDK's retries may be Stripe replaying the stored
    result of a request that began executing; the object may or may not exist.
    The account is listed again: found, it is used; not found, the next key is
    tried (a fresh key is the only way past a stored 500). Any other error
    leaves the item for the next run, whose listing decides again.
    """
    failure: RowFailed | None = None
    for generation in range(GENERATIONS):
        try:
            return create(idempotency_key(job, subject, params, generation))
        except RowFailed as exc:
            if exc.status != 500:
                raise
            failure = exc
        found = find()
        if found is not None:
            return found
    assert failure is not None
    raise RowFailed(f"{failure} (under {GENERATIONS} keys, and nothing was created: run again later)", status=500)


def _first(found: Iterable[T]) -> T | None:
    return next(iter(found), None)


@dataclass
class Executor:
    calls: StripeCalls
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
                done.append(replace(item, action=Action.REPORT, reason=str(exc), problem=Problem.STRIPE, failed=True))
            except RowConflict as exc:
                done.append(
                    replace(item, action=Action.REPORT, reason=str(exc), problem=Problem.NOT_STORED, failed=True)
                )
            except pymysql.err.Error as exc:
                raise lost_mysql(exc, f" while handling {item.subject}") from None
        return done

    def _one(self, item: Item) -> Item:
        if item.collection is not None and item.action in (Action.COLLECT, Action.RECORD):
            return self._collect(item, item.collection)
        if item.payout is not None and item.action is Action.TRANSFER:
            return self._transfer(item, item.payout)
        return item

    def _collect(self, item: Item, collection: Collection) -> Item:
        intent = collection.existing
        if intent is None:
            assert collection.params is not None
            params = collection.params
            intent = create_once(
                Job.DISPUTES,
                collection.dispute_id,
                params,
                lambda key: self.calls.create_intent(params, key),
                lambda: _first(
                    i
                    for i in reversed(self.calls.intents_of(collection.customer, collection.since))
                    if i.dispute == collection.dispute_id
                ),
            )
        due = due_date(from_timestamp(intent.created), self.rules)
        written = insert_copy(self.conn, self.tables, collection.row, charge_id=intent.id, due=due, now=self.now())
        note = f"row {collection.row.id} added, due {due:%Y-%m-%d}" if written else f"row {collection.row.id} was there"
        return replace(
            item, stripe_id=intent.id, reason=f"{item.reason} → request {intent.id} ({intent.status}); {note}"
        )

    def _transfer(self, item: Item, payout: Payout) -> Item:
        transfer: Transfer = create_once(
            Job.TRANSFERS,
            payout.payment_id,
            payout.params,
            lambda key: self.calls.create_transfer(payout.params, key),
            lambda: _first(
                t
                for t in self.calls.transfers_to(payout.destination, payout.since)
                if t.source_transaction == payout.charge_id
            ),
        )
        return replace(item, stripe_id=transfer.id, reason=f"{item.reason}. Done: {transfer.id}")
