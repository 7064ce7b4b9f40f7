"""One run, start to end: configuration, database, account, plan, execution, report."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import pymysql

from . import db
from .account import Account
from .config import Settings, mask_key
from .errors import CannotRun, lost_mysql
from .execute import Executor
from .gateway import Gateway, RowFailed, StripeGateway, make_client
from .plan import Action, Plan, make_plan
from .ratelimit import TokenBucket
from .report import Report, outcomes_from_plan
from .rows import Kind, Rows
from .schema import Schema
from .verify import Finding, audit


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    kinds: frozenset[Kind] = frozenset(Kind)
    live: bool = False
    workers: int | None = None
    limit: int | None = None


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class World:
    """Everything a run touches outside itself, so tests can hand in their own."""

    echo: Callable[[str], None] = print
    confirm: Callable[[Plan], bool] = lambda plan: True
    now: Callable[[], datetime] = utc_now
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[dict[Kind, int]], Callable[[Kind], None]] | None = None
    gateway: Gateway | None = field(default=None)


class KeyUse(Protocol):
    """What the key checks need to know about a run, whichever job it is."""

    @property
    def dry_run(self) -> bool: ...
    @property
    def live(self) -> bool: ...


class Timing(Protocol):
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def sleep(self) -> Callable[[float], None]: ...


def check_key(settings: Settings, options: KeyUse) -> None:
    if settings.live and not options.live:
        raise CannotRun(
            f"STRIPE_SECRET_KEY is a live key ({mask_key(settings.stripe_key)}): "
            "rerun with --live to write to the live account"
        )
    if not settings.stripe_key and not options.dry_run:
        raise CannotRun("STRIPE_SECRET_KEY is not set (in the environment or .env); --dry-run works without it")


def make_gateway(settings: Settings, world: Timing) -> StripeGateway:
    limiter = TokenBucket(settings.effective_rate, clock=world.clock, sleep=world.sleep)
    return StripeGateway(make_client(settings), limiter, sleep=world.sleep, key_hint=mask_key(settings.stripe_key))


def read_account(gateway: Gateway, echo: Callable[[str], None]) -> Account:
    echo("Reading the Stripe account (customers, products, subscriptions)…")
    # Pages of one list follow each other (cursor paging); the three lists need not.
    try:
        with ThreadPoolExecutor(max_workers=len(Kind)) as pool:
            listings = list(pool.map(lambda kind: list(gateway.list_all(kind)), Kind))
    except RowFailed as exc:
        raise CannotRun(f"could not read the Stripe account, so nothing was changed: {exc}; run again") from None
    account = Account.of(remote for listing in listings for remote in listing)
    echo(f"  {account.size()} objects found.")
    return account


def dangling(conn: db.Connection, schema: Schema, rows: Rows) -> dict[tuple[Kind, str], str]:
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


def verify(settings: Settings, options: Options, world: World) -> list[Finding]:
    """Read-only: compare every row with the account; nothing is written anywhere."""
    check_key(settings, dataclasses.replace(options, dry_run=True))
    if not settings.stripe_key:
        raise CannotRun("--verify reads the Stripe account: set STRIPE_SECRET_KEY (in the environment or .env)")
    with mysql_errors():
        conn = db.connect(settings)
        try:
            rows = db.load_rows(conn, db.read_schema(conn))
        finally:
            conn.close()
    gateway = world.gateway or make_gateway(settings, world)
    account = read_account(gateway, world.echo)
    return audit(rows, account, settings.hub_currencies, world.now())


@contextlib.contextmanager
def mysql_errors() -> Iterator[None]:
    """A database error after connecting ends the run cleanly (exit 1), never with a traceback."""
    try:
        yield
    except pymysql.err.Error as exc:
        raise lost_mysql(exc) from None


def run(settings: Settings, options: Options, world: World) -> Report:
    with mysql_errors():
        return _run(settings, options, world)


def _run(settings: Settings, options: Options, world: World) -> Report:
    check_key(settings, options)
    started = world.clock()
    conn = db.connect(settings)
    try:
        if not options.dry_run:
            db.acquire_lock(conn, settings.db_name)
        schema = db.read_schema(conn)
        rows = db.load_rows(conn, schema)
        world.echo(
            f"Database {settings.db_name}: {len(rows.users)} users, {len(rows.rooms)} rooms, {len(rows.leases)} leases."
        )
        gateway = world.gateway
        if gateway is None and settings.stripe_key:
            gateway = make_gateway(settings, world)
        if gateway is not None:
            account = read_account(gateway, world.echo)
        else:
            world.echo("No STRIPE_SECRET_KEY: planning against an empty account.")
            account = Account()
        plan = make_plan(
            rows,
            account,
            hubs=settings.hub_currencies,
            default_currency=settings.default_currency,
            now=world.now(),
            kinds=options.kinds,
            hints=dangling(conn, schema, rows),
            limit=options.limit,
        )
        billing = {s.row_id: s.billing for s in plan.steps[Kind.LEASE] if s.action is Action.CREATE and s.billing}
        kinds = tuple(k for k in Kind if k in options.kinds)
        if options.dry_run:
            return Report(True, outcomes_from_plan(plan), billing, plan.notes, kinds=kinds)
        if not world.confirm(plan):
            raise CannotRun("stopped before any change: not confirmed")
        assert gateway is not None
        writer = db.IdWriter(lambda: db.connect(settings), schema)
        workers = options.workers or max(4, min(32, int(settings.effective_rate)))
        totals = {k: len(plan.steps[k]) for k in kinds}
        tick = world.progress(totals) if world.progress else (lambda kind: None)
        try:
            outcomes = Executor(gateway, writer, workers=workers, tick=tick).run(plan)
        finally:
            writer.close()
        counters = getattr(gateway, "counters", None)
        return Report(
            False,
            outcomes,
            billing,
            plan.notes,
            requests=counters.requests if counters else 0,
            throttled=counters.throttled if counters else 0,
            seconds=world.clock() - started,
            kinds=kinds,
        )
    finally:
        conn.close()
