"""Fixtures: a real MySQL-compatible server, a fresh database per test, the strict fake Stripe."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe

from cohabs.shared.settings import Settings
from cohabs.support import run as support_app
from cohabs.support.plan import Job
from cohabs.sync.run import Options, World, run
from cohabs.sync.run_report import Report
from devkit import support_dump
from devkit.dumpgen import Dump, generate
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server, find_or_start
from devkit.support_account import Seeded, read_rows, seed

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 12, 0, 0)  # the tests' clock, shared by the sync and the fake
TEST_KEY = "sk_test_51RelinkTestKeyDoNotLeak0000abcd"


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[Server]:
    try:
        server, private = find_or_start()
    except SystemExit as missing:
        pytest.exit(str(missing), returncode=1)
    try:
        yield server
    finally:
        if private:
            private.stop()


@pytest.fixture
def quick_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own backoff starts at 0.5 s; the scenarios are the same at 10 ms (in this process only)."""
    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "MAX_DELAY", 0.02)


@pytest.fixture
def db_name(mysql_server: Server) -> Iterator[str]:
    name = f"relink_t_{secrets.token_hex(5)}"
    conn = mysql_server.connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    stripe = FakeStripe(now=lambda: NOW.replace(tzinfo=UTC).timestamp())
    stripe.start()
    try:
        yield stripe
    finally:
        stripe.stop()


@pytest.fixture
def settings(mysql_server: Server, db_name: str, fake: FakeStripe) -> Settings:
    return Settings(
        db_host=mysql_server.host,
        db_port=mysql_server.port,
        db_user=mysql_server.user,
        db_password=mysql_server.password,
        db_name=db_name,
        stripe_key=TEST_KEY,
        stripe_api_base=fake.url,
        rate_limit=1000.0,
        endpoint_rate_limit=1000.0,
    )


def db_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DB_HOST": settings.db_host,
        "DB_PORT": str(settings.db_port),
        "DB_USER": settings.db_user,
        "DB_PASSWORD": settings.db_password,
        "DB_NAME": settings.db_name,
    }


def restore(settings: Settings, dump: Path) -> None:
    """Load a dump the way users do: through restore_dump.sh."""
    subprocess.run([str(ROOT / "restore_dump.sh"), str(dump)], env=db_env(settings), check=True, capture_output=True)


@pytest.fixture
def restored(settings: Settings, tmp_path: Path) -> Dump:
    dump = generate(30, 12, 36, now=NOW)
    restore(settings, dump.write(tmp_path / "synthetic.dump"))
    return dump


def sync(settings: Settings, **options: Any) -> Report:
    """One in-process run on the tests' clock, no prompts, no output."""
    world = World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    return run(settings, Options(**options), world)


def query(settings: Settings, mysql_server: Server, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = mysql_server.connect(settings.db_name)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def support_data(settings: Settings, tmp_path: Path) -> support_dump.SupportDump:
    """The synthetic support dump, restored the way users do."""
    dump = support_dump.generate()
    restore(settings, dump.write(tmp_path / "support.dump"))
    return dump


@pytest.fixture
def seeded(
    settings: Settings, mysql_server: Server, fake: FakeStripe, support_data: support_dump.SupportDump
) -> Seeded:
    """The fake Stripe shaped like the restored support data (see devkit/support_account.py)."""
    conn = mysql_server.connect(settings.db_name)
    try:
        return seed(fake, read_rows(conn))
    finally:
        conn.close()


def support(settings: Settings, job: Job, **options: Any) -> support_app.SupportRun:
    """One in-process support run on the tests' clock, no prompts, no output."""
    world = support_app.World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    return support_app.run(job, settings, support_app.Options(**options), world)
