"""SIGKILL at each step of a row's life, then rerun: exactly one object per row, its id stored."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pymysql
import pytest
from pymysql.constants.ER import NO_SUCH_THREAD as ER_NO_SUCH_THREAD
from pymysql.cursors import Cursor

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump, generate
from devkit.fake_stripe import FakeStripe, Recorded
from devkit.mysql import Private, Server
from tests.conftest import ROOT, TEST_KEY, db_env, query, restore
from tests.test_cli import cli
from tests.test_recovery import assert_one_object_per_row


def start_sync(settings: Settings, cwd: Path) -> subprocess.Popen[str]:
    env = {
        **db_env(settings),
        "STRIPE_SECRET_KEY": settings.stripe_key or "",
        "STRIPE_API_BASE": settings.stripe_api_base or "",
        "STRIPE_RATE_LIMIT": "500",
        "STRIPE_ENDPOINT_RATE_LIMIT": "500",
    }
    command = [sys.executable, str(ROOT / "sync.py"), "--yes", "--quiet"]
    return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, text=True)


def kill_when(
    fake: FakeStripe, process: subprocess.Popen[str], moment: Callable[[str, Recorded], bool]
) -> Callable[[str, Recorded], str | None]:
    def hook(stage: str, request: Recorded) -> str | None:
        if process.poll() is None and moment(stage, request):
            os.kill(process.pid, signal.SIGKILL)
            return "drop"
        return None

    return hook


def finish_and_check(settings: Settings, server: Server, fake: FakeStripe, restored: Dump, cwd: Path) -> None:
    fake.hook = None
    done = cli(settings, cwd)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "[failed]" not in done.stdout, done.stdout
    assert_one_object_per_row(settings, server, fake, restored)
    for table, column in (("users", "stripeCustomerId"), ("rooms", "stripeProductId")):
        assert query(settings, server, f"SELECT id FROM {table} WHERE {column} IS NULL") == []


@pytest.mark.parametrize(
    ("stage", "path"),
    [
        ("received", "/v1/customers"),  # before the call: Stripe never saw it
        ("received", "/v1/subscriptions"),
        ("processed", "/v1/customers"),  # Stripe created it, the row was never written
        ("processed", "/v1/products"),
        ("processed", "/v1/subscriptions"),
    ],
)
def test_a_kill_around_a_stripe_call_is_finished_by_the_next_run(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path, stage: str, path: str
) -> None:
    process = start_sync(settings, tmp_path)
    fake.hook = kill_when(fake, process, lambda s, r: s == stage and r.method == "POST" and r.path == path)
    assert process.wait(timeout=120) == -signal.SIGKILL
    finish_and_check(settings, mysql_server, fake, restored, tmp_path)


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


def test_a_kill_during_the_row_write_is_finished_by_the_next_run(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    with writes_held(mysql_server, settings.db_name, "users", "UPDATE") as holder:
        kill_inside_the_write(holder, settings.db_name, "users", start_sync(settings, tmp_path))
    assert fake.all("customers")  # Stripe had created objects whose rows were never written
    finish_and_check(settings, mysql_server, fake, restored, tmp_path)


@pytest.mark.parametrize("method", ["GET", "POST"])  # while reading the account; while writing ids
def test_a_lost_database_connection_stops_the_run_with_exit_1_and_the_next_run_converges(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path, method: str
) -> None:
    admin = mysql_server.connect()
    seen = []

    def drop_connections(stage: str, request: Recorded) -> None:
        # Once leases start, every user and room write has been made: the pool is connected.
        if stage == "received" and request.path == "/v1/subscriptions" and request.method == method:
            seen.append(request)
            if len(seen) == 1:
                with admin.cursor() as cur:
                    kill_connections(cur, settings.db_name)

    fake.hook = lambda stage, request: drop_connections(stage, request)
    done = cli(settings, tmp_path)
    admin.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "lost the MySQL connection" in done.stderr
    assert "Traceback" not in done.stderr
    finish_and_check(settings, mysql_server, fake, restored, tmp_path)


def test_a_database_restart_mid_run_exits_1_and_the_next_run_converges(tmp_path: Path) -> None:
    """A private MariaDB of the test's own, shut down while the sync writes ids, then started again."""
    private = Private()
    server = private.start()
    if server is None:
        pytest.fail("this test starts its own MariaDB: install mariadb-server")
    fake = FakeStripe()
    fake.start()
    try:
        settings = Settings(
            db_host=server.host,
            db_port=server.port,
            db_user=server.user,
            db_name="relink_restart",
            stripe_key=TEST_KEY,
            stripe_api_base=fake.url,
        )
        dump = generate(30, 12, 36, now=datetime.now().replace(microsecond=0))
        restore(settings, dump.write(tmp_path / "restart.dump"))

        def shut_down(stage: str, request: Recorded) -> None:
            # Once leases start, user and room ids have been written: the sync holds live connections.
            ours = stage == "received" and request.method == "POST" and request.path == "/v1/subscriptions"
            if ours and private.process is not None:
                private.halt()

        fake.hook = lambda stage, request: shut_down(stage, request)
        done = cli(settings, tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "MySQL" in done.stderr and "Traceback" not in done.stderr

        fake.hook = None
        private.launch()
        finish_and_check(settings, server, fake, dump, tmp_path)
    finally:
        fake.stop()
        private.stop()
