"""sync.py's messages name the real cause, and the command line catches a newcomer's mistakes."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cohabs import __version__
from cohabs.shared.settings import Settings
from cohabs.sync import cli as sync_cli
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import BIN, ROOT, TEST_KEY, cli, db_env, sync

LIVE_KEY = "sk_live_51SentinelLiveKeyMustNotLeak9876wxyz"


@pytest.fixture
def login(mysql_server: Server) -> Iterator[str]:
    """A throwaway MySQL account name; whatever the test creates under it is dropped after."""
    name = f"relink_u_{secrets.token_hex(4)}"
    yield name
    conn = mysql_server.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
    conn.close()


@pytest.mark.parametrize(
    ("account", "password"),
    [
        (None, ""),  # no such user (MariaDB answers 1698 or 1045)
        ("IDENTIFIED BY 'right-one'", "wrong-one"),  # 1045
        ("IDENTIFIED BY 'right-one'", "right-one"),  # no grant on the database: 1044
        ("IDENTIFIED VIA mysql_old_password", ""),  # an auth plugin the server refuses: 1275
    ],
)
def test_a_database_login_failure_says_so_whatever_the_code(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path, login: str, account: str, password: str
) -> None:
    if account:
        conn = mysql_server.connect()
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER '{login}'@'%' {account}")
        conn.close()
    done = cli(settings, tmp_path, "--dry-run", DB_USER=login, DB_PASSWORD=password)
    assert done.returncode == 1
    assert f"refused to log in user `{login}` to `{settings.db_name}`" in done.stderr
    assert "check DB_USER and DB_PASSWORD" in done.stderr
    assert "is the server up" not in done.stderr


@pytest.mark.usefixtures("quick_sdk_retries")
def test_an_unreachable_stripe_names_the_address_in_full(
    settings: Settings, restored: Dump, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    # The command in this process, so that the SDK's four retries wait milliseconds, not seconds.
    monkeypatch.chdir(tmp_path)
    env = {**db_env(settings), "STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": f"http://127.0.0.1:{port}"}
    done = CliRunner().invoke(sync_cli.main, ["--dry-run"], env=env)
    assert done.exit_code == 1, done.output
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"no answer from STRIPE_API_BASE http://127.0.0.1:{port} after 4 retries (Connection refused)" in error
    assert error.endswith("check STRIPE_API_BASE (or unset it to use Stripe), then run again")


def test_a_dry_run_without_a_key_says_stored_ids_were_not_checked(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    sync(settings)  # every row now stores an id of the fake account
    done = cli(settings, tmp_path, "--dry-run", STRIPE_SECRET_KEY="")
    assert done.returncode == 3, done.stderr
    (markdown,) = (tmp_path / "reports").glob("plan-*.md")
    for text in (done.stdout, markdown.read_text()):
        assert "stale" not in text and "not in this Stripe account" not in text
        assert "not checked" in text
    assert "unchecked" in done.stdout
    assert "not read (no STRIPE\\_SECRET\\_KEY)" in markdown.read_text()


def test_read_only_runs_may_read_the_live_account_and_say_so(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    plan = cli(settings, tmp_path, "--dry-run", STRIPE_SECRET_KEY=LIVE_KEY)
    audit = cli(settings, tmp_path, "--verify", STRIPE_SECRET_KEY=LIVE_KEY)
    refused = cli(settings, tmp_path, STRIPE_SECRET_KEY=LIVE_KEY)

    for done in (plan, audit):
        assert done.returncode == 3, done.stderr  # ran: the orphan lease is not linked
        assert "Reading the LIVE Stripe account with key sk_live_…wxyz: this run writes nothing" in done.stderr
        assert "Stripe LIVE mode, key sk_live_…wxyz" in done.stdout
    assert refused.returncode == 1 and "rerun with --live" in refused.stderr
    assert fake.writes() == []
    for path in (tmp_path / "reports").iterdir():
        assert LIVE_KEY not in path.read_text()
        if path.suffix == ".json":
            assert json.loads(path.read_text())["provenance"]["stripe"]["mode"] == "live"


@pytest.mark.parametrize("flags", [("--dry-run", "--verify"), ("--verify", "--limit", "3"), ("-q", "-v")])
def test_flags_that_exclude_each_other_are_a_usage_error(
    settings: Settings, fake: FakeStripe, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    done = cli(settings, tmp_path, *flags)
    assert done.returncode == 2
    assert "exclude each other" in done.stderr or "drop --" in done.stderr
    assert fake.requests == []


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ([sys.executable, str(ROOT / "sync.py")], "python sync.py"),
        ([sys.executable, str(ROOT / "support.py")], "python support.py"),
        ([str(BIN / "cohabs-relink")], "cohabs-relink"),
        ([str(BIN / "cohabs-support")], "cohabs-support"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_version_names_the_command_that_ran_and_the_package_version(command: list[str], name: str) -> None:
    shown = subprocess.run([*command, "--version"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"{name} {__version__}"
