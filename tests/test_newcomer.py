"""What a newcomer met (issue 25): titles that say what happened, hints that name the right things, short consoles."""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime
from pathlib import Path

import click
import pytest
import stripe

from cohabs.shared import cli as shared_cli
from cohabs.shared.cli import Exit
from cohabs.shared.reports import Ours, Provenance, md_cell
from cohabs.shared.settings import Settings
from cohabs.shared.stopping import StopReason
from cohabs.support.cli import exit_code as support_exit_code
from cohabs.support.cli import question
from cohabs.support.items import Action, Incident, Item, Plan, Problem
from cohabs.support.run import SupportRun
from cohabs.sync.execute import Outcome as SyncOutcome
from cohabs.sync.execute import Result
from cohabs.sync.problems import Problem as SyncProblem
from cohabs.sync.rows import Kind
from cohabs.sync.run_report import Report, render
from devkit.dumpgen import Dump, generate
from devkit.fake_stripe import FakeStripe
from devkit.support_account import Seeded
from tests.helpers import NOW, TEST_KEY, cli, restore, support_cli, sync
from tests.helpers import support as support_run


def _newest(folder: Path, pattern: str) -> Path:
    return max(folder.glob(pattern), key=lambda path: path.stat().st_mtime_ns)


def test_a_rerun_that_changed_nothing_is_not_titled_changes_made(
    settings: Settings, restored: Dump, tmp_path: Path
) -> None:
    first = cli(settings, tmp_path, "--yes")
    assert "Sync report: changes made" in first.stdout, first.stderr
    again = cli(settings, tmp_path, "--yes")
    assert "Sync report: nothing needed changing" in again.stdout and "changes made" not in again.stdout
    markdown = _newest(tmp_path / "reports", "sync-*.md").read_text()
    assert markdown.startswith("# Stripe relink — Sync (nothing needed changing)")


