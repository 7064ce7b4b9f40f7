"""What the support engineer reads: the plan or the run, item by item, with the money in totals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cohabs.shared.money import format_minor
from cohabs.shared.reports import (
    Code,
    CsvTable,
    JsonReport,
    Privacy,
    Provenance,
    md_table,
    md_text,
    provenance_markdown,
    write_report_set,
)
from cohabs.support.plan import Action, Item, Job, Plan, Problem
from cohabs.support.run import SupportRun

# How an action reads before (dry run) and after (a run) it happens.
VERBS: dict[Action, tuple[str, str]] = {
    Action.COLLECT: ("will request", "requested"),
    Action.RECORD: ("will record", "recorded"),
    Action.TRANSFER: ("will transfer", "transferred"),
    Action.DONE: ("done before", "done before"),
    Action.REPORT: ("reported", "reported"),
}
STYLES: dict[Action, dict[str, Any]] = {
    Action.COLLECT: {"fg": "green"},
    Action.RECORD: {"fg": "cyan"},
    Action.TRANSFER: {"fg": "green"},
    Action.DONE: {"dim": True},
    Action.REPORT: {"fg": "yellow", "bold": True},
}
TITLES = {Job.DISPUTES: "Disputed payments", Job.TRANSFERS: "Rent transfers to houses"}

# Advice per problem; `{tool}` is the command as the person ran it (`python support.py`, `cohabs-support`).
NEXT_STEPS: dict[Problem, str] = {
    Problem.NO_ROW: "A dispute matches no payments row: find the payment by hand (its charge is on the line).",
    Problem.AMBIGUOUS_ROW: "Several rows hold one disputed charge: keep one, then run `{tool} disputes` again.",
    Problem.NO_DISPUTE: "A row says disputed=1 but Stripe has no dispute on it: check the row's charge id.",
    Problem.NOTHING_WITHDRAWN: "Disputes that took no money (inquiries, won): nothing to re-collect; watch them in Stripe.",
    Problem.NO_CUSTOMER: "The disputed charge has no customer: ask the tenant to pay by hand.",
    Problem.NO_DESCRIPTION: "Give the disputed charge a description in Stripe, then run again.",
    Problem.CURRENCY: "Stripe takes no bank transfer in that currency: re-collect by hand.",
    Problem.ID_TAKEN: "The row id derived for a dispute belongs to another row: look at that row before anything else.",
    Problem.REQUEST_MISSING: "A re-collection row names a request Stripe does not list: check it in the dashboard.",
    Problem.DUPLICATE_REQUEST: "More than one request names a dispute: cancel the extra one in Stripe.",
    Problem.MAYBE_HANDLED: "A bank transfer request that names no dispute may be a re-collection made by hand: if it "
    "is, add its row by hand; if not, cancel it in Stripe, then run again.",
    Problem.STRIPE: "Stripe refused or did not answer: run again; what was made is found, never made twice.",
    Problem.NOT_STORED: "A request exists but its row could not be written: fix the database error, run again.",
    Problem.DISPUTED: "Disputed payments are never paid out: `{tool} disputes` re-collects them.",
    Problem.PENDING: "Pending payments wait: run `{tool} transfers` again once they settle.",
    Problem.PAID_ZERO: "Rows with paid 0 but a charge id: compare each with its charge in Stripe and fix the row.",
    Problem.NOT_PAID_IN_FULL: "Partly paid rows are never paid out: settle them, then run again.",
    Problem.NO_CHARGE_ID: "Rows without a charge id cannot be paid out: find their charge, or leave them.",
    Problem.UNKNOWN_ID: "Some stripeChargeId values are no Stripe charge id: correct them.",
    Problem.DUE_AFTER_LEASE: "Payments due after their lease ended: check the lease's end date or void the payment.",
    Problem.ACCOUNT_MISSING: "A house's stripeAccountId is not a connected account (check O against 0): correct it.",
    Problem.NO_ACCOUNT_ID: "Give the listed houses their stripeAccountId, then run again.",
    Problem.HOUSE_WITHOUT_PAYMENT: "Houses with no payment at all: check that their rent is being billed.",
    Problem.AMOUNT_MISMATCH: "A row's amount differs from its charge: correct the row, then run again.",
    Problem.TRANSFERRED_ELSEWHERE: "A charge already went to another house: reverse the wrong transfer by hand.",
    Problem.TRANSFER_REVERSED: "A transfer of this rent was reversed: decide whether the house is still owed it.",
    Problem.TRANSFER_UNCLEAR: "A transfer in the charge's transfer group names no charge: check whether it paid this rent.",
    Problem.SHARED_CHARGE: "Several rows hold one charge: keep one, then run again.",
    Problem.BAD_AMOUNT: "Correct the listed amounts (NULL, zero or negative), then run again.",
    Problem.NO_LEASE: "Payments whose lease does not exist: correct their leaseId.",
    Problem.NO_HOUSE: "Leases whose house does not exist: correct their houseId.",
    Problem.HOUSE_CLOSED: "Rent of a deleted or inactive house is never paid out: pay it by hand if it is still owed.",
    Problem.CHARGE_MISSING: "Rows whose charge Stripe does not know: check the charge id against the dashboard.",
    Problem.CHARGE_NOT_SUCCEEDED: "Charges that did not succeed are never paid out: fix the row's paid amount.",
    Problem.CHARGE_REFUNDED: "Refunded charges are never paid out: mark the rows refunded.",
    Problem.CHARGE_DISPUTED: "Charges disputed in Stripe are never paid out: run `{tool} disputes`.",
}


def _tag(action: Action, dry_run: bool) -> str:
    return click.style(f"[{VERBS[action][0 if dry_run else 1]}]", **STYLES[action])


def _verb(item: Item, dry_run: bool) -> str:
    return VERBS[item.action][0 if dry_run else 1] + (" (failed)" if item.failed else "")


def _where(item: Item) -> str:
    parts = [
        f"payment {item.payment_id}" if item.payment_id and not item.subject.startswith("payment") else "",
        f"lease {item.lease_id}" if item.lease_id else "",
        f"house {item.house}" if item.house else "",
        f"account {item.account}" if item.account else "",
    ]
    return " · ".join(p for p in parts if p)


def totals_lines(plan: Plan) -> Iterator[tuple[str, str]]:
    for label, action in (("requested from tenants", Action.COLLECT), ("paid to houses", Action.TRANSFER)):
        found = plan.totals(action)
        yield label, ", ".join(format_minor(v, c) for c, v in found.items()) or "nothing"


def headline(run: SupportRun) -> str:
    attention = sum(1 for i in run.plan.items if i.attention)
    return f"{attention} item(s) need a person." if attention else "Nothing needs a person."


def render(run: SupportRun, target: str = "", verbosity: int = 1) -> Iterator[str]:
    """Text for a terminal (click strips the colours in a pipe): 0 only what needs a person, 2 with Stripe ids."""
    plan, dry = run.plan, run.dry_run
    yield click.style(f"{TITLES[plan.job]}: " + ("plan (dry run: nothing was changed)" if dry else "run"), bold=True)
    if target:
        yield f"Target: {target}"
    yield ""
    for item in plan.items if verbosity else [i for i in plan.items if i.attention]:
        money = f"  {item.money}" if item.money else ""
        yield f"{_tag(item.action, dry)}{' (failed)' if item.failed else ''} {item.subject}{money}"
        where = _where(item)
        if where:
            yield f"    {where}"
        yield f"    Stripe:   {item.stripe_state or '-'}"
        yield f"    Database: {item.db_state or '-'}"
        if verbosity >= 2 and item.stripe_id:
            yield f"    Stripe id: {item.stripe_id}"
        yield f"    → {item.reason}"
    yield from ("", click.style("Totals" + (" (planned)" if dry else ""), bold=True))
    for label, value in totals_lines(plan):
        yield f"  {label}: {value}"
    if not dry:
        yield f"  Stripe requests: {run.requests} ({run.throttled} rate-limited) in {run.seconds:.1f}s"
    attention = any(i.attention for i in plan.items)
    yield from ("", click.style(headline(run), fg="red" if attention else "green", bold=True))


def next_steps(run: SupportRun, tool: str) -> list[str]:
    """Advice for every problem found, then what to run next, naming the command as the person ran it."""
    found = {p for i in run.plan.items if i.problem for p in (i.problem, *i.more)}
    steps = [advice.format(tool=tool) for problem, advice in NEXT_STEPS.items() if problem in found]
    command = f"{tool} {run.plan.job.value}"
    if run.dry_run:
        steps.append(f"Read the plan, then run `{command}` to apply it.")
    else:
        steps.append(f"`{command}` again only does what is left.")
    return steps


COLUMNS = ("item", "action", "payment", "lease", "house", "account", "amount", "Stripe", "database", "why")


def _cells(item: Item, dry_run: bool, privacy: Privacy) -> list[object]:
    return [
        item.subject,
        _verb(item, dry_run),
        Code(item.payment_id) if item.payment_id else None,
        Code(item.lease_id) if item.lease_id else None,
        item.house,
        Code(item.account) if item.account else None,
        item.money,
        privacy(item.stripe_state),
        privacy(item.db_state),
        privacy(item.reason),
    ]


def markdown(run: SupportRun, provenance: Provenance, privacy: Privacy) -> Iterator[str]:
    """A report to paste into a ticket: where it ran, the money, every item, what to do next."""
    plan, dry = run.plan, run.dry_run
    what = "dry run (nothing was changed)" if dry else "run"
    yield from (f"# {TITLES[plan.job]} — {what}, {provenance.started:%Y-%m-%d %H:%M} UTC", "")
    yield from provenance_markdown(provenance, privacy)
    yield from ("", "## Summary", "", f"**{md_text(headline(run))}**", "")
    yield from md_table(("money", "planned" if dry else "done"), totals_lines(plan))
    if not dry:
        yield from (
            "",
            f"Stripe requests: {run.requests} ({run.throttled} rate-limited), {run.seconds:.0f} s.",
        )
    yield from ("", "## Items", "")
    yield from md_table(COLUMNS, (_cells(i, dry, privacy) for i in plan.items))
    yield from ("", "## What to do next", "")
    # Our own advice, written as Markdown (code spans), like the sync's: nothing from a row or Stripe in it.
    yield from (f"{n}. {step}" for n, step in enumerate(next_steps(run, provenance.tool), 1))


def _row(item: Item, dry_run: bool, privacy: Privacy) -> dict[str, Any]:
    return {
        "item": item.subject,
        "action": item.action.value,
        "done": None if dry_run or item.action in (Action.REPORT, Action.DONE) else not item.failed,
        "problem": item.problem.value if item.problem else None,
        "payment_id": item.payment_id,
        "lease_id": item.lease_id,
        "house": item.house,
        "account": item.account,
        "amount": item.amount,
        "currency": item.currency,
        "stripe_state": privacy(item.stripe_state),
        "db_state": privacy(item.db_state),
        "reason": privacy(item.reason),
        "stripe_id": item.stripe_id,
    }


def report_json(run: SupportRun, provenance: Provenance, privacy: Privacy) -> JsonReport:
    plan = run.plan
    fields = {
        "job": plan.job.value,
        "mode": "dry-run" if run.dry_run else "run",
        "totals": {"requested": plan.totals(Action.COLLECT), "paid": plan.totals(Action.TRANSFER)},
        "notes": plan.notes,
        "stripe": {"requests": run.requests, "rate_limited": run.throttled},
        "seconds": round(run.seconds, 3),
    }
    rows = (_row(i, run.dry_run, privacy) for i in plan.items)
    return JsonReport.of(provenance, privacy, fields, rows, key="items")


def write_reports(run: SupportRun, provenance: Provenance, *, folder: Path, privacy: Privacy) -> list[Path]:
    """Markdown for a ticket, JSON for machines, CSV of the items, under one stem no other run holds."""
    prefix = f"support-{run.plan.job.value}-{'plan' if run.dry_run else 'run'}"
    table = CsvTable(
        COLUMNS,
        ([str(c) if c is not None else None for c in _cells(i, run.dry_run, privacy)] for i in run.plan.items),
    )
    return write_report_set(
        folder,
        prefix,
        provenance,
        markdown(run, provenance, privacy),
        report_json(run, provenance, privacy),
        table,
    )
