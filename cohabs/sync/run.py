"""One run, start to end: configuration, database, account, plan, execution, report."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from cohabs.shared import mysql
from cohabs.shared.clock import utc_now
from cohabs.shared.errors import CannotRun
from cohabs.shared.mysql import mysql_errors
from cohabs.shared.scheduler import workers
from cohabs.shared.secret_key import guard_key, require_key
from cohabs.shared.settings import Settings
from cohabs.shared.stopping import StopFlag
from cohabs.shared.stripe.gateway import RowFailed, make_gateway, unreadable
from cohabs.shared.stripe.listing import readers
from cohabs.sync import account_read, db, payment_methods
from cohabs.sync.account import Account
from cohabs.sync.billing import CollectionChoice
from cohabs.sync.calls import Calls, SyncCalls
from cohabs.sync.copied_customers import MapRow
from cohabs.sync.execute import Executor, Outcome
from cohabs.sync.ledger import Ledger
from cohabs.sync.plan import Action, Plan, make_plan
from cohabs.sync.previews import preview_all
from cohabs.sync.readiness import Readiness, assess
from cohabs.sync.rows import Kind, Rows
from cohabs.sync.run_report import Report, outcomes_from_plan, remaining_from_plan
from cohabs.sync.schema import Schema, check_id_columns
from cohabs.sync.verify import Finding, audit, billing_subscriptions, judged
from cohabs.sync.verify_report import AuditReport


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    kinds: frozenset[Kind] = frozenset(Kind)
    live: bool = False
    workers: int | None = None
    limit: int | None = None
    customer_map: tuple[MapRow, ...] = ()  # --customer-map: which copied customer is whose


Confirm = Callable[[Report], bool]  # shown the plan as a report, says go or not


@dataclass
class World:
    """Everything a run touches outside itself, so tests can hand in their own."""

    echo: Callable[[str], None] = print
    confirm: Confirm = lambda preview: True
    now: Callable[[], datetime] = utc_now
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stop: StopFlag = field(default_factory=StopFlag)  # set by a signal or by the gateway
    progress: Callable[[dict[Kind, int]], Callable[[Kind], None]] | None = None
    calls: Calls | None = field(default=None)  # Stripe, unless a test hands in its own


def check_key(settings: Settings, options: Options) -> None:
    """The library's own guard, whoever calls it: a live key writes only with --live."""
    guard_key(settings, writes=not options.dry_run, allow_live=options.live)
    if not options.dry_run:
        require_key(settings, "a sync writes to a Stripe account; --dry-run works without one")


def read_account(calls: Calls, echo: Callable[[str], None], settings: Settings) -> Account:
    echo("Reading the Stripe account (customers, products, subscriptions)…")
    try:
        account = Account.of(account_read.read_all(calls, tuple(Kind), readers(settings)))
    except RowFailed as exc:
        raise unreadable(exc, settings) from None
    others = sum(1 for objects in account.by_id.values() for remote in objects.values() if not remote.link)
    # A seeded emulator, or an account support also uses, holds customers the sync never made: say whose.
    mine = f" ({others} without the sync's cohabs_* metadata: not the sync's, such as support's)" if others else ""
    echo(f"  {account.size()} objects found{mine}.")
    return account


def with_defaults(
    plan: Plan,
    account: Account,
    rows: Rows,
    ledger: Ledger,
    calls: Calls | None,
    settings: Settings,
    *,
    as_planned: bool,
) -> tuple[Plan, Readiness]:
    """The plan with each lone usable card made its customer's default, and how tenants pay (payment_methods.py)."""
    readiness = assess(plan, account, rows, ledger, as_planned=as_planned)
    wanted = payment_methods.wanting(readiness)
    if calls is None or not wanted:
        return plan, readiness
    try:
        found = account_read.read_payment_methods(calls, wanted, readers(settings))
    except RowFailed as exc:
        raise unreadable(exc, settings) from None
    return payment_methods.settle(plan, readiness, found, as_planned=as_planned)


def dangling(conn: mysql.Connection, schema: Schema, rows: Rows) -> dict[tuple[Kind, str], str]:
    """Hints for lease references that match no row (see db.diagnose)."""
    users = {u.id for u in rows.users}
    rooms = {r.id for r in rows.rooms}
    hints = db.diagnose(
        conn, schema, Kind.USER, {x.user_id for x in rows.leases if x.user_id and x.user_id not in users}
    )
    hints |= db.diagnose(
        conn, schema, Kind.ROOM, {x.room_id for x in rows.leases if x.room_id and x.room_id not in rooms}
    )
    return hints


