"""What a newcomer met (issue 25): titles that say what happened, hints that name the right things, short consoles."""

from __future__ import annotations

from pathlib import Path

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.support_account import Seeded
from tests.helpers import cli, support_cli


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
