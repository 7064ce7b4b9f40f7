"""The run's account: counts per kind, a line per row needing attention, JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .billing import Mode
from .execute import ADOPTED, CREATED, KEPT, REPLACED, RESULTS, SKIPPED, Outcome
from .money import format_minor
from .plan import Action, Billing, Plan, Step
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

    @property
    def counts(self) -> dict[Kind, Counter[str]]:
        counts: dict[Kind, Counter[str]] = {k: Counter() for k in self.kinds}
        for outcome in self.outcomes:
            counts[outcome.kind][outcome.result] += 1
        return counts

    @property
    def unsynced(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.synced]

    def attention(self) -> list[Outcome]:
        """Rows that were not simply created or kept."""
        return [o for o in self.outcomes if o.result not in (CREATED, KEPT) or o.detail]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "dry-run" if self.dry_run else "sync",
            "counts": {k.value: {r: self.counts[k][r] for r in RESULTS} for k in self.kinds},
            "rows": [_row_json(o, self.billing.get(o.row_id) if o.kind is Kind.LEASE else None) for o in self.outcomes],
            "notes": self.notes,
            "stripe": {"requests": self.requests, "rate_limited": self.throttled},
            "seconds": round(self.seconds, 3),
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


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
    result = {Action.CREATE: CREATED, Action.KEEP: KEPT, Action.ADOPT: ADOPTED, Action.SKIP: SKIPPED}[step.action]
    if step.stale_id and step.action in (Action.CREATE, Action.ADOPT):
        result = REPLACED
    detail = step.reason if result != CREATED else ""
    if step.cancel:
        detail = "; ".join(filter(None, [detail, "ended lease: its subscription will be cancelled"]))
    return Outcome(step.kind, step.row_id, step.label, result, step.stripe_id, detail, step.stale_id, step.notes)


def render(report: Report) -> str:
    title = "Plan (dry run: nothing was changed)" if report.dry_run else "Sync report"
    lines = [title, ""]
    counts = report.counts
    header = f"  {'':8}" + "".join(f"{r.replace('_', '-'):>16}" for r in RESULTS)
    lines.append(header)
    for kind in report.kinds:
        lines.append(f"  {kind.value:8}" + "".join(f"{counts[kind][r]:>16}" for r in RESULTS))
    attention = report.attention()
    if attention:
        lines += ["", "Rows not simply created or kept:"]
        for o in attention:
            target = f" -> {o.stripe_id}" if o.stripe_id else ""
            lines.append(
                f"  [{o.result.replace('_', '-')}] {o.kind.singular} {o.row_id} ({o.label}){target}: {o.detail}"
            )
    if report.billing:
        labels = {o.row_id: o.label for o in report.outcomes if o.kind is Kind.LEASE}
        lines += ["", "What each new subscription bills:"]
        for row_id, billing in sorted(report.billing.items(), key=lambda item: labels.get(item[0], item[0])):
            lines.append(f"  lease {row_id} ({labels.get(row_id, '')}): {describe_billing(billing)}")
    notes = Counter(n for o in report.outcomes for n in o.notes)
    if notes or report.notes:
        lines += ["", "Notes:"]
        lines += [f"  {note}: {count} row(s)" for note, count in sorted(notes.items())]
        lines += [f"  {note}" for note in report.notes]
    if not report.dry_run:
        lines += [
            "",
            f"Stripe requests: {report.requests} ({report.throttled} rate-limited) in {report.seconds:.1f}s",
        ]
    unsynced = len(report.unsynced)
    lines += ["", f"{unsynced} row(s) not synced." if unsynced else "All rows synced."]
    return "\n".join(lines)