def verify(
    settings: Settings, world: World, customer_map: tuple[MapRow, ...] = (), previews: bool = True
) -> AuditReport:
    """Read-only: compare every row with the account, and say who fixes each finding; nothing is written.

    With `previews`, Stripe is also asked for the next invoice of every subscription that bills (one request
    each, on the shared pacer), and what it says is held against the lease.
    """
    guard_key(settings, writes=False, allow_live=False)
    require_key(settings, "--verify reads the Stripe account")
    with mysql_errors(), mysql.session(settings, None, "verify", db.RESTORE) as conn:
        schema = db.read_schema(conn)
        rows = db.load_rows(conn, schema)
        hints = dangling(conn, schema, rows)
    calls = world.calls or SyncCalls(make_gateway(settings, world))
    account = read_account(calls, world.echo, settings)
    # The plan a sync would make now is the one definition of correct: what it would not simply keep is a
    # finding, and it says who settles each one.
    now = world.now()
    plan = plan_now(settings, Options(customer_map=customer_map), now, rows, account, hints)
    # Whether tenants can pay is read from the account as it is: a switch the sync would make is not made yet.
    ledger = Ledger.of(rows, settings.hub_currencies, settings.default_currency, now)
    # The previews (one endpoint) and the payment methods read (another) go side by side: each has its own
    # budget, and the previews need only the leases' steps, which the defaults leave as they are.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="previews") as pool:
        judged = (
            pool.submit(_judged_by_stripe, settings, world, calls, plan, (account, rows), now) if previews else None
        )
        plan, readiness = with_defaults(plan, account, rows, ledger, calls, settings, as_planned=False)
        findings = audit(plan, account) + (judged.result() if judged else [])
    return AuditReport.of(findings, plan, database_rows(rows), account.size(), readiness)


def _judged_by_stripe(
    settings: Settings, world: World, calls: Calls, plan: Plan, read: tuple[Account, Rows], now: datetime
) -> list[Finding]:
    """Stripe's preview of each billing subscription's next invoice, held to its lease (previews.py)."""
    account, rows = read
    wanted = billing_subscriptions(plan, account)
    world.echo(f"Asking Stripe for the next invoice of {len(wanted)} subscription(s)…")
    try:
        asked = preview_all(wanted, calls.preview, workers(settings))
    except RowFailed as exc:
        raise unreadable(exc, settings) from None
    leases = {lease.id: lease for lease in rows.leases}
    collection = CollectionChoice.of(settings.collection_method, settings.days_until_due)
    return judged(plan, leases, asked, settings.hub_currencies, collection, now)


def invoiced(account: Account) -> dict[str, frozenset[str]]:
    """Each customer's subscriptions past their free period: the ones that can have open invoices."""
    found: dict[str, set[str]] = {}
    for remote in account.by_id[Kind.LEASE].values():
        if remote.customer and remote.status != "trialing":
            found.setdefault(remote.customer, set()).add(remote.id)
    return {customer: frozenset(ids) for customer, ids in found.items()}


def changes(plan: Plan) -> bool:
    """Whether applying the plan writes anything, to Stripe or to the database: if not, nobody need say yes."""
    return any(
        step.action in (Action.CREATE, Action.ADOPT) or step.repair or step.cancel
        for kind in plan.active
        for step in plan.steps[kind]
    )


def database_rows(rows: Rows) -> dict[Kind, int]:
    return {Kind.USER: len(rows.users), Kind.ROOM: len(rows.rooms), Kind.LEASE: len(rows.leases)}


def run(settings: Settings, options: Options, world: World) -> Report:
    with mysql_errors():
        return _run(settings, options, world)


