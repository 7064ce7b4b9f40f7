"""What --verify found, and for each finding who fixes it: a sync, or a person.

The answer comes from the plan a sync would make against the same account (one
definition of correct): a row the plan creates, adopts, replaces, repairs or
cancels is a sync's job; a row it skips, or a subscription the sync never
changes once linked (its price, customer or product), is a person's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from cohabs.shared import reports as reporting
from cohabs.shared.reports import Code, JsonReport, Ours, Privacy, Provenance, md_table, md_text
from cohabs.sync.plan import COLLECTION_FIELDS, Action, Plan, Step
from cohabs.sync.problems import Drift
from cohabs.sync.readiness import Billable, Readiness
from cohabs.sync.rows import Kind
from cohabs.sync.run_report import NEXT_STEPS, readiness_lines, readiness_steps
from cohabs.sync.run_report_files import readiness_json, readiness_markdown
from cohabs.sync.verify import Finding


class Remedy(StrEnum):
    SYNC = "sync"  # a sync repairs it
    PERSON = "person"  # someone must decide; the sync will not


LINK_DRIFTS = frozenset({Drift.NOT_LINKED, Drift.MISSING, Drift.WRONG_KIND, Drift.LINKED_ELSEWHERE})

# Subscriptions already linked are never re-priced or moved by the sync: changing one prorates or bills someone else.
PERSON_ADVICE: dict[Drift, str] = {
    Drift.WRONG_AMOUNT: "The sync never re-prices a linked subscription (that would prorate): change the price in "
    "Stripe, or correct the lease's `rentAmount` if the lease is wrong.",
    Drift.WRONG_CURRENCY: "A subscription cannot change currency: cancel it in Stripe and clear "
    "`stripeSubscriptionId`, or correct the lease's hub; the next sync links a new one.",
    Drift.WRONG_CUSTOMER: "The subscription bills another customer than the lease's tenant: decide which is right; "
    "if the lease is, cancel it in Stripe and clear `stripeSubscriptionId`, then sync.",
    Drift.WRONG_PRODUCT: "The subscription is for another room's product: decide which is right; if the lease is, "
    "cancel it in Stripe and clear `stripeSubscriptionId`, then sync.",
    Drift.CANCELLED_EARLY: "The lease is ongoing but its subscription is cancelled: check the lease's status and "
    "`endDate`; if it is ongoing, clear `stripeSubscriptionId` and sync to link a new subscription.",
    Drift.NOT_CANCELLED: "The lease is over but its subscription is not cancelled, and the sync would not cancel "
    "it: cancel it in Stripe (without invoicing).",
    Drift.UNCLAIMED: "An object carries a cohabs id that no row stores (a duplicate, or its row was deleted): "
    "check it in Stripe, then delete or archive it there.",
    Drift.WRONG_END: "The subscription stops billing on another date than the lease's end: correct the lease's "
    "`endDate`, or the subscription's cancellation date in Stripe.",
    Drift.BILLED_TWICE: "Two subscriptions bill one tenant for one room and the same dates: cancel one in Stripe "
    "and void or delete the duplicated lease.",
}


@dataclass(frozen=True, slots=True)
class Advice:
    remedy: Remedy
    what: str


def _sync_does(step: Step) -> str:
    if step.action is Action.CREATE:
        return "a sync creates its object and stores the new id"
    if step.action is Action.ADOPT:
        return f"a sync stores {step.stripe_id}, which already links to this row"
    if step.cancel:
        return "a sync cancels it (no invoice, no proration)"
    fields = sorted((step.repair or {}).keys() - {"metadata"} - COLLECTION_FIELDS)
    does = [
        f"sets its {', '.join(fields)} again from the row" if fields else "",
        f"switches it to {step.switch.becomes} (no amount changes, nothing is prorated)" if step.switch else "",
    ]
    return "a sync " + (" and ".join(filter(None, does)) or "sets the object's link again")


def advise(finding: Finding, steps: Mapping[tuple[Kind, str], Step], adopters: Mapping[str, Step]) -> Advice:
    if finding.drift is Drift.UNCLAIMED:
        step = adopters.get(finding.label)
        if step is not None:
            return Advice(Remedy.SYNC, f"a sync links it to {step.kind.singular} {step.row_id}")
        return Advice(Remedy.PERSON, PERSON_ADVICE[Drift.UNCLAIMED])
    step = steps.get((finding.kind, finding.row_id or ""))
    if step is not None and step.problem is None:  # the plan has nothing for a person: a sync settles it
        return Advice(Remedy.SYNC, _sync_does(step))
    if finding.drift in LINK_DRIFTS:
        why = step.reason if step else "the row is not in the plan"
        # The finding usually states the cause already: the advice says it once, not twice.
        cannot = "A sync cannot link it." if why in finding.problem else f"A sync cannot link it: {why}."
        advice = NEXT_STEPS.get(step.problem) if step and step.problem else None
        return Advice(Remedy.PERSON, " ".join(filter(None, [cannot, advice])))
    fallback = NEXT_STEPS.get(step.problem, "") if step and step.problem else ""
    return Advice(Remedy.PERSON, PERSON_ADVICE.get(finding.drift, fallback))


@dataclass(frozen=True)
class AuditReport:
    """The audit: links and billing (`findings`), then whether tenants can pay (`readiness`).

    The two are kept apart: a finding is a row the sync reports as not synced (the same rows, by
    construction), while a tenant who cannot pay yet is linked as it should be and waits for a person
    (a payment method, an email) before its first rent date.
    """

    findings: list[tuple[Finding, Advice]]
    database_rows: dict[Kind, int]
    objects: int  # Stripe objects read
    readiness: Readiness = field(default_factory=Readiness)  # the account as it is, not as a sync would leave it

    @classmethod
    def of(
        cls,
        findings: list[Finding],
        plan: Plan,
        database_rows: dict[Kind, int],
        objects: int,
        readiness: Readiness | None = None,
    ) -> AuditReport:
        steps = {(s.kind, s.row_id): s for k in Kind for s in plan.steps[k]}
        adopters = {s.stripe_id: s for s in steps.values() if s.action is Action.ADOPT and s.stripe_id}
        findings_advised = [(f, advise(f, steps, adopters)) for f in findings]
        return cls(findings_advised, database_rows, objects, readiness or Readiness())

    @property
    def counts(self) -> Counter[Remedy]:
        return Counter(advice.remedy for _, advice in self.findings)

    @property
    def unready(self) -> list[tuple[Finding, Advice]]:
        """Each tenant who cannot pay yet, as a finding for a person with its advice."""
        return [(_unready_finding(b), Advice(Remedy.PERSON, b.advice())) for b in self.readiness.unready()]

    @property
    def clean(self) -> bool:
        return not self.findings and not self.readiness.unready()

    def headline(self) -> str:
        if self.clean:
            return "Verified: every row is linked to its own object, every lease bills as it should, and every tenant can pay."
        unready = len(self.readiness.unready())
        cannot_pay = f"{unready} subscription(s) whose tenant cannot pay yet (see how tenants pay)." if unready else ""
        if not self.findings:
            return f"Every row is linked and bills as it should, but {cannot_pay}"
        counts = self.counts
        return " ".join(
            filter(
                None,
                [
                    f"{len(self.findings)} problem(s) found: {counts[Remedy.SYNC]} a sync repairs, "
                    f"{counts[Remedy.PERSON]} need a person.",
                    f"Also {cannot_pay}" if cannot_pay else "",
                ],
            )
        )

    def checked(self) -> str:
        rows = ", ".join(f"{n} {kind.value}" for kind, n in self.database_rows.items())
        return f"Checked {rows} against {self.objects} Stripe objects."

    def next_steps(self, tool: str) -> list[str]:
        """What to do, naming the command as the person ran it (`tool`: `python sync.py`, `cohabs-relink`)."""
        counts = self.counts
        steps = []
        if counts[Remedy.SYNC]:
            steps.append(
                f"Run `{tool} --dry-run` to preview, then `{tool}`: it repairs the "
                f"{counts[Remedy.SYNC]} finding(s) marked `sync`."
            )
        if counts[Remedy.PERSON]:
            steps.append(
                f"Decide the {counts[Remedy.PERSON]} finding(s) marked `person`, each as its line says: "
                "the sync will not change them."
            )
        steps += readiness_steps(self.readiness, tool)
        if not self.clean:
            steps.append(f"Run `{tool} --verify` again to confirm.")
        else:
            steps.append("Nothing to do.")
        return steps

    def scrubbed(self, clean: Callable[[str], str]) -> AuditReport:
        return replace(
            self,
            findings=[
                (replace(f, label=clean(f.label), problem=clean(f.problem)), replace(a, what=clean(a.what)))
                for f, a in self.findings
            ],
            readiness=self.readiness.scrubbed(clean),
        )


def _unready_finding(b: Billable) -> Finding:
    return Finding(Kind.LEASE, b.lease_id, b.label, b.problem(), Drift(b.state.value))


def _where(finding: Finding) -> str:
    if finding.row_id:
        return f"{finding.kind.singular} {finding.row_id} ({finding.label})"
    return f"{finding.kind.singular} object"


def render(audit: AuditReport, provenance: Provenance, verbosity: int = 1) -> Iterator[str]:
    """The console: with -q (0) only the verdict and its counts; the readiness list is in the Markdown report."""
    yield click.style("Verify (read-only: nothing was changed)", bold=True)
    yield f"Target: {provenance.target}"
    yield audit.checked()
    if verbosity == 0:
        yield click.style(audit.headline(), fg="green" if audit.clean else "red", bold=True)
        return
    yield ""
    for finding, advice in audit.findings:
        tag = click.style(f"[{advice.remedy}]", fg="yellow" if advice.remedy is Remedy.SYNC else "red", bold=True)
        yield f"  {tag} {_where(finding)}: {finding.problem}"
        yield f"      → {advice.what}"
    if audit.readiness.billable:
        person = click.style(f"[{Remedy.PERSON}]", fg="red", bold=True)
        yield from readiness_lines(audit.readiness, verbosity, mark=person)
    if not audit.clean:
        yield ""
        yield from (f"{i}. {step}" for i, step in enumerate(audit.next_steps(provenance.tool), 1))
        yield ""
    yield click.style(audit.headline(), fg="green" if audit.clean else "red", bold=True)


def markdown(audit: AuditReport, provenance: Provenance, privacy: Privacy) -> Iterator[str]:
    yield from (f"# Stripe relink — Verify (read-only), {provenance.started:%Y-%m-%d %H:%M} UTC", "")
    yield from reporting.provenance_markdown(provenance, privacy)
    yield from ("", "## Result", "", f"**{md_text(audit.headline())}**", "", md_text(audit.checked()))
    if audit.findings:
        yield from ("", "## Findings", "")
        yield "`sync`: running the sync repairs it. `person`: someone must decide; the sync will not change it."
        yield ""
        yield from md_table(
            ["kind", "row", "label", "finding", "who", "what to do"],
            (
                [f.kind.singular, Code(f.row_id or ""), f.label, f.problem, a.remedy.value, Ours(a.what)]
                for f, a in audit.findings
            ),
        )
    if audit.readiness.billable:
        yield from readiness_markdown(audit.readiness)
        if audit.unready:
            yield from ("", "Each tenant who cannot pay yet is a finding for a person:", "")
            yield from md_table(
                ["finding", "lease", "what to do"],
                ([f.problem, Code(f.row_id or ""), Ours(a.what)] for f, a in audit.unready),
            )
    yield from ("", "## What to do next", "")
    yield from (f"{i}. {step}" for i, step in enumerate(audit.next_steps(provenance.tool), 1))


def _finding_json(finding: Finding, advice: Advice) -> dict[str, Any]:
    return {
        "kind": finding.kind.singular,
        "row_id": finding.row_id,
        "label": finding.label,
        "drift": finding.drift,
        "problem": finding.problem,
        "remedy": advice.remedy,
        "advice": advice.what,
    }


def audit_json(audit: AuditReport, provenance: Provenance, privacy: Privacy) -> JsonReport:
    head = {
        "mode": "verify",
        "consistent": not audit.findings,
        "headline": audit.headline(),
        "database_rows": {k.value: n for k, n in audit.database_rows.items()},
        "stripe_objects": audit.objects,
        "counts": {remedy.value: audit.counts[remedy] for remedy in Remedy},
        "can_all_pay": not audit.readiness.unready(),
        "readiness": readiness_json(audit.readiness),
    }
    return JsonReport.of(provenance, privacy, head, (_finding_json(f, a) for f, a in audit.findings), "findings")


def write_audit_reports(audit: AuditReport, provenance: Provenance, folder: Path, privacy: Privacy) -> list[Path]:
    """Markdown and JSON under a name no other run holds."""
    return reporting.write_report_set(
        folder, "verify", provenance, markdown(audit, provenance, privacy), audit_json(audit, provenance, privacy)
    )
