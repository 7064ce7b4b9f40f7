"""`sync.py --undo REPORT` on the command skeleton: the same habits as a sync (dry run, a yes, --live, reports)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import click

from cohabs.shared.cli import NO_CONSENT, Consent
from cohabs.shared.command import REPORTS, Invocation, Outcome
from cohabs.shared.errors import CannotRun
from cohabs.shared.reports import Privacy, Provenance
from cohabs.sync.run import World
from cohabs.sync.undo import UndoOptions, undo
from cohabs.sync.undo_report import UndoReport, render, undo_json, write_undo_reports

MEANING = "--undo REPORT: 0 all undone; 3 something left for a person (named); 1 refused, or not finished (rerun it)"


def undo_body(report: Path, workers: int | None, world: World, invocation: Invocation) -> Outcome:
    privacy, habits = invocation.privacy, invocation.habits
    options = UndoOptions(report, dry_run=habits.dry_run, live=habits.live, workers=workers)
    done = undo(invocation.settings, options, world, _confirm(invocation.provenance, privacy, invocation.consent))
    return Outcome(
        [privacy(line) for line in render(done, invocation.habits.detail)],
        partial(write_undo_reports, done, folder=REPORTS, privacy=privacy),
        partial(undo_json, done, privacy=privacy),
        done.exit_code(),
    )


def _confirm(provenance: Provenance, privacy: Privacy, given: Consent) -> Callable[[UndoReport], bool]:
    """Before the first write: go on (--yes), ask the person, or show the plan and stop (no terminal)."""

    def show(preview: UndoReport, heading: str) -> None:
        for line in render(preview, 1, heading=heading):
            click.echo(privacy(line))

    def ask(preview: UndoReport) -> bool:
        show(preview, "Undo plan to apply (nothing is changed before you answer)")
        return click.confirm(
            f"\nUndo these in the {provenance.stripe_mode.upper()} Stripe account (key {provenance.stripe_key}) and "
            f"clear their ids in database `{provenance.database}` on {provenance.db_host}?",
            default=False,
        )

    def refuse(preview: UndoReport) -> bool:
        show(preview, "Undo plan (not applied: nothing was changed)")
        raise CannotRun(NO_CONSENT)

    if given is Consent.GIVEN:
        return lambda preview: True
    return ask if given is Consent.ASK else refuse