def _run(settings: Settings, options: Options, world: World) -> Report:
    check_key(settings, options)
    started = world.clock()
    with mysql.session(settings, None if options.dry_run else db.LOCK, "sync", db.RESTORE) as conn:
        schema = db.read_schema(conn)
        db.check_writable(conn, schema, options.kinds)
        rows = db.load_rows(conn, schema)
        world.echo(
            f"Database {settings.db_name}: {len(rows.users)} users, {len(rows.rooms)} rooms, {len(rows.leases)} leases."
        )
        calls, account = _read_stripe(settings, world)
        check_id_columns(schema, options.kinds, account.by_id)
        plan, preview = _preview(settings, options, world.now(), rows, (calls, account), dangling(conn, schema, rows))
        if options.dry_run:
            return preview
        if changes(plan) and not world.confirm(preview):
            raise CannotRun("stopped before any change: not confirmed")
        assert calls is not None
        stripe_account = calls.account_id()  # the report names it: `--undo` acts on this account only
        outcomes = _carry_out(settings, options, world, schema, plan, (calls, invoiced(account)))
        counters = getattr(calls, "counters", None)
        return dataclasses.replace(
            preview,
            dry_run=False,
            outcomes=outcomes,
            requests=counters.requests if counters else 0,
            throttled=counters.throttled if counters else 0,
            seconds=world.clock() - started,
            stopped=world.stop.reason,
            stop_detail=world.stop.detail,
            stripe_account=stripe_account,
        )


def _read_stripe(settings: Settings, world: World) -> tuple[Calls | None, Account]:
    """The account as it is; without a key (a dry run may have none), an empty account nothing was read from."""
    calls = world.calls
    if calls is None and settings.stripe_key:
        calls = SyncCalls(make_gateway(settings, world))
    if calls is None:
        world.echo("No STRIPE_SECRET_KEY: planning against an empty account; stored ids are not checked.")
        return None, Account(read=False)
    return calls, read_account(calls, world.echo, settings)


def plan_now(
    settings: Settings,
    options: Options,
    now: datetime,
    rows: Rows,
    account: Account,
    hints: dict[tuple[Kind, str], str],
) -> Plan:
    """The plan a run makes (or --verify compares with): the settings' hubs, currency and collection choice."""
    return make_plan(
        rows,
        account,
        hubs=settings.hub_currencies,
        default_currency=settings.default_currency,
        now=now,
        kinds=options.kinds,
        hints=hints,
        limit=options.limit,
        collection=CollectionChoice.of(settings.collection_method, settings.days_until_due),
        customer_map=options.customer_map,
    )


def _preview(
    settings: Settings,
    options: Options,
    now: datetime,
    rows: Rows,
    stripe: tuple[Calls | None, Account],
    hints: dict[tuple[Kind, str], str],
) -> tuple[Plan, Report]:
    """The plan, and the report a dry run prints: what a real run shows before it asks."""
    calls, account = stripe
    collection = CollectionChoice.of(settings.collection_method, settings.days_until_due)
    plan = plan_now(settings, options, now, rows, account, hints)
    ledger = Ledger.of(rows, settings.hub_currencies, settings.default_currency, now)
    plan, readiness = with_defaults(plan, account, rows, ledger, calls, settings, as_planned=True)
    preview = Report(
        True,
        outcomes_from_plan(plan, account.read),
        ledger,
        plan.notes,
        remaining=remaining_from_plan(plan, account.read),
        database_rows=database_rows(rows),
        account_read=account.read,
        kinds=tuple(k for k in Kind if k in options.kinds),
        collection=collection,
        switches={s.row_id: s.switch for s in plan.steps[Kind.LEASE] if s.switch and Kind.LEASE in plan.active},
        readiness=readiness,
        customers=payment_methods.customer_changes(plan),
        writes=changes(plan),
    )
    return plan, preview


def _carry_out(
    settings: Settings,
    options: Options,
    world: World,
    schema: Schema,
    plan: Plan,
    stripe: tuple[Calls, Mapping[str, frozenset[str]]],
) -> list[Outcome]:
    """The plan's steps side by side, each id written through its own pool of connections.

    `stripe` is the calls, and each customer's subscriptions past their trial (the ones a cancel may stop
    collecting, see Executor.invoiced).
    """
    calls, invoiced_by = stripe
    writer = db.IdWriter(lambda: mysql.connect_again(settings), schema)
    totals = {k: len(plan.steps[k]) for k in Kind if k in options.kinds}
    tick = world.progress(totals) if world.progress else (lambda kind: None)
    try:
        executor = Executor(
            calls,
            writer,
            workers=options.workers or workers(settings),
            tick=tick,
            stop=world.stop,
            invoiced=invoiced_by,
        )
        return executor.run(plan)
    finally:
        writer.close()
