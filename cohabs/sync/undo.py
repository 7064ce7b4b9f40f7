"""`sync.py --undo REPORT`, start to end: the report, the target, what is there now, the plan, the undo.

Nothing is changed before the report, the database and the account all agree;
then the state is read afresh and only what is left is done, so a rerun after
a crash finishes the undo and a second undo of the same report sends no write.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pymysql

from cohabs.shared import mysql
from cohabs.shared.errors import CannotRun
from cohabs.shared.mysql import Connection, Pool, mysql_errors, mysql_failed, quote
from cohabs.shared.scheduler import Shape, workers
from cohabs.shared.scheduler import run_side_by_side as side_by_side
from cohabs.shared.secret_key import guard_key, require_key
from cohabs.shared.settings import Settings
from cohabs.shared.stopping import Stopped
from cohabs.shared.stripe.gateway import RowFailed, StripeGateway, make_gateway, unreadable
from cohabs.shared.stripe.listing import readers
from cohabs.sync import account_read, db
from cohabs.sync.account import Remote
from cohabs.sync.calls import SyncCalls
from cohabs.sync.kinds import CANCEL_SUBSCRIPTION
from cohabs.sync.rows import Kind
from cohabs.sync.run import World
from cohabs.sync.schema import Schema
from cohabs.sync.undo_calls import DELETE_CUSTOMER, UPDATE_PRICE, UndoCalls
from cohabs.sync.undo_plan import ENDED, Act, Now, UndoPlan, UndoStep, plan_undo
from cohabs.sync.undo_record import RunRecord, check_target, read_record
from cohabs.sync.undo_report import Done, UndoOutcome, UndoReport

LANES = {Act.CANCEL: CANCEL_SUBSCRIPTION, Act.DELETE: DELETE_CUSTOMER, Act.ARCHIVE: UPDATE_PRICE, Act.CLEAR: None}


@dataclass(frozen=True)
class UndoOptions:
    report: Path
    dry_run: bool = False
    live: bool = False
    workers: int | None = None


def undo(settings: Settings, options: UndoOptions, world: World, confirm: Callable[[UndoReport], bool]) -> UndoReport:
    record = read_record(options.report)  # refused before any connection: nothing is touched
    guard_key(settings, writes=not options.dry_run, allow_live=options.live)
    require_key(settings, "an undo reads the Stripe account the run wrote to")
    with mysql_errors():
        return _undo(settings, options, world, confirm, record)


def _undo(
    settings: Settings,
    options: UndoOptions,
    world: World,
    confirm: Callable[[UndoReport], bool],
    record: RunRecord,
) -> UndoReport:
    started = world.clock()
    gateway = make_gateway(settings, world)
    account = SyncCalls(gateway).account_id()
    if account is None:
        raise CannotRun("the key may not read its Stripe account (GET /v1/account): an undo must know where it acts")
    check_target(
        record,
        database=settings.db_name,
        db_host=f"{settings.db_host}:{settings.db_port}",
        stripe_mode=settings.mode or "none",
        stripe_account=account,
    )
    # The sync's lock: an undo and a sync never change the same database at once.
    with mysql.session(settings, None if options.dry_run else db.LOCK, "sync or undo") as conn:
        schema = db.read_schema(conn)
        world.echo(f"Undoing {record.path}: {len(record.made)} object(s) that run created.")
        plan = plan_undo(record, read_now(record, gateway, settings, _rows_now(conn, schema), world))
        preview = UndoReport(record, plan, dry_run=True)
        if options.dry_run:
            return preview
        if plan.writes and not confirm(preview):
            raise CannotRun("stopped before any change: not confirmed")
        clearer = RowClearer(lambda: mysql.connect_again(settings), schema)
        try:
            outcomes = execute(plan, UndoCalls(gateway), clearer, options.workers or workers(settings), world)
        finally:
            clearer.close()
    return dataclasses.replace(
        preview,
        dry_run=False,
        outcomes=tuple(outcomes),
        requests=gateway.counters.requests,
        seconds=world.clock() - started,
        stopped=world.stop.reason,
        stop_detail=world.stop.detail,
    )


def _rows_now(conn: Connection, schema: Schema) -> dict[tuple[Kind, str], str | None]:
    rows = db.load_rows(conn, schema)
    now: dict[tuple[Kind, str], str | None] = {}
    for kind, found in ((Kind.USER, rows.users), (Kind.ROOM, rows.rooms), (Kind.LEASE, rows.leases)):
        now.update({(kind, row.id): row.stripe_id for row in found})
    return now


def read_now(
    record: RunRecord,
    gateway: StripeGateway,
    settings: Settings,
    rows: dict[tuple[Kind, str], str | None],
    world: World,
) -> Now:
    """The account as it is, for the run's objects: one listing of customers and subscriptions, then each of
    the run's customers (money) and products (prices) side by side."""
    world.echo("Reading the Stripe account (customers, subscriptions), then the run's customers and products…")
    try:
        found = account_read.read_all(SyncCalls(gateway), (Kind.USER, Kind.LEASE), readers(settings))
    except RowFailed as exc:
        raise unreadable(exc, settings) from None
    customers = {r.id: r for r in found if r.kind is Kind.USER}
    subscriptions = {r.id: r for r in found if r.kind is Kind.LEASE}
    mine = {m.stripe_id for m in record.made}
    calls = UndoCalls(gateway)
    present = [m.stripe_id for m in record.of_kind(Kind.USER) if m.stripe_id in customers]
    products = [m.stripe_id for m in record.of_kind(Kind.ROOM)]
    try:
        with ThreadPoolExecutor(max_workers=workers(settings)) as pool:
            # Both submitted before either is awaited: products are read while customers are.
            reading = pool.map(lambda c: calls.customer(c, customers[c].can_pay), present)
            priced = pool.map(calls.product, products)
            money = dict(zip(present, reading, strict=True))
            states = dict(zip(products, priced, strict=True))
    except RowFailed as exc:
        raise CannotRun(f"could not read what is on the run's objects, so nothing was changed: {exc}") from None
    return Now(
        subscriptions={s.id: s.status or "" for s in subscriptions.values()},
        customers=money,
        products={p: state for p, state in states.items() if state is not None},
        rows=rows,
        others=_others(subscriptions.values(), mine),
        owners={s.id: s.customer for s in subscriptions.values() if s.customer},
    )