def test_a_support_rerun_that_changed_nothing_is_not_titled_changes_made(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    first = support_cli(settings, tmp_path, "transfers", "--yes", "--database", settings.db_name)
    assert "run (changes made in Stripe and the database)" in first.stdout, first.stderr
    again = support_cli(settings, tmp_path, "transfers", "--yes", "--database", settings.db_name)
    assert "run (nothing needed changing)" in again.stdout and "changes made" not in again.stdout
    markdown = _newest(tmp_path / "reports", "support-transfers-run-*.md").read_text()
    assert markdown.startswith("# Rent transfers to houses — run (nothing needed changing)")


def test_the_transfers_prompt_says_what_it_will_write(settings: Settings, fake: FakeStripe, seeded: Seeded) -> None:
    preview = support_run(settings, Incident.TRANSFERS, dry_run=True)
    provenance = Provenance.of(settings, "support transfers", (), datetime(2026, 1, 1), tool="support.py")
    asked = question(preview.plan, provenance)
    transfers = sum(1 for item in preview.plan.items if item.action is Action.TRANSFER)
    assert transfers > 0
    assert asked == (
        f"Make {transfers} transfer(s) to the houses' connected accounts in the TEST Stripe account "
        f"(key {provenance.stripe_key})? The database is only read."
    )


def test_transfers_exits_0_when_only_re_collections_wait_for_the_tenant() -> None:
    waiting = Item("payment p1", Action.WAIT, reason="re-collection of dispute dp_1 waits for the tenant's transfer")
    done = Item("payment p2", Action.DONE, reason="paid out before")
    run = SupportRun(Plan(Incident.TRANSFERS, [waiting, done]), dry_run=False)
    assert support_exit_code(run) is Exit.OK
    run.plan.items.append(Item("payment p3", Action.REPORT, problem=Problem.NO_ROW))
    assert support_exit_code(run) is Exit.ATTENTION


def test_what_needs_a_person_comes_before_thousands_of_rows_a_stop_left() -> None:
    left = [
        SyncOutcome(Kind.USER, f"u{n}", f"user {n}", Result.NOT_FINISHED, problem=SyncProblem.NOT_FINISHED)
        for n in range(3_200)
    ]
    decisions = [
        SyncOutcome(Kind.LEASE, f"l{n}", f"lease {n}", Result.SKIPPED, problem=SyncProblem.MISSING_REFERENCE)
        for n in range(10)
    ]
    report = Report(False, [*left, *decisions], stopped=StopReason.INTERRUPTED, stop_detail="interrupted (Ctrl-C)")
    lines = [click.unstyle(line) for line in render(report, 1)]
    person = lines.index("Needs a person (10 row(s)):")
    (later,) = [n for n, line in enumerate(lines) if line.startswith("Not finished (3200 row(s)):")]
    assert person < later
    assert not any("u17" in line for line in lines), "rows a stop left are counted, not listed, on the console"
    assert sum(len(rows) for _, rows in report.for_a_person()) == 10
    assert len(lines) < 60


def test_verify_on_hundreds_of_unready_tenants_fits_a_screen(settings: Settings, tmp_path: Path) -> None:
    dump = generate(600, 100, 600, now=NOW)
    restore(settings, dump.write(tmp_path / "many.dump"))
    sync(settings)  # a fresh account: no tenant has a payment method
    normal = cli(settings, tmp_path, "--verify")
    assert normal.returncode == 3, normal.stderr
    unready = int(re.findall(r"(\d+) subscription\(s\) whose tenant cannot pay yet", normal.stdout)[-1])
    assert unready >= 150
    lines = normal.stdout.splitlines()
    assert len(lines) < 60, normal.stdout
    assert re.search(
        r"^  \d{4}-\d\d(-\d\d)?: \d+ subscription\(s\), .* cannot pay yet \([\d,.]+ [A-Z]{3}", normal.stdout, re.M
    )
    assert "-v, or the Markdown report" in normal.stdout
    markdown = _newest(tmp_path / "reports", "verify-*.md").read_text()
    assert markdown.count("| no: ") >= unready, "the list of tenants goes in the report"
    quiet = cli(settings, tmp_path, "--verify", "-q")
    assert quiet.returncode == 3
    assert len(quiet.stdout.splitlines()) <= 4, quiet.stdout
    assert f"{unready} subscription(s) whose tenant cannot pay yet" in quiet.stdout


def test_a_dotenv_that_sets_a_name_twice_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_cli, "PROJECT", tmp_path / "project")
    monkeypatch.setattr(os, "environ", {})
    (tmp_path / ".env").write_text(
        "STRIPE_SECRET_KEY=sk_test_first\nDB_NAME=x\nSTRIPE_SECRET_KEY=sk_test_second\n", encoding="utf-8"
    )
    environment = shared_cli.load_environment(tmp_path)
    assert environment.twice == ("STRIPE_SECRET_KEY",)
    assert "sets STRIPE_SECRET_KEY more than once, and its last value is used" in environment.describe()
    assert environment.settings.stripe_key == "sk_test_second"


def test_advice_names_the_python_the_person_ran() -> None:
    venv = Path(sys.executable)
    assert shared_cli.interpreter(venv.parents[2]) == str(venv.relative_to(venv.parents[2]))
    assert shared_cli.interpreter(Path("/nonexistent-elsewhere")) == "python"


def test_our_own_code_spans_stay_code_in_report_cells() -> None:
    ours = md_cell(Ours("Broken references: fix `userId`/`roomId` | then run `python sync.py`; a_b"))
    assert ours == "Broken references: fix `userId`/`roomId` \\| then run `python sync.py`; a\\_b"
    assert md_cell("a row's `name`") == "a row's \\`name\\`", "text from a row stays inert"


def test_objects_the_sync_did_not_make_are_said_to_be_someone_elses(
    settings: Settings, restored: Dump, fake: FakeStripe, tmp_path: Path
) -> None:
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": fake.url})
    client.v1.customers.create({"name": "a house's tenant, made by support"})
    done = cli(settings, tmp_path, "--dry-run")
    assert "(1 without the sync's cohabs_* metadata: not the sync's, such as support's)" in done.stderr


def test_the_plan_says_what_the_default_collection_means_for_the_first_rent(
    settings: Settings, restored: Dump, tmp_path: Path
) -> None:
    plan = cli(settings, tmp_path, "--dry-run")
    said = " ".join(plan.stdout.split())
    assert "No method was chosen, so the default applies" in said and "first rent invoice fails" in said
    chosen = cli(settings, tmp_path, "--dry-run", "--collection-method", "send_invoice", "--days-until-due", "7")
    assert "No method was chosen" not in chosen.stdout
