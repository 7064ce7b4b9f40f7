"""One support run, start to end: settings, database, account, plan, confirmation, execution."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cohabs.shared import mysql
from cohabs.shared.clock import utc_now
from cohabs.shared.errors import CannotRun
from cohabs.shared.mysql import mysql_errors
from cohabs.shared.scheduler import workers
from cohabs.shared.secret_key import guard_key, require_key
from cohabs.shared.settings import Settings
from cohabs.shared.stopping import StopFlag, StopReason
from cohabs.shared.stripe.gateway import RowFailed, StripeGateway, make_gateway, unreadable
from cohabs.shared.stripe.listing import readers
from cohabs.support import account_read, disputes, transfers
from cohabs.support.calls import SupportCalls
from cohabs.support.execute import Executor
from cohabs.support.items import Incident, Item, Plan
from cohabs.support.rows import PaymentRows
from cohabs.support.tables import Tables, load, read_tables

LOCK = "cohabs-support"  # the MySQL lock a support run holds on its database
# How support's database is made when it does not exist: its own dump, into its own setting.
RESTORE = (
    "restore support's dump first: ./restore_dump.sh --support path/to/cohabs_support_challenge.dump "
    "(it restores into SUPPORT_DB_NAME), or name the database that holds it with --database"
)


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
    stopped: StopReason | None = None  # why the run stopped before every item was done
    stop_detail: str = ""


def run(incident: Incident, settings: Settings, options: Options, world: World) -> SupportRun:
    with mysql_errors():
        return _run(incident, settings, options, world)


def _run(incident: Incident, settings: Settings, options: Options, world: World) -> SupportRun:
    guard_key(settings, writes=not options.dry_run, allow_live=options.live)
    require_key(settings, "support reads the Stripe account, even in a dry run")
    started = world.clock()
    with mysql.session(settings, None if options.dry_run else LOCK, "support run", RESTORE) as conn:
        tables = read_tables(conn)
        rows = load(conn, tables)
        world.echo(
            f"Database {settings.db_name}: {len(rows.houses)} houses, {len(rows.leases)} leases, "
            f"{len(rows.payments)} payments."
        )
        gateway = world.gateway or make_gateway(settings, world)
        calls = SupportCalls(gateway)
        world.echo(f"Reading the Stripe account ({incident.value})…")
        try:
            plan = _plan(incident, calls, rows, tables, options, world.now(), readers(settings))
        except RowFailed as exc:
            raise unreadable(exc, settings) from None
        done = SupportRun(plan, options.dry_run)
        if not options.dry_run:
            if plan.writes() and not world.confirm(plan):
                raise CannotRun("stopped before any change: not confirmed")
            plan.items = _carry_out(plan, calls, tables, settings, options, world)
            done.stopped, done.stop_detail = world.stop.reason, world.stop.detail
        done.requests, done.throttled = gateway.counters.requests, gateway.counters.throttled
        done.seconds = world.clock() - started
        return done


def _carry_out(
    plan: Plan, calls: SupportCalls, tables: Tables, settings: Settings, options: Options, world: World
) -> list[Item]:
    """The plan's items side by side; a re-collection's row goes through a small pool of connections."""
    pool = mysql.Pool(lambda: mysql.connect_again(settings))
    try:
        executor = Executor(calls, pool, tables, options.disputes, world.now, world.stop, workers(settings))
        return executor.run(plan)
    finally:
        pool.close()


def _plan(
    incident: Incident,
    calls: SupportCalls,
    rows: PaymentRows,
    tables: Tables,
    options: Options,
    now: datetime,
    readers: int,
) -> Plan:
    if incident is Incident.DISPUTES:
        width = tables.width("payments", "id")
        facts = account_read.read_disputes(calls, rows, width, readers)
        return disputes.plan_disputes(rows, facts, now=now, rules=options.disputes, id_width=width)
    return transfers.plan_transfers(rows, account_read.read_payouts(calls, rows, readers), options.transfers)
