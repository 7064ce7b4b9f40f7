"""Habits both commands share: no write without a yes, the .env each run names, NO_COLOR, a missing package."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from cohabs.shared import cli as shared_cli
from cohabs.shared.reports import md_text
from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from devkit.support_account import Seeded
from tests.helpers import ROOT, TEST_KEY, cli, db_env, own_env_file, payments, query, support_cli

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")


def linked_ids(settings: Settings, server: Server) -> list[tuple[object, ...]]:
    return [
        *query(settings, server, "SELECT id, stripeCustomerId FROM users ORDER BY id"),
        *query(settings, server, "SELECT id, stripeProductId FROM rooms ORDER BY id"),
        *query(settings, server, "SELECT id, stripeSubscriptionId FROM leases ORDER BY id"),
    ]


def test_a_sync_that_cannot_ask_shows_the_plan_writes_nothing_and_exits_1(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    before = linked_ids(settings, mysql_server)
    done = cli(settings, tmp_path)  # stdin is not a terminal, and no --yes

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Plan (not applied: nothing was changed)" in done.stdout
    assert "Needs a person (1 row(s)):" in done.stdout  # the plan is shown, the orphan lease first
    assert "--yes was not given" in done.stderr and "run the same command with --yes" in done.stderr
    assert fake.writes() == []
    assert linked_ids(settings, mysql_server) == before

    # Read-only runs never need --yes.
    assert cli(settings, tmp_path, "--dry-run").returncode == 3
    assert cli(settings, tmp_path, "--verify").returncode == 3
    assert fake.writes() == []
    assert linked_ids(settings, mysql_server) == before


def test_a_sync_with_nothing_to_write_needs_no_yes(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    assert cli(settings, tmp_path, "--yes").returncode == 3
    writes = len(fake.writes())
    rerun = cli(settings, tmp_path)
    assert rerun.returncode == 3, rerun.stdout + rerun.stderr
    assert "Plan (not applied" not in rerun.stdout and len(fake.writes()) == writes


@pytest.mark.parametrize("job", ["disputes", "transfers"])
def test_support_that_cannot_ask_shows_its_changes_writes_nothing_and_exits_1(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path, job: str
) -> None:
    before = payments(settings, mysql_server)
    done = support_cli(settings, tmp_path, job)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "change(s):" in done.stdout
    assert "--yes was not given" in done.stderr
    assert fake.writes() == []
    assert payments(settings, mysql_server) == before
    assert support_cli(settings, tmp_path, job, "--dry-run").returncode in (0, 3)
    assert fake.writes() == []


def test_each_run_names_the_env_file_it_read(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    # The database comes from this folder's .env alone: the environment does not name it.
    (tmp_path / ".env").write_text(f"DB_NAME={settings.db_name}\n", encoding="utf-8")
    env = {**db_env(settings), "STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": fake.url}
    del env["DB_NAME"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "sync.py"), "--dry-run"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    env_file = tmp_path.resolve() / ".env"
    assert f"Settings: {env_file} (the environment wins over it)" in done.stderr
    assert f"Database {settings.db_name}:" in done.stderr
    (markdown,) = (tmp_path / "reports").glob("plan-*.md")
    assert f"| settings | {md_text(str(env_file))} |" in markdown.read_text()


def test_without_any_env_file_the_run_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither the working directory nor the project holds a .env: the settings are the environment's.
    monkeypatch.setattr(shared_cli, "PROJECT", tmp_path / "project")
    monkeypatch.setattr(os, "environ", {"DB_NAME": "from_the_environment"})
    environment = shared_cli.load_environment(tmp_path)
    assert environment.env_file is None
    assert environment.settings.db_name == "from_the_environment"
    assert environment.describe() == (
        f"Settings: no .env ({tmp_path.resolve() / '.env'} or {tmp_path / 'project' / '.env'}): "
        "the environment and defaults only"
    )
    # The project's .env is read when the working directory has none, as restore_dump.sh does.
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".env").write_text("SUPPORT_DB_NAME=from_the_project\n", encoding="utf-8")
    found = shared_cli.load_environment(tmp_path)
    assert found.env_file == tmp_path / "project" / ".env"
    assert found.settings.support_db_name == "from_the_project"


def on_a_pty(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run `command` with stdin, stdout and stderr on a pseudo-terminal, as a person's shell would; all it printed."""
    own_env_file(cwd)
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    output = bytearray()
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
    return process.wait(timeout=120), output.decode("utf-8", "replace")


def colours_on_a_terminal(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Colours on a terminal; none at all with NO_COLOR set, and the same output and exit code otherwise."""
    env = {k: v for k, v in env.items() if k != "NO_COLOR"}
    code, coloured = on_a_pty(command, cwd, env)
    assert "\x1b[" in coloured, coloured
    plain_code, plain = on_a_pty(command, cwd, {**env, "NO_COLOR": "1"})
    assert plain_code == code
    assert "\x1b[" not in plain, plain
    assert "Target: database" in plain


def test_no_color_is_honoured_by_the_sync_on_a_terminal(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    env = {**db_env(settings), "STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": fake.url}
    colours_on_a_terminal([sys.executable, str(ROOT / "sync.py"), "--dry-run"], tmp_path, env)


def test_no_color_is_honoured_by_support_on_a_terminal(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    env = {**db_env(settings), "STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": fake.url}
    colours_on_a_terminal([sys.executable, str(ROOT / "support.py"), "transfers", "--dry-run"], tmp_path, env)


@pytest.mark.parametrize("script", ["sync.py", "support.py"])
def test_a_python_without_the_packages_gets_one_line_naming_the_fix(tmp_path: Path, script: str) -> None:
    # -S: no site-packages, as a system Python without `make install` would run it.
    done = subprocess.run(
        [sys.executable, "-S", str(ROOT / script), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: this Python") and "lacks the package" in line
    assert f".venv/bin/python {script}" in line