def _others(subscriptions: Iterable[Remote], mine: set[str]) -> dict[str, tuple[str, ...]]:
    """Customer and product ids -> the live subscriptions using them that the undone run did not make."""
    others: dict[str, list[str]] = {}
    for s in subscriptions:
        if s.id in mine or (s.status or "") in ENDED:
            continue
        for used in (s.customer, s.product):
            if used:
                others.setdefault(used, []).append(s.id)
    return {k: tuple(v) for k, v in others.items()}


def execute(plan: UndoPlan, calls: UndoCalls, clearer: RowClearer, count: int, world: World) -> list[UndoOutcome]:
    """Every write side by side, each on its endpoint's budget; a customer's delete waits for its subscriptions'
    cancels and is not sent when one failed. Each object, then its row, as soon as it is undone."""
    failed: set[str] = set()
    lock = threading.Lock()

    def one(step: UndoStep) -> UndoOutcome | None:
        with lock:
            blocked = [s for s in step.after if s in failed]
        if blocked:
            return UndoOutcome(step, Done.FAILED, f"not deleted: cancelling {', '.join(blocked)} failed; run again")
        outcome = _one(step, calls, clearer)
        if outcome is None or outcome.result is Done.FAILED:
            with lock:
                failed.add(step.made.stripe_id)
        return outcome

    shape: Shape[UndoStep] = Shape(
        lane=lambda step: LANES[step.act], name=lambda step: step.made.stripe_id, needs=lambda step: step.after
    )
    todo = [s for s in plan.steps if s.writes]
    outcomes = side_by_side(todo, one, shape, workers=count, stop=world.stop)
    by_object = {o.step.made.stripe_id: o for o in outcomes}
    return [by_object.get(s.made.stripe_id) or _unfinished(s, world) for s in plan.steps]


def _unfinished(step: UndoStep, world: World) -> UndoOutcome:
    if step.writes:
        return UndoOutcome(step, Done.NOT_FINISHED, world.stop.detail or "not started")
    return UndoOutcome(step, Done.LEFT if step.act is Act.LEAVE else Done.ALREADY, step.why)


def _one(step: UndoStep, calls: UndoCalls, clearer: RowClearer) -> UndoOutcome | None:
    made = step.made
    try:
        if step.act is Act.CANCEL:
            calls.cancel(made.stripe_id)
        elif step.act is Act.DELETE:
            calls.delete_customer(made.stripe_id)
        elif step.act is Act.ARCHIVE:
            calls.archive(made.stripe_id, step.prices)
    except Stopped:
        return None  # no answer, or not sent: the rerun reads the state and finishes it
    except RowFailed as exc:
        return UndoOutcome(step, Done.FAILED, f"{exc}; run the undo again")
    left = _resume(step, calls)
    cleared = False
    if step.clear_row:
        try:
            cleared = clearer.clear(made.kind, made.row_id, made.stripe_id)
        except pymysql.err.Error as exc:
            raise mysql_failed(exc, f" while clearing {made.kind.singular} {made.row_id}") from None
    if left:
        return UndoOutcome(step, Done.LEFT, f"{step.why}; {left}", cleared)
    return UndoOutcome(step, Done.UNDONE, step.why, cleared)


def _resume(step: UndoStep, calls: UndoCalls) -> str:
    """After a cancel, the tenant's other rent collected again; what could not be, said for a person."""
    if step.act is not Act.CANCEL or step.resume is None:
        return ""
    try:
        calls.resume_collection(step.resume, step.made.stripe_id)
    except (RowFailed, Stopped) as exc:
        return f"Stripe then stopped collecting the tenant's other open invoices: turn it back on in Stripe ({exc})"
    return ""


class RowClearer:
    """Clears a row's Stripe id only while the row still holds exactly the id the undone run wrote."""

    def __init__(self, connect: Callable[[], Connection], schema: Schema, size: int = 8) -> None:
        self._pool = Pool(connect, size)
        self._schema = schema
        self._lock = threading.Lock()

    def clear(self, kind: Kind, row_id: str, stripe_id: str) -> bool:
        """True when the row was cleared; False when it holds something else now (left as it is)."""
        table = self._schema[kind]
        sql = (
            f"UPDATE {quote(table.name)} SET {quote(table.columns['stripe_id'])} = NULL "  # noqa: S608 (schema names)
            f"WHERE {quote(table.columns['id'])} = %s AND {quote(table.columns['stripe_id'])} = %s"
        )
        with self._pool.borrow() as conn, conn.cursor() as cur:
            return bool(cur.execute(sql, [row_id, stripe_id]))

    def close(self) -> None:
        self._pool.close()
