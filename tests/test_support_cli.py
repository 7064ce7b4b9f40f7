"""support.py as the support engineer runs it: flags, exit codes, prompts, locks, secrets, and the name it goes by."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from cohabs import __version__
from cohabs.shared.settings import Settings
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from devkit.support_account import Seeded
from tests.helpers import BIN, ROOT, TEST_KEY, assert_each_once, cli, db_env, on_a_terminal, ours, query, support_cli

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")


def test_the_commands_keep_the_sync_habits(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    shown = support_cli(settings, tmp_path, "disputes", "--help")
    assert shown.returncode == 0 and "3  finished, but some items were reported" in shown.stdout
    assert support_cli(settings, tmp_path, "refunds").returncode == 2
    assert support_cli(settings, tmp_path, "transfers", "--platform-fee", "100").returncode == 2

    keyless = support_cli(settings, tmp_path, "disputes", "--dry-run", STRIPE_SECRET_KEY="")
    assert keyless.returncode == 1 and "even in a dry run" in keyless.stderr
    live = support_cli(settings, tmp_path, "disputes", "--yes", STRIPE_SECRET_KEY="sk_live_51Secret0000wxyz")
    assert live.returncode == 1 and "--live" in live.stderr and "sk_live_51Secret0000wxyz" not in live.stderr
    # A dry run only reads: a live key may do that without --live, and it is said aloud.
    look = support_cli(settings, tmp_path, "disputes", "--dry-run", STRIPE_SECRET_KEY="sk_live_51Secret0000wxyz")
    assert look.returncode == 0 and "Reading the LIVE Stripe account with key sk_live_…wxyz" in look.stderr

    # --database wins over SUPPORT_DB_NAME; a dry run exits 3 because the data has anomalies, and writes its reports.
    dry = support_cli(
        settings, tmp_path, "transfers", "--dry-run", "--database", settings.db_name, SUPPORT_DB_NAME="nope"
    )
    assert dry.returncode == 3, dry.stderr
    assert "[will transfer]" in dry.stdout and "paid to houses: 2,640.00 EUR" in dry.stdout
    assert TEST_KEY not in dry.stdout + dry.stderr
    (report,) = (tmp_path / "reports").glob("support-transfers-plan-*.json")
    assert json.loads(report.read_text())["totals"]["paid"] == {"eur": 264000}
    assert fake.writes() == []

    lock = mysql_server.connect()
    with lock.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", [f"cohabs-support:{settings.db_name}"])
    try:
        busy = support_cli(settings, tmp_path, "disputes", "--yes")
    finally:
        lock.close()
    assert busy.returncode == 1 and "another support run is running" in busy.stderr
    assert fake.writes() == []

    done = support_cli(settings, tmp_path, "disputes", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[requested] dispute" in done.stdout and "requested from tenants: 1,500.00 EUR" in done.stdout


def test_support_reads_its_own_database_setting_never_the_syncs(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    # DB_NAME names the support database here, as a mistaken .env would: support ignores it.
    other = f"{settings.db_name}_absent"
    done = support_cli(settings, tmp_path, "disputes", "--dry-run", DB_NAME=settings.db_name, SUPPORT_DB_NAME=other)
    assert done.returncode == 1
    assert f"`{other}`" in done.stderr or other in done.stderr
    assert fake.requests == []
    found = support_cli(settings, tmp_path, "disputes", "--dry-run", DB_NAME="relink_not_this_one")
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"database `{settings.db_name}`" in found.stdout
    assert "SUPPORT_DB_NAME" in support_cli(settings, tmp_path, "disputes", "--help").stdout


def test_quiet_shows_what_needs_a_person_verbose_the_stripe_ids_and_report_writes_the_json(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    quiet = support_cli(settings, tmp_path, "transfers", "--dry-run", "-q")
    normal = support_cli(settings, tmp_path, "transfers", "--dry-run")
    assert quiet.returncode == normal.returncode == 3
    assert "[reported]" in quiet.stdout and "[will transfer]" not in quiet.stdout
    assert "[will transfer]" in normal.stdout
    assert "paid to houses: 2,640.00 EUR" in quiet.stdout
    assert "Reading the Stripe account" not in quiet.stderr and "Reading the Stripe account" in normal.stderr
    assert support_cli(settings, tmp_path, "transfers", "-q", "-v").returncode == 2

    done = support_cli(settings, tmp_path, "disputes", "--yes", "-v", "--report", "out/disputes.json")
    assert done.returncode == 0, done.stdout + done.stderr
    (request,) = ours(fake, "payment_intents")
    assert f"Stripe id: {request['id']}" in done.stdout
    written = json.loads((tmp_path / "out" / "disputes.json").read_text())
    assert written["provenance"]["command"] == "support disputes"
    assert [item["stripe_id"] for item in written["items"] if item["action"] == "collect"] == [request["id"]]
    assert "out/disputes.json" in done.stderr


def test_a_schema_without_the_payment_columns_stops_before_any_stripe_call(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    query(settings, mysql_server, "ALTER TABLE payments DROP COLUMN disputed")
    done = support_cli(settings, tmp_path, "disputes", "--dry-run")
    assert done.returncode == 1
    assert "`payments`.`disputed` is missing" in done.stderr
    assert fake.requests == []


@pytest.mark.parametrize(("answer", "code"), [("n\n", 1), ("y\n", 0)])
def test_a_terminal_run_shows_the_changes_and_asks_first(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path, answer: str, code: int
) -> None:
    environment = {**db_env(settings), "STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": fake.url}
    done = on_a_terminal(answer, [sys.executable, str(ROOT / "support.py"), "disputes"], tmp_path, environment)
    assert "requested from tenants: 1,500.00 EUR" in done.stdout
    assert "Send 1 payment request(s) in the TEST Stripe account (key sk_test_…abcd)" in done.stdout
    assert f"add 1 `payments` row(s) to database `{settings.db_name}` on {settings.db_host}:{settings.db_port}?" in (
        done.stdout
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert len(ours(fake, "payment_intents")) == (1 if answer.startswith("y") else 0)


@pytest.mark.parametrize(
    ("script", "tool"), [("support.py", "python support.py"), (str(BIN / "cohabs-support"), "cohabs-support")]
)
def test_the_reports_and_their_advice_name_the_command_that_ran(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path, script: str, tool: str
) -> None:
    # ROOT / an absolute path is that path: the installed console script, as `make install` puts it.
    dry = cli(settings, tmp_path, "transfers", "--dry-run", script=script)
    assert dry.returncode == 3, dry.stdout + dry.stderr
    (markdown,) = (tmp_path / "reports").glob("support-transfers-plan-*.md")
    head = json.loads(markdown.with_suffix(".json").read_text())["provenance"]
    assert (head["tool"], head["command"]) == (tool, "support transfers (dry run)")
    assert f"# tool: {tool} {__version__}" in markdown.with_suffix(".csv").read_text()
    text = markdown.read_text()
    assert f"| tool | {tool} {__version__} |" in text
    advice = text.split("## What to do next", 1)[1]
    assert f"`{tool} disputes` re-collects them" in advice  # the disputed row's advice
    assert f"run `{tool} transfers` again once they settle" in advice  # the pending row's
    assert advice.rstrip().endswith(f"Read the plan, then run `{tool} transfers` to apply it.")
    assert "cohabs-relink" not in text


def readme_support_steps() -> list[tuple[list[str], bool, int]]:
    """The README's support walk-through: each command's arguments, whether it asks, and the exit it promises."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Support, step by step", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    steps = []
    for line in filter(None, section.splitlines()):
        command, _, said = line.partition("#")
        words = command.split()
        assert words[:2] == [".venv/bin/python", "support.py"], line
        code = re.search(r"exit (\d+)", said)
        assert code is not None, f"the README says no exit code for: {line}"
        steps.append((words[2:], said.strip().startswith("asks"), int(code.group(1))))
    return steps


def test_the_readmes_support_walk_through_exits_as_it_says(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    steps = readme_support_steps()
    assert [args[0] for args, _, _ in steps] == ["disputes", "disputes", "transfers", "transfers", "transfers"]
    environment = {**db_env(settings), "STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": fake.url}
    for args, asks, code in steps:
        # Run as a person at a terminal would: answering yes when it asks, nothing typed otherwise.
        done = on_a_terminal(
            "y\n" if asks else "", [sys.executable, str(ROOT / "support.py"), *args], tmp_path, environment
        )
        assert done.returncode == code, (args, done.stdout + done.stderr)
        assert ("[y/N]" in done.stdout) is asks, (args, done.stdout)
    assert_each_once(settings, mysql_server, fake, seeded)  # and each thing done once
