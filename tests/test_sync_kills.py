"""SIGKILL at each step of a row's life, then rerun: exactly one object per row, its id stored."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path

import pytest

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump, generate
from devkit.fake_stripe import FakeStripe, Recorded
from devkit.mysql import Private, Server
from tests.helpers import (
    TEST_KEY,
    cli,
    finish_and_check,
    kill_connections,
    kill_inside_the_write,
    kill_when,
    restore,
    start_sync,
    writes_held,
)


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
    done = cli(settings, tmp_path, "--yes")
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
        done = cli(settings, tmp_path, "--yes")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "MySQL" in done.stderr and "Traceback" not in done.stderr

        fake.hook = None
        private.launch()
        finish_and_check(settings, server, fake, dump, tmp_path)
    finally:
        fake.stop()
        private.stop()
