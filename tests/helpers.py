"""What the tests share besides fixtures: the tests' clock and key, running each command, reading what it left.

Fixtures live in conftest.py; every test module imports plain helpers from
here, never from another test module.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
from pymysql.constants.ER import NO_SUCH_THREAD as ER_NO_SUCH_THREAD
from pymysql.cursors import Cursor

from cohabs.shared.settings import Settings
from cohabs.support import disputes
from cohabs.support import run as support_run
from cohabs.support.items import Incident
from cohabs.sync.execute import Outcome
from cohabs.sync.rows import Kind, Lease, Room, User
from cohabs.sync.run import Options, World, run
from cohabs.sync.run_report import Report
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe, Recorded
from devkit.mysql import Server
from devkit.support_account import Seeded, eligible
from devkit.support_dump import SupportDump
from devkit.support_dump import row_id as support_row
from tools import demo, support_demo

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 12, 0, 0)  # the tests' clock, shared by the sync and the fake
TEST_KEY = "sk_test_51RelinkTestKeyDoNotLeak0000abcd"
BIN = Path(sys.executable).parent  # the virtualenv's bin, where `make install` puts the console scripts


# The real dumps: where the variable says, else where `make demo` finds them (the project folder, then
# ../shared/dumps/). They are never copied into the project.


def real_dump(variable: str, candidates: tuple[Path, ...]) -> Path:
    """The dump `variable` names, else the first of `candidates` that exists, else the last place looked."""
    given = os.environ.get(variable)
    if given:
        return Path(given)
    return next((path for path in candidates if path.is_file()), candidates[-1])


def needs_real_dump(dump: Path, variable: str) -> pytest.MarkDecorator:
    """Run the test when the dump is there; else show it skipped, saying where it was looked for."""
    return pytest.mark.skipif(not dump.is_file(), reason=f"no real dump at {dump} (set {variable} to its path)")


SYNC_DUMP = real_dump("COHABS_DUMP", demo.DUMPS)
SUPPORT_DUMP = real_dump("COHABS_SUPPORT_DUMP", support_demo.DUMPS)


# The database.


def db_env(settings: Settings) -> dict[str, str]:
    """The test's database as either job's setting: each test's database holds one job's tables."""
    return {
        **os.environ,
        "DB_HOST": settings.db_host,
        "DB_PORT": str(settings.db_port),
        "DB_USER": settings.db_user,
        "DB_PASSWORD": settings.db_password,
        "DB_NAME": settings.db_name,
        "SUPPORT_DB_NAME": settings.db_name,
    }


def restore(settings: Settings, dump: Path) -> None:
    """Load a dump the way users do: through restore_dump.sh."""
    subprocess.run([str(ROOT / "restore_dump.sh"), str(dump)], env=db_env(settings), check=True, capture_output=True)


def query(settings: Settings, mysql_server: Server, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = mysql_server.connect(settings.db_name)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


# The commands, in this process or as the support engineer runs them.


def sync(settings: Settings, **options: Any) -> Report:
    """One in-process sync on the tests' clock, no prompts, no output."""
    world = World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    return run(settings, Options(**options), world)


def support(settings: Settings, incident: Incident, **options: Any) -> support_run.SupportRun:
    """One in-process support run on the tests' clock, no prompts, no output."""
    world = support_run.World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    return support_run.run(incident, settings, support_run.Options(**options), world)


def own_env_file(cwd: Path) -> Path:
    """An empty .env in the folder a command runs in, so that it reads that one and not the checkout's.

    A command reads the working directory's .env, else the project's: a developer's own .env must not
    reach the tests.
    """
    path = cwd / ".env"
    if not path.exists():
        path.write_text("# the test's settings come from the environment\n", encoding="utf-8")
    return path


