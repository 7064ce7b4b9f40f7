"""The run's account: counts per kind, a line per row needing attention, JSON."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from .billing import Mode
from .execute import Outcome, Result
from .money import format_minor
from .plan import Action, Billing, Plan, Step
from .problems import Problem
from .rows import Kind


@dataclass
class Report:
    dry_run: bool
    outcomes: list[Outcome]
    billing: dict[str, Billing] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0
    seconds: float = 0.0
    kinds: tuple[Kind, ...] = tuple(Kind)

    @cached_property
    def counts(self) -> dict[Kind, Counter[str]]:
        counts: dict[Kind, Counter[str]] = {k: Counter() for k in self.kinds}
        for outcome in self.outcomes:
            counts[outcome.kind][outcome.result] += 1
        return counts

    @cached_property
    def unsynced(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.synced]

    def attention(self) -> list[Outcome]:
        """Rows that were not simply created or kept."""
        return [o for o in self.outcomes if o.result not in (Result.CREATED, Result.KEPT) or o.detail]

    def write_json(self, path: Path) -> None:
        """One row per line, written as it goes: a 60,000-row report never sits in memory whole."""
        head = {
            "mode": "dry-run" if self.dry_run else "sync",
            "counts": {k.value: {r: self.counts[k][r] for r in Result} for k in self.kinds},
            "notes": self.notes,
            "stripe": {"requests": self.requests, "rate_limited": self.throttled},
            "seconds": round(self.seconds, 3),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "rows": [')
            for index, outcome in enumerate(self.outcomes):
                billing = self.billing.get(outcome.row_id) if outcome.kind is Kind.LEASE else None
                out.write(("," if index else "") + "\n  " + json.dumps(_row_json(outcome, billing), ensure_ascii=False))
            out.write("\n]}\n")


def _row_json(outcome: Outcome, billing: Billing | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": outcome.kind.singular,
        "row_id": outcome.row_id,
        "label": outcome.label,
        "result": outcome.result,
        "stripe_id": outcome.stripe_id,
    }
    if outcome.stale_id:
        row["stale_id"] = outcome.stale_id
    if outcome.detail:
        row["detail"] = outcome.detail
    if outcome.notes:
        row["notes"] = list(outcome.notes)
    if billing is not None:
        row["billing"] = billing_json(billing)
    return row


def billing_json(billing: Billing) -> dict[str, Any]:
    terms = billing.terms
    return {
        "mode": terms.mode.value,
        "amount": billing.amount,
        "currency": billing.currency,
        "first_charge": terms.first_charge.isoformat() if terms.first_charge else None,
        "free_until": terms.trial_end.isoformat(),
        "ends": terms.cancel_at.isoformat() if terms.cancel_at else None,
        "why": terms.why,
    }


def describe_billing(billing: Billing) -> str:
    terms = billing.terms
    money = format_minor(billing.amount, billing.currency)
    if terms.mode is Mode.ENDED:
        return f"{money}/month, created then cancelled, never billed ({terms.why})"
    first = f"first charge {terms.first_charge:%Y-%m-%d}" if terms.first_charge else "nothing to charge"
    end = f", ends {terms.cancel_at:%Y-%m-%d}" if terms.cancel_at else ""
    return f"{money}/month, {first}{end}, nothing charged now ({terms.why})"


def outcomes_from_plan(plan: Plan) -> list[Outcome]:
    """What the plan would do, in the same words as a real run's report."""
    outcomes = []
    for kind in Kind:
        if kind not in plan.active:
            continue
        for step in plan.steps[kind]:
            outcomes.append(_planned(step))
    return outcomes


def _planned(step: Step) -> Outcome:
    result = {
        Action.CREATE: Result.CREATED,
        Action.KEEP: Result.KEPT,
        Action.ADOPT: Result.ADOPTED,
        Action.SKIP: Result.SKIPPED,
    }[step.action]
    if step.stale_id and step.action in (Action.CREATE, Action.ADOPT):
        result = Result.REPLACED
    detail = step.reason if result != Result.CREATED else ""
    if step.cancel:
        detail = "; ".join(filter(None, [detail, "ended lease: its subscription will be cancelled"]))
    return Outcome(
        step.kind, step.row_id, step.label, result, step.stripe_id, detail, step.stale_id, step.notes, step.problem
    )


