"""Fixtures: a real MySQL-compatible server, a fresh database per test, the strict fake Stripe (helpers: helpers.py)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe

from cohabs.shared.settings import Settings
from devkit import support_dump
from devkit.dumpgen import Dump, generate
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server, find_or_start
from devkit.support_account import Seeded, read_rows, seed
from tests.helpers import NOW, TEST_KEY, restore


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


@pytest.fixture
def restored(settings: Settings, tmp_path: Path) -> Dump:
    dump = generate(30, 12, 36, now=NOW)
    restore(settings, dump.write(tmp_path / "synthetic.dump"))
    return dump


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
    return _seed_from(settings, mysql_server, fake)


@pytest.fixture
def many_data(settings: Settings, tmp_path: Path) -> support_dump.SupportDump:
    """The support dump with 40 more settled payments and 40 more disputed ones, restored."""
    dump = support_dump.generate(extra_settled=40, extra_disputed=40)
    restore(settings, dump.write(tmp_path / "many.dump"))
    return dump


@pytest.fixture
def many_seeded(
    settings: Settings, mysql_server: Server, fake: FakeStripe, many_data: support_dump.SupportDump
) -> Seeded:
    return _seed_from(settings, mysql_server, fake)


def _seed_from(settings: Settings, mysql_server: Server, fake: FakeStripe) -> Seeded:
    conn = mysql_server.connect(settings.db_name)
    try:
        return seed(fake, read_rows(conn))
    finally:
        conn.close()


@pytest.fixture
def today(settings: Settings, fake: FakeStripe, tmp_path: Path) -> Dump:
    """Ongoing, future and ended leases dated from now, restored as users do; the fake on the same clock."""
    fake.now = time.time
    dump = generate(30, 12, 36, now=datetime.now(UTC).replace(tzinfo=None, microsecond=0))
    restore(settings, dump.write(tmp_path / "today.dump"))
    return dump
