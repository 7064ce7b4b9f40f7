"""An undo's account of itself: what it undid (or would), what it left for a person, and its files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from cohabs.shared.cli import Exit, stop_exit
from cohabs.shared.reports import Code, JsonReport, Privacy, Provenance, md_table, md_text, provenance_markdown
from cohabs.shared.reports import write_report_set as write_set
from cohabs.shared.stopping import StopReason
from cohabs.sync.undo_plan import Act, UndoPlan, UndoStep
from cohabs.sync.undo_record import RunRecord


class Done(StrEnum):
    UNDONE = "undone"
    ALREADY = "already_undone"
    LEFT = "left_for_a_person"
    FAILED = "failed"
    NOT_FINISHED = "not_finished"


@dataclass(frozen=True, slots=True)
class UndoOutcome:
    step: UndoStep
    result: Done
    detail: str = ""
    row_cleared: bool = False


WHAT = {
    Act.CANCEL: "cancel the subscription",
    Act.DELETE: "delete the customer",
    Act.ARCHIVE: "archive the product and its prices",
    Act.CLEAR: "clear the row's id (the object is gone already)",
    Act.LEAVE: "leave it for a person",
    Act.DONE: "nothing (already undone)",
}
PERSON = (
    "Check each in the Dashboard. Money or a tenant's data (a card, a payment, a cash balance) is never deleted by "
    "the tool: settle it, then delete the customer by hand, or keep it (its row stays linked; a sync keeps it)."
)
AGAIN = "Run the same undo again: it reads what is left and finishes; nothing is done twice."


def planned(step: UndoStep) -> UndoOutcome:
    result = Done.LEFT if step.act is Act.LEAVE else Done.ALREADY if step.act is Act.DONE else Done.UNDONE
    return UndoOutcome(step, result, step.why, step.clear_row)


@dataclass(frozen=True)
class UndoReport:
    record: RunRecord
    plan: UndoPlan
    dry_run: bool = True
    outcomes: tuple[UndoOutcome, ...] = ()
    requests: int = 0
    seconds: float = 0.0
    stopped: StopReason | None = None
    stop_detail: str = ""

    @property
    def lines(self) -> list[UndoOutcome]:
        """What the undo did, or, in a plan, would do."""
        return [planned(s) for s in self.plan.steps] if self.dry_run else list(self.outcomes)

    def having(self, *results: Done) -> list[UndoOutcome]:
        return [o for o in self.lines if o.result in results]

    def exit_code(self) -> Exit:
        if self.stopped:
            return stop_exit(self.stopped)
        if self.having(Done.FAILED, Done.NOT_FINISHED):
            return Exit.CANNOT_RUN
        return Exit.ATTENTION if self.having(Done.LEFT) else Exit.OK

    def headline(self) -> str:
        left, unfinished = self.having(Done.LEFT), self.having(Done.FAILED, Done.NOT_FINISHED)
        undone = len(self.having(Done.UNDONE))
        verb = "would be undone" if self.dry_run else "undone"
        parts = [f"{undone} object(s) {verb}, {len(self.having(Done.ALREADY))} already undone"]
        if left:
            parts.append(f"{len(left)} left for a person")
        if unfinished:
            parts.append(f"{len(unfinished)} not finished: run the undo again")
        if self.stopped:
            parts.append(f"stopped: {self.stop_detail}")
        return "; ".join(parts) + "."


def intro(report: UndoReport) -> str:
    r = report.record
    when = f"{r.started[:19].replace('T', ' ')} UTC" if r.started else "unknown time"
    return (
        f"The run of {when} ({r.tool}) created {len(r.made)} object(s); the {r.left_alone} "
        "it only kept or adopted, and everything other runs made, are not touched."
    )


def counts(report: UndoReport) -> Counter[tuple[str, str]]:
    return Counter((o.step.made.kind.singular, o.result.value) for o in report.lines)


def row_line(o: UndoOutcome, dry_run: bool) -> str:
    made = o.step.made
    cleared = "; row cleared" if o.row_cleared and not dry_run else "; its row is cleared" if o.row_cleared else ""
    detail = f": {o.detail}" if o.detail else ""
    return (
        f"  [{o.result.replace('_', '-')}] {made.kind.singular} {made.row_id} ({made.label}) {made.stripe_id}, "
        f"{WHAT[o.step.act]}{detail}{cleared}"
    )


def render(report: UndoReport, verbosity: int = 1, heading: str = "") -> Iterator[str]:
    heading = heading or ("Undo plan (dry run: nothing was changed)" if report.dry_run else "Undo report: changes made")
    yield from ("", click.style(heading, bold=True), intro(report))
    for (kind, result), n in sorted(counts(report).items()):
        yield f"  {kind}: {n} {result.replace('_', ' ')}"
    people = report.having(Done.LEFT)
    if people:
        yield from ("", click.style(f"Needs a person ({len(people)}):", bold=True), f"  → {PERSON}")
        yield from (row_line(o, report.dry_run) for o in people)
    unfinished = report.having(Done.FAILED, Done.NOT_FINISHED)
    if unfinished:
        yield from ("", click.style(f"Not finished ({len(unfinished)}):", bold=True), f"  → {AGAIN}")
        yield from (row_line(o, report.dry_run) for o in unfinished)
    if verbosity >= 2:
        yield from ("", "Objects:", *(row_line(o, report.dry_run) for o in report.lines))
    if not report.dry_run:
        yield from ("", f"Stripe requests: {report.requests} in {report.seconds:.1f}s")
    yield from (
        "",
        click.style(report.headline(), bold=True, fg="green" if report.exit_code() is Exit.OK else "yellow"),
    )


def markdown(report: UndoReport, provenance: Provenance, privacy: Privacy) -> Iterator[str]:
    what = "Dry run (nothing was changed)" if report.dry_run else "Undo (changes made)"
    yield from (f"# Stripe relink — undo, {what}, {provenance.started:%Y-%m-%d %H:%M} UTC", "")
    yield from provenance_markdown(provenance, privacy)
    yield from ("", "## Summary", "", f"**{md_text(report.headline())}**", "")
    yield md_text(f"Report undone: {report.record.path}. {intro(report)}")
    if report.having(Done.LEFT):
        yield from ("", "## Needs a person", "", md_text(PERSON), "")
        yield from _table(report.having(Done.LEFT), privacy)
    yield from ("", "## Every object the run created", "")
    yield from _table(report.lines, privacy)


def _table(lines: list[UndoOutcome], privacy: Privacy) -> Iterator[str]:
    return md_table(
        ["kind", "row", "label", "Stripe id", "undo", "result", "row cleared", "detail"],
        (
            [
                o.step.made.kind.singular,
                Code(o.step.made.row_id),
                privacy(o.step.made.label),
                Code(o.step.made.stripe_id),
                WHAT[o.step.act],
                o.result.replace("_", " "),
                "yes" if o.row_cleared else "no",
                o.detail,
            ]
            for o in lines
        ),
    )


def undo_json(report: UndoReport, provenance: Provenance, privacy: Privacy) -> JsonReport:
    r = report.record
    head: dict[str, Any] = {
        "mode": "undo-plan" if report.dry_run else "undo",
        "headline": report.headline(),
        "undone_report": str(r.path),
        "undone_run": {"started": r.started, "tool": r.tool, "stripe_account": r.stripe_account},
        "left_alone": r.left_alone,
        "counts": {f"{kind} {result}": n for (kind, result), n in sorted(counts(report).items())},
        "stripe": {"requests": report.requests},
        "seconds": round(report.seconds, 3),
    }
    return JsonReport.of(provenance, privacy, head, (_row(o, privacy) for o in report.lines))


def _row(o: UndoOutcome, privacy: Privacy) -> dict[str, Any]:
    made = o.step.made
    return {
        "kind": made.kind.singular,
        "row_id": made.row_id,
        "label": privacy(made.label),
        "stripe_id": made.stripe_id,
        "action": o.step.act.value,
        "result": o.result.value,
        "row_cleared": o.row_cleared,
        "prices_archived": list(o.step.prices),
        "detail": o.detail,
    }


def write_undo_reports(report: UndoReport, provenance: Provenance, folder: Path, privacy: Privacy) -> list[Path]:
    return write_set(
        folder,
        "undo-plan" if report.dry_run else "undo",
        provenance,
        markdown(report, provenance, privacy),
        undo_json(report, provenance, privacy),
    )