STYLES: dict[Result, dict[str, Any]] = {
    Result.CREATED: {"fg": "green"},
    Result.KEPT: {"dim": True},
    Result.ADOPTED: {"fg": "cyan"},
    Result.REPLACED: {"fg": "yellow"},
    Result.SKIPPED: {"fg": "yellow", "bold": True},
    Result.FAILED: {"fg": "red", "bold": True},
}


def _tag(result: Result) -> str:
    return click.style(f"[{result.replace('_', '-')}]", **STYLES[result])


def render(report: Report, verbosity: int = 1) -> Iterator[str]:
    """Text for a terminal (click strips the colours in a pipe). 0 quiet, 1 normal, 2 every row."""
    title = "Plan (dry run: nothing was changed)" if report.dry_run else "Sync report"
    yield from (click.style(title, bold=True), "")
    counts = report.counts
    yield f"  {'':8}" + "".join(f"{r.replace('_', '-'):>16}" for r in Result)
    for kind in report.kinds:
        yield f"  {kind.value:8}" + "".join(f"{counts[kind][r]:>16}" for r in Result)
    shown = report.outcomes if verbosity >= 2 else [o for o in report.attention() if verbosity or not o.synced]
    if shown:
        yield from ("", "Rows:" if verbosity >= 2 else "Rows not simply created or kept:")
        for o in shown:
            target = f" -> {o.stripe_id}" if o.stripe_id else ""
            detail = f": {o.detail}" if o.detail else ""
            yield f"  {_tag(o.result)} {o.kind.singular} {o.row_id} ({o.label}){target}{detail}"
    if report.billing and verbosity:
        labels = {o.row_id: o.label for o in report.outcomes if o.kind is Kind.LEASE}
        yield from ("", "What each new subscription bills:")
        for row_id, billing in sorted(report.billing.items(), key=lambda item: labels.get(item[0], item[0])):
            yield f"  lease {row_id} ({labels.get(row_id, '')}): {describe_billing(billing)}"
    notes = Counter(n for o in report.outcomes for n in o.notes)
    if (notes or report.notes) and verbosity:
        yield from ("", "Notes:")
        yield from (f"  {note}: {count} row(s)" for note, count in sorted(notes.items()))
        yield from (f"  {note}" for note in report.notes)
    if not report.dry_run and verbosity:
        yield from (
            "",
            f"Stripe requests: {report.requests} ({report.throttled} rate-limited) in {report.seconds:.1f}s",
        )
    unsynced = len(report.unsynced)
    verdict = f"{unsynced} row(s) not synced." if unsynced else "All rows synced."
    yield from ("", click.style(verdict, fg="red" if unsynced else "green", bold=True))


NEXT_STEPS: dict[Problem, str] = {
    Problem.BAD_EMAIL: "Fix the listed emails in `users`, then run the sync again.",
    Problem.MISSING_REFERENCE: "Broken references: check the hints on each line, fix `userId`/`roomId`, run again.",
    Problem.UNKNOWN_HUB: "Add the hub to HUB_CURRENCIES (hubId=currency) in .env, run again.",
    Problem.NO_PRICE: "Give the listed rooms a `rent` (or `baseRent`), run again.",
    Problem.BAD_AMOUNT: "Correct the listed amounts, run again.",
    Problem.CURRENCY_CONFLICT: "A tenant with leases in two currencies needs a second customer: decide by hand.",
    Problem.STRIPE: "Stripe refused or did not answer some requests: run again; objects already made are adopted.",
    Problem.BAD_LEASE: "Correct the listed lease dates or statuses, run again.",
    Problem.DUPLICATE: "Duplicated leases: void or delete the copy, run again.",
    Problem.NEEDS_FULL_RUN: "Sync users and rooms first (or run without --only), then the held-back leases.",
    Problem.DEPENDENCY: "Fix the user or room each lease line names; its lease follows on the next run.",
    Problem.NOT_STORED: "Some ids could not be written to their rows: fix the database error shown, run again.",
}


