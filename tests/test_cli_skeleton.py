"""The one skeleton both commands stand on: help that agrees with the code, the settings line, stops reported."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cohabs.shared.settings import Settings, load_settings
from cohabs.support import cli as support_cli
from cohabs.sync import cli as sync_cli
from devkit.dumpgen import Dump
from devkit.support_dump import SupportDump
from tests.helpers import cli, db_env

HELPS: tuple[tuple[click.Command, list[str]], ...] = (
    (sync_cli.main, []),
    (support_cli.main, ["disputes"]),
    (support_cli.main, ["transfers"]),
)


def _defaults(text: str, flag: str) -> list[float]:
    """The numbers in a flag's `[default: …]`, as --help prints them."""
    flat = " ".join(text.split())
    found = re.search(re.escape(flag) + r" FLOAT.*?\[default: ([^;\]]*)", flat)
    assert found, f"{flag} has no [default: …] in:\n{text}"
    return [float(number) for number in re.findall(r"\d+(?:\.\d+)?", found.group(1))]


@pytest.mark.parametrize(("command", "args"), HELPS, ids=["sync", "disputes", "transfers"])
def test_every_help_default_is_the_one_the_code_uses(command: click.Command, args: list[str]) -> None:
    shown = CliRunner().invoke(command, [*args, "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    test = load_settings({"STRIPE_SECRET_KEY": "sk_test_x"})
    live = load_settings({"STRIPE_SECRET_KEY": "sk_live_x"})
    assert _defaults(shown.output, "--rate-limit") == [test.effective_rate, live.effective_rate]
    assert _defaults(shown.output, "--endpoint-rate-limit") == [test.endpoint_rate]


@pytest.mark.parametrize("script", ["sync.py", "support.py"])
def test_the_settings_line_comes_first_even_when_a_setting_is_refused(
    settings: Settings, tmp_path: Path, script: str
) -> None:
    args = ("--dry-run",) if script == "sync.py" else ("transfers", "--dry-run")
    done = cli(settings, tmp_path, *args, script=script, STRIPE_SECRET_KEY="not_a_key")
    assert done.returncode == 1
    first, *rest = done.stderr.splitlines()
    assert first.startswith("Settings: ") and str(tmp_path / ".env") in first
    assert any("does not look like a Stripe secret key" in line for line in rest)


def _closed_port() -> int:
    """A local port nothing listens on: every connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_transfers_with_stripe_unreachable_exit_1_with_a_report_saying_nothing_changed(
    settings: Settings,
    support_data: SupportDump,
    tmp_path: Path,
    quick_sdk_retries: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    away = f"http://127.0.0.1:{_closed_port()}"
    env = {**db_env(settings), "STRIPE_SECRET_KEY": settings.stripe_key or "", "STRIPE_API_BASE": away}
    env |= {"SUPPORT_DB_NAME": settings.db_name, "STRIPE_RATE_LIMIT": "500"}
    for attempt in range(1, 6):
        done = CliRunner().invoke(support_cli.main, ["transfers", "--yes"], env=env)
        assert done.exit_code == 1, done.output
        assert "Nothing was changed" in done.output
        reports = sorted((tmp_path / "reports").glob("support-transfers-run-*.json"))
        assert len(reports) == attempt, "each stopped run writes its own report"
        written = json.loads(reports[-1].read_text())
        assert written["changed"] is False and written["stopped"] == "stripe_unreachable"
        assert "Nothing was changed" in reports[-1].with_suffix(".md").read_text()


def test_a_sync_with_stripe_unreachable_is_reported_the_same_way(
    settings: Settings, restored: Dump, tmp_path: Path, quick_sdk_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    away = f"http://127.0.0.1:{_closed_port()}"
    env = {**db_env(settings), "STRIPE_SECRET_KEY": settings.stripe_key or "", "STRIPE_API_BASE": away}
    done = CliRunner().invoke(sync_cli.main, ["--yes"], env=env)
    assert done.exit_code == 1, done.output
    assert "Nothing was changed" in done.output
    (report,) = (tmp_path / "reports").glob("sync-*.json")
    assert json.loads(report.read_text())["changed"] is False