def cli(
    settings: Settings, cwd: Path, *args: str, script: str = "sync.py", **env: str
) -> subprocess.CompletedProcess[str]:
    """`python sync.py args` (or `script`) in `cwd`, stdin closed, the settings given as environment."""
    own_env_file(cwd)
    environment = {
        **db_env(settings),
        "STRIPE_SECRET_KEY": settings.stripe_key or "",
        "STRIPE_API_BASE": settings.stripe_api_base or "",
        "STRIPE_RATE_LIMIT": "500",
        "STRIPE_ENDPOINT_RATE_LIMIT": "500",
        **env,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def support_cli(settings: Settings, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli(settings, cwd, *args, script="support.py", **env)


def on_a_terminal(answer: str, command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `command` with a pseudo-terminal on stdin (so it asks) and `answer` typed (nothing: end of input)."""
    own_env_file(cwd)
    leader, follower = pty.openpty()
    try:
        with open(leader, "wb", buffering=0, closefd=False) as keyboard:
            keyboard.write(answer.encode() or b"\x04")
        return subprocess.run(command, cwd=cwd, env=env, stdin=follower, capture_output=True, text=True, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)


# Killing a run.


def start_sync(settings: Settings, cwd: Path) -> subprocess.Popen[str]:
    env = {
        **db_env(settings),
        "STRIPE_SECRET_KEY": settings.stripe_key or "",
        "STRIPE_API_BASE": settings.stripe_api_base or "",
        "STRIPE_RATE_LIMIT": "500",
        "STRIPE_ENDPOINT_RATE_LIMIT": "500",
    }
    own_env_file(cwd)
    command = [sys.executable, str(ROOT / "sync.py"), "--yes", "--quiet"]
    return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, text=True)


def start_support(settings: Settings, cwd: Path, incident: Incident, **env: str) -> subprocess.Popen[str]:
    environment = {
        **db_env(settings),
        "STRIPE_SECRET_KEY": settings.stripe_key or "",
        "STRIPE_API_BASE": settings.stripe_api_base or "",
        "STRIPE_RATE_LIMIT": "500",
        **env,
    }
    command = [sys.executable, str(ROOT / "support.py"), incident.value, "--yes"]
    return subprocess.Popen(
        command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, text=True
    )


def kill_when(
    fake: FakeStripe, process: subprocess.Popen[str], moment: Callable[[str, Recorded], bool]
) -> Callable[[str, Recorded], str | None]:
    """A fake hook that SIGKILLs `process` at `moment` and drops the request it was on."""

    def hook(stage: str, request: Recorded) -> str | None:
        if process.poll() is None and moment(stage, request):
            os.kill(process.pid, signal.SIGKILL)
            return "drop"
        return None

    return hook


def lock_released(settings: Settings, server: Server, owner: str) -> None:
    """Wait until MySQL has seen a killed run's connection go, and with it the run's lock (bounded, no sleeping)."""
    name = f"{owner}:{settings.db_name}"[:64]
    deadline = time.monotonic() + 30
    while not query(settings, server, "SELECT IS_FREE_LOCK(%s)", name)[0][0]:
        assert time.monotonic() < deadline, f"the lock {name} is still held"


def kill_connections(cur: Cursor, database: str) -> None:
    """Drop every other connection to `database`, as a server restart or a network cut would."""
    cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()", [database])
    for (thread,) in cur.fetchall():
        try:
            cur.execute(f"KILL {int(thread)}")
        except pymysql.err.OperationalError as gone:  # it closed on its own meanwhile
            if gone.args[0] != ER_NO_SUCH_THREAD:
                raise


HELD = "relink-test-write"  # the lock a held write waits on


@contextlib.contextmanager
def writes_held(server: Server, database: str, table: str, event: str) -> Iterator[pymysql.connections.Connection]:
    """Every `event` (UPDATE, INSERT) on `table` waits on a lock the test holds, so a kill lands inside the write."""
    holder = server.connect(database)
    with holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", [HELD])
        cur.execute(f"CREATE TRIGGER {table}_wait BEFORE {event} ON {table} FOR EACH ROW DO GET_LOCK('{HELD}', 120)")
    try:
        yield holder
    finally:
        with holder.cursor() as cur:
            cur.execute("DO RELEASE_LOCK(%s)", [HELD])
            cur.execute(f"DROP TRIGGER IF EXISTS {table}_wait")
        holder.close()


def kill_inside_the_write(
    holder: pymysql.connections.Connection, database: str, table: str, process: subprocess.Popen[str]
) -> None:
    with holder.cursor() as cur:
        # The run's write is now inside the trigger, waiting: find it (bounded, no sleeping).
        deadline = time.monotonic() + 60
        waiting: list[int] = []
        while not waiting and process.poll() is None and time.monotonic() < deadline:
            cur.execute(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND STATE = 'User lock' AND INFO LIKE %s",
                [database, f"%{HELD}%"],
            )
            waiting = [row[0] for row in cur.fetchall()]
        assert waiting, "the run never reached the held write"
        os.kill(process.pid, signal.SIGKILL)
        # The server drops the dead process's connections, half-done writes included. Every one of
        # them goes, not only the first seen waiting: a later writer blocked in the trigger would
        # otherwise deadlock the DROP TRIGGER below.
        kill_connections(cur, database)
        cur.execute("DO RELEASE_LOCK(%s)", [HELD])
        cur.execute(f"DROP TRIGGER {table}_wait")
    assert process.wait(timeout=60) == -signal.SIGKILL


# What a sync left: its report's lines, the rows, the account.


def line(report: Report, kind: Kind, row_id: str) -> Outcome:
    """The one outcome of a row in a sync's report."""
    (outcome,) = [o for o in report.outcomes if o.kind is kind and o.row_id == row_id]
    return outcome


def ongoing(dump: Dump) -> list[dict[str, Any]]:
    """Leases that bill (active or signed, not over), the orphan left out."""
    return [x for x in dump.leases[1:] if x["status"] in ("active", "signed") and x["endDate"] > NOW]


def csv_rows(path: Path) -> list[dict[str, str]]:
    """A report's CSV, its `#` preamble left out."""
    with path.open(encoding="utf-8") as lines:
        return list(csv.DictReader(line for line in lines if not line.startswith("#")))


def assert_one_object_per_row(settings: Settings, server: Server, fake: FakeStripe, restored: Dump) -> None:
    """No row has two objects, every stored id names an object that names the row back, only the orphan unlinked."""
    for table, column, kind, key in (
        ("users", "stripeCustomerId", "customers", "cohabs_user_id"),
        ("rooms", "stripeProductId", "products", "cohabs_room_id"),
        ("leases", "stripeSubscriptionId", "subscriptions", "cohabs_lease_id"),
    ):
        objects = fake.all(kind)
        owners = [o["metadata"][key] for o in objects]
        assert len(owners) == len(set(owners)), f"duplicate {kind}"
        by_id = {o["id"]: o for o in objects}
        for row_id, stripe_id in query(settings, server, f"SELECT id, {column} FROM {table}"):
            if stripe_id is not None:
                assert by_id[stripe_id]["metadata"][key] == row_id
    unlinked = query(settings, server, "SELECT id FROM leases WHERE stripeSubscriptionId IS NULL")
    assert unlinked == [(restored.leases[0]["id"],)]


def finish_and_check(settings: Settings, server: Server, fake: FakeStripe, restored: Dump, cwd: Path) -> None:
    """After a killed sync: the next run finishes with every valid row linked once and nothing failed."""
    fake.hook = None
    done = cli(settings, cwd, "--yes")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "[failed]" not in done.stdout, done.stdout
    assert_one_object_per_row(settings, server, fake, restored)
    for table, column in (("users", "stripeCustomerId"), ("rooms", "stripeProductId")):
        assert query(settings, server, f"SELECT id FROM {table} WHERE {column} IS NULL") == []


# What a support run left.

ELIGIBLE = [support_row(f"paid-{n}") for n in (2, 3, 4)]  # paid-1 was transferred before (the seed's pick)


def payments(settings: Settings, server: Server) -> dict[str, dict[str, Any]]:
    """The payments table, by row id, each row by column name."""
    found = query(settings, server, "SELECT * FROM payments")
    columns = [
        c
        for (c,) in query(
            settings,
            server,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'payments' ORDER BY ORDINAL_POSITION",
        )
    ]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in found}


def ours(fake: FakeStripe, kind: str) -> list[dict[str, Any]]:
    """What support made: requests naming a dispute, transfers naming a payment (not the seed's)."""
    key = "cohabs_dispute_id" if kind == "payment_intents" else "cohabs_payment_id"
    return [o for o in fake.all(kind) if key in (o.get("metadata") or {})]


def assert_each_once(settings: Settings, server: Server, fake: FakeStripe, seeded: Seeded) -> None:
    """One request and one new row per dispute, one transfer per eligible payment: the end state of every run."""
    (dispute_id,) = seeded.disputes.values()
    (request,) = ours(fake, "payment_intents")
    rows = payments(settings, server)
    new_id = disputes.new_payment_id(dispute_id, 32)
    assert len(rows) == 13 and rows[new_id]["stripeChargeId"] == request["id"]
    assert request["metadata"]["cohabs_payment_id"] == new_id
    by_payment = {t["metadata"]["cohabs_payment_id"]: t for t in ours(fake, "transfers")}
    assert len(ours(fake, "transfers")) == len(by_payment) == len(ELIGIBLE)
    assert sorted(by_payment) == sorted(ELIGIBLE)
    for payment, charge in seeded.charges.items():
        assert len(seeded.payments.transfers_of(charge)) <= 1, payment
    assert seeded.payments.dispute_writes() == []


def owed(dump: SupportDump, seeded: Seeded) -> list[str]:
    """The payments a run must transfer: those the company's process passes on, not transferred already."""
    leases = {lease["id"]: lease for lease in dump.leases}
    connected = set(seeded.accounts)
    return sorted(
        p["id"]
        for p in dump.payments
        if p["id"] not in seeded.transfers
        and eligible(p, leases.get(p["leaseId"]), leases.get(p["leaseId"], {}).get("houseId") in connected)
    )


def assert_requested_once(
    settings: Settings, server: Server, fake: FakeStripe, seeded: Seeded, dump: SupportDump
) -> None:
    """One request and one new row per dispute, and nothing else written to the database."""
    rows = payments(settings, server)
    requests = {r["metadata"]["cohabs_dispute_id"]: r for r in ours(fake, "payment_intents")}
    assert len(requests) == len(ours(fake, "payment_intents")) == len(seeded.disputes)
    for dispute_id in seeded.disputes.values():
        new_id = disputes.new_payment_id(dispute_id, 32)
        assert rows[new_id]["stripeChargeId"] == requests[dispute_id]["id"], dispute_id
    assert len(rows) == len(dump.payments) + len(seeded.disputes)
    assert seeded.payments.dispute_writes() == []


def assert_transferred_once(fake: FakeStripe, seeded: Seeded, dump: SupportDump) -> None:
    """One transfer per payment owed, none for any other, never two of one charge."""
    transferred = [t["metadata"]["cohabs_payment_id"] for t in ours(fake, "transfers")]
    assert sorted(transferred) == owed(dump, seeded)
    for charge in seeded.charges.values():
        assert len(seeded.payments.transfers_of(charge)) <= 1, charge


def moved(settings: Settings, server: Server, years: int) -> None:
    """Every payment dated `years` later in the database than in Stripe, and its lease with it."""
    query(settings, server, "UPDATE leases SET endDate = endDate + INTERVAL %s YEAR", years)
    query(
        settings,
        server,
        "UPDATE payments SET dueDate = dueDate + INTERVAL %s YEAR, paymentDate = paymentDate + INTERVAL %s YEAR",
        years,
        years,
    )


class Clock:
    """A clock a test moves: the sync reads `now`, the fake its timestamp (for months where rent days clamp)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def timestamp(self) -> float:
        return self.now.replace(tzinfo=UTC).timestamp()


@contextlib.contextmanager
def fake_on(clock: Clock) -> Iterator[FakeStripe]:
    """A fake Stripe on the test's own clock, for tests that move time (the `fake` fixture's is fixed)."""
    stripe_fake = FakeStripe(now=clock.timestamp)
    stripe_fake.start()
    try:
        yield stripe_fake
    finally:
        stripe_fake.stop()


def sync_at(settings: Settings, clock: Clock) -> Report:
    """One in-process sync with the test's own clock."""
    return run(settings, Options(), World(echo=lambda text: None, now=lambda: clock.now, sleep=lambda seconds: None))


# Rows for pure planning tests, as the database would load them.
HUBS = {"hub-bru": "eur", "hub-nyc": "usd"}
START, END = datetime(2026, 5, 1, 16), datetime(2027, 5, 1, 8)  # an ongoing lease on the tests' clock


def user(user_id: str = "u1", email: str | None = None, stripe_id: str | None = None) -> User:
    return User(user_id, email or f"{user_id}@example.com", "Ada", "Tenant", None, None, stripe_id)


def room(room_id: str = "r1", rent: str | None = "700.00", stripe_id: str | None = None) -> Room:
    return Room(room_id, 1, None, None, None, Decimal(rent) if rent else None, stripe_id)


def lease(
    lease_id: str = "l1",
    user_id: str = "u1",
    room_id: str = "r1",
    *,
    status: str = "active",
    hub: str = "hub-bru",
    amount: str = "685.00",
    start: datetime = START,
    end: datetime = END,
    stripe_id: str | None = None,
) -> Lease:
    return Lease(lease_id, f"bru-{lease_id}", user_id, room_id, hub, status, Decimal(amount), start, end, stripe_id)


def reported(settings: Settings, folder: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    """`python sync.py args --report FILE`: its exit code, its console, its JSON report."""
    path = folder / f"report-{len(list(folder.glob('report-*.json')))}.json"
    done = cli(settings, folder, *args, "--report", str(path))
    data: dict[str, Any] = json.loads(path.read_text())
    return done.returncode, done.stdout, data