def markdown(report: Report, started: datetime) -> Iterator[str]:
    """A report to paste into a ticket: summary, decisions, data issues, next steps."""
    what = "Dry run (nothing was changed)" if report.dry_run else "Sync"
    yield from (f"# Stripe relink — {what}, {started:%Y-%m-%d %H:%M} UTC", "", "## Summary", "")
    yield from ["| | " + " | ".join(r.replace("_", " ") for r in Result) + " |", "|---" * (len(Result) + 1) + "|"]
    for kind in report.kinds:
        yield (f"| {kind.value} | " + " | ".join(str(report.counts[kind][r]) for r in Result) + " |")
    unsynced = report.unsynced
    yield from ("", f"**{len(unsynced)} row(s) not synced.**" if unsynced else "**Every row is linked.**")
    if not report.dry_run:
        yield (f"Stripe requests: {report.requests} ({report.throttled} rate-limited), {report.seconds:.0f} s.")
    yield from ("", "## Decisions taken", "")
    yield from [
        "- Tenants pay the lease's contract amount (`rentAmount`) monthly, in their hub's currency.",
        "- Nobody is charged by the sync: each subscription is free (a Stripe trial) until the tenant's next rent"
        " date, or the lease's start for a future lease, and stops at the lease's end.",
        "- Leases that are over (finished, cancelled, void, or past their end date) are linked to a subscription"
        " created and cancelled at once: never billed.",
        "- Room prices come from `baseRent`, or `rent` when `baseRent` is empty.",
        "- Stored Stripe ids the account does not confirm are stale and replaced.",
    ]
    modes = Counter(b.terms.mode.value for b in report.billing.values())
    if modes:
        yield ("- New subscriptions: " + ", ".join(f"{n} {m}" for m, n in sorted(modes.items())) + ".")
    notes = Counter(n for o in report.outcomes for n in o.notes)
    yield from (f"- {note}: {count} row(s)." for note, count in sorted(notes.items()))
    yield from (f"- {note}." for note in report.notes)
    attention = report.attention()
    if attention:
        yield from [
            "",
            "## Data issues and changes",
            "",
            "| kind | row | what | Stripe id | detail |",
            "|---|---|---|---|---|",
        ]
        for o in attention:
            detail = o.detail.replace("|", "\\|")
            yield (f"| {o.kind.singular} | `{o.row_id}` {o.label} | {o.result} | {o.stripe_id or ''} | {detail} |")
    yield from ("", "## What to do next", "")
    found = {o.problem for o in unsynced if o.problem}
    steps = [advice for problem, advice in NEXT_STEPS.items() if problem in found]
    if report.dry_run:
        steps.append("Read the plan, then run `python sync.py` to apply it.")
    elif not unsynced:
        steps.append("Nothing: every row is linked. `python sync.py --verify` audits the result at any time.")
    else:
        steps.append("After fixing, run `python sync.py` again: it only does what is left.")
    yield from (f"{i}. {step}" for i, step in enumerate(steps, 1))


def write_csv(report: Report, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["kind", "row_id", "label", "result", "stripe_id", "stale_id", "detail"])
        for o in report.outcomes:
            writer.writerow(
                [o.kind.singular, o.row_id, o.label, o.result, o.stripe_id or "", o.stale_id or "", o.detail]
            )


def write_all(report: Report, folder: Path, started: datetime) -> Path:
    """JSON for machines, Markdown for people, CSV of rows and ids; returns the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{'plan' if report.dry_run else 'sync'}-{started:%Y%m%d-%H%M%S}"
    report.write_json(stem.with_suffix(".json"))
    write_csv(report, stem.with_suffix(".csv"))
    with stem.with_suffix(".md").open("w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in markdown(report, started))
    return stem.with_suffix(".md")
