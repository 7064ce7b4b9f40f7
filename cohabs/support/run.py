"""One support run, start to end: settings, database, account, plan, confirmation, execution."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from cohabs.shared import mysql
from cohabs.shared.clock import utc_now
from cohabs.shared.errors import CannotRun
from cohabs.shared.mysql import mysql_errors
from cohabs.shared.secret_key import guard_key, require_key
from cohabs.shared.settings import Settings
from cohabs.shared.stopping import StopFlag
from cohabs.shared.stripe.gateway import RowFailed, StripeGateway, make_gateway, unreadable
from cohabs.support import disputes, transfers
from cohabs.support.calls import SupportCalls
from cohabs.support.execute import Executor
from cohabs.support.objects import Charge, Dispute, Intent
from cohabs.support.plan import Job, Plan
from cohabs.support.rows import PaymentRows, Ref
from cohabs.support.tables import Tables, load, read_tables

T = TypeVar("T")
R = TypeVar("R")
READERS = 8  # reads in flight at once; the gateway paces them


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    live: bool = False
    disputes: disputes.Rules = field(default_factory=disputes.Rules)
    transfers: transfers.Rules = field(default_factory=transfers.Rules)


@dataclass
class World:
    """Everything a run touches outside itself, so tests can hand in their own."""

    echo: Callable[[str], None] = print
    confirm: Callable[[Plan], bool] = lambda plan: True
    now: Callable[[], datetime] = utc_now
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stop: StopFlag = field(default_factory=StopFlag)  # set by a signal or by the gateway
    gateway: StripeGateway | None = None


@dataclass
class SupportRun:
    """A whole support run as it ended: its plan (the items as they ended), and what it cost at Stripe."""

    plan: Plan
    dry_run: bool
    requests: int = 0
    throttled: int = 0
    seconds: float = 0.0


def _each(read: Callable[[T], R], keys: Iterable[T]) -> dict[T, R]:
    """`read` for each key, a few at a time (one list's pages still follow each other)."""
    wanted: Sequence[T] = list(dict.fromkeys(keys))
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="support-read") as pool:
        return dict(zip(wanted, pool.map(read, wanted), strict=True))


def read_disputes(calls: SupportCalls, rows: PaymentRows, id_width: int | None) -> list[disputes.Facts]:
    """Every dispute with its charge; for a dispute with its one row, the requests and invoice that decide it."""
    found = calls.disputes()
    charges = _each(calls.charge, [d.charge for d in found if d.charge])
    present = {p.id for p in rows.payments}
    facts = []
    for dispute in found:
        charge = charges.get(dispute.charge or "")
        one = disputes.Facts(dispute, charge)
        if len(disputes.matching_rows(dispute, rows.payments)) != 1 or charge is None:
            facts.append(one)
            continue
        intent_id = charge.payment_intent or dispute.payment_intent
        if intent_id and not (charge.customer and charge.description):
            one = replace(one, intent=calls.intent(intent_id))
        since: list[Intent] = []
        if one.customer:
            since = sorted(calls.intents_of(one.customer, dispute.created), key=lambda i: (i.created, i.id))
        requests = tuple(i for i in since if i.dispute == dispute.id)
        unnamed = tuple(i for i in since if i.dispute is None and i.bank_transfer)
        handled = requests or disputes.new_payment_id(dispute.id, id_width) in present
        invoice = calls.invoice_number(intent_id) if intent_id and not handled else None
        facts.append(
            replace(
                one, found=requests, invoice=invoice, unnamed=unnamed, request_charges=paid(calls, dispute, requests)
            )
        )
    return facts


def paid(calls: SupportCalls, dispute: Dispute, requests: Iterable[Intent]) -> dict[str, Charge]:
    """The charges of paid requests whose dispute gave the money back: they tell whether the tenant was refunded."""
    if dispute.money_withdrawn:
        return {}
    wanted = {i.id: i.latest_charge for i in requests if i.status == "succeeded" and i.latest_charge}
    found = _each(calls.charge, wanted.values())
    return {intent: charge for intent, charge_id in wanted.items() if (charge := found.get(charge_id)) is not None}


def read_for_transfers(calls: SupportCalls, rows: PaymentRows) -> transfers.PayoutFacts:
    """The houses' accounts, every transfer to them, and the payments' charges (refunds show on paid-out ones too)."""
    accounts = _each(calls.account, [h.account_id for h in rows.houses if h.account_id])
    listed = _each(calls.transfers_to, [a for a, there in accounts.items() if there is not None])
    sent = [t for found in listed.values() for t in found]
    intents = _each(calls.intent, [p.charge_id for p in rows.payments if p.ref is Ref.PAYMENT_INTENT and p.charge_id])
    wanted = [p.charge_id for p in rows.payments if p.ref is Ref.CHARGE]
    wanted += [i.latest_charge for i in intents.values() if i]
    charges = _each(calls.charge, [c for c in wanted if c])
    return transfers.PayoutFacts(accounts, sent, charges, intents)


def run(job: Job, settings: Settings, options: Options, world: World) -> SupportRun:
    with mysql_errors():
        return _run(job, settings, options, world)


def _run(job: Job, settings: Settings, options: Options, world: World) -> SupportRun:
    guard_key(settings, writes=not options.dry_run, allow_live=options.live)
    require_key(settings, "support reads the Stripe account, even in a dry run")
    started = world.clock()
    conn = mysql.connect(settings)
    try:
        if not options.dry_run:
            mysql.acquire_lock(conn, "cohabs-support", settings.db_name, "support run")
        tables = read_tables(conn)
        rows = load(conn, tables)
        world.echo(
            f"Database {settings.db_name}: {len(rows.houses)} houses, {len(rows.leases)} leases, "
            f"{len(rows.payments)} payments."
        )
        gateway = world.gateway or make_gateway(settings, world)
        calls = SupportCalls(gateway)
        world.echo(f"Reading the Stripe account ({job.value})…")
        try:
            plan = _plan(job, calls, rows, tables, options, world.now())
        except RowFailed as exc:
            raise unreadable(exc, settings) from None
        if options.dry_run:
            return SupportRun(
                plan, True, gateway.counters.requests, gateway.counters.throttled, world.clock() - started
            )
        if plan.writes() and not world.confirm(plan):
            raise CannotRun("stopped before any change: not confirmed")
        plan.items = Executor(calls, conn, tables, options.disputes, world.now).run(plan)
        return SupportRun(plan, False, gateway.counters.requests, gateway.counters.throttled, world.clock() - started)
    finally:
        conn.close()


def _plan(job: Job, calls: SupportCalls, rows: PaymentRows, tables: Tables, options: Options, now: datetime) -> Plan:
    if job is Job.DISPUTES:
        width = tables.width("payments", "id")
        facts = read_disputes(calls, rows, width)
        return disputes.plan_disputes(rows, facts, now=now, rules=options.disputes, id_width=width)
    return transfers.plan_transfers(rows, read_for_transfers(calls, rows), options.transfers)
