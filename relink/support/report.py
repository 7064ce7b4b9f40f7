"""What the support engineer reads: the plan or the run, item by item, with the money in totals."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..money import format_minor
from .app import Outcome
from .plan import Action, Item, Job, Plan, Problem

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

NEXT_STEPS: dict[Problem, str] = {
    Problem.NO_ROW: "A dispute matches no payments row: find the payment by hand (its charge is on the line).",
    Problem.AMBIGUOUS_ROW: "Several rows hold one disputed charge: keep one, then run `support.py disputes` again.",
    Problem.NO_DISPUTE: "A row says disputed=1 but Stripe has no dispute on it: check the row's charge id.",
    Problem.NOTHING_WITHDRAWN: "Disputes that took no money (inquiries, won): nothing to re-collect; watch them in Stripe.",
    Problem.NO_CUSTOMER: "The disputed charge has no customer: ask the tenant to pay by hand.",
    Problem.NO_DESCRIPTION: "Give the disputed charge a description in Stripe, then run again.",
    Problem.CURRENCY: "Stripe takes no bank transfer in that currency: re-collect by hand.",
    Problem.ID_TAKEN: "The row id derived for a dispute belongs to another row: look at that row before anything else.",
    Problem.REQUEST_MISSING: "A re-collection row names a request Stripe does not list: check it in the dashboard.",
    Problem.DUPLICATE_REQUEST: "More than one request names a dispute: cancel the extra one in Stripe.",
    Problem.STRIPE: "Stripe refused or did not answer: run again; what was made is found, never made twice.",
    Problem.NOT_STORED: "A request exists but its row could not be written: fix the database error, run again.",
    Problem.DISPUTED: "Disputed payments are never paid out: `support.py disputes` re-collects them.",
    Problem.PENDING: "Pending payments wait: run `support.py transfers` again once they settle.",
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
    Problem.SHARED_CHARGE: "Several rows hold one charge: keep one, then run again.",
    Problem.BAD_AMOUNT: "Correct the listed amounts (NULL, zero or negative), then run again.",
    Problem.NO_LEASE: "Payments whose lease does not exist: correct their leaseId.",
    Problem.NO_HOUSE: "Leases whose house does not exist: correct their houseId.",
    Problem.HOUSE_CLOSED: "Rent of a deleted or inactive house is never paid out: pay it by hand if it is still owed.",
    Problem.CHARGE_MISSING: "Rows whose charge Stripe does not know: check the charge id against the dashboard.",
    Problem.CHARGE_NOT_SUCCEEDED: "Charges that did not succeed are never paid out: fix the row's paid amount.",
    Problem.CHARGE_REFUNDED: "Refunded charges are never paid out: mark the rows refunded.",
    Problem.CHARGE_DISPUTED: "Charges disputed in Stripe are never paid out: run `support.py disputes`.",
}


def _tag(action: Action, dry_run: bool) -> str:
    return click.style(f"[{VERBS[action][0 if dry_run else 1]}]", **STYLES[action])


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


def render(outcome: Outcome) -> Iterator[str]:
    """Text for a terminal (click strips the colours in a pipe)."""
    plan, dry = outcome.plan, outcome.dry_run
    title = f"{TITLES[plan.job]}: " + ("plan (dry run: nothing was changed)" if dry else "run")
    yield from (click.style(title, bold=True), "")
    for item in plan.items:
        money = f"  {item.money}" if item.money else ""
        yield f"{_tag(item.action, dry)}{'[failed]' if item.failed else ''} {item.subject}{money}"
        where = _where(item)
        if where:
            yield f"    {where}"
        yield f"    Stripe:   {item.stripe_state or '-'}"
        yield f"    Database: {item.db_state or '-'}"
        yield f"    → {item.reason}"
    yield from ("", click.style("Totals" + (" (planned)" if dry else ""), bold=True))
    for label, value in totals_lines(plan):
        yield f"  {label}: {value}"
    if not dry:
        yield f"  Stripe requests: {outcome.requests} ({outcome.throttled} rate-limited) in {outcome.seconds:.1f}s"
    attention = [i for i in plan.items if i.attention]
    verdict = f"{len(attention)} item(s) need a person." if attention else "Nothing needs a person."
    yield from ("", click.style(verdict, fg="red" if attention else "green", bold=True))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(outcome: Outcome, started: datetime) -> Iterator[str]:
    plan, dry = outcome.plan, outcome.dry_run
    what = "dry run (nothing was changed)" if dry else "run"
    yield from (f"# {TITLES[plan.job]} — {what}, {started:%Y-%m-%d %H:%M} UTC", "", "## Totals", "")
    yield from ("| | " + ("planned" if dry else "done") + " |", "|---|---|")
    yield from (f"| {label} | {value} |" for label, value in totals_lines(plan))
    if not dry:
        yield f"\nStripe requests: {outcome.requests} ({outcome.throttled} rate-limited), {outcome.seconds:.0f} s."
    yield from (
        "",
        "## Items",
        "",
        "| item | action | payment | lease | house | account | amount | Stripe | database | why |",
        "|---|---|---|---|---|---|---|---|---|---|",
    )
    for i in plan.items:
        action = VERBS[i.action][0 if dry else 1] + (" (failed)" if i.failed else "")
        cells = [i.subject, action, i.payment_id, i.lease_id, i.house, i.account, i.money]
        cells += [i.stripe_state, i.db_state, i.reason]
        yield "| " + " | ".join(_cell(c or "") for c in cells) + " |"
    yield from ("", "## What to do next", "")
    found = {i.problem for i in plan.items if i.problem}
    steps = [advice for problem, advice in NEXT_STEPS.items() if problem in found]
    command = f"python support.py {plan.job.value}"
    steps.append(
        f"Read the plan, then run `{command}` to apply it." if dry else f"`{command}` again only does what is left."
    )
    yield from (f"{n}. {step}" for n, step in enumerate(steps, 1))


def _item_json(item: Item, dry_run: bool) -> dict[str, Any]:
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
        "stripe_state": item.stripe_state,
        "db_state": item.db_state,
        "reason": item.reason,
        "stripe_id": item.stripe_id,
    }


def write_all(outcome: Outcome, folder: Path, started: datetime) -> Path:
    """Markdown for a ticket, JSON for machines, CSV of the items; returns the Markdown path."""
    plan = outcome.plan
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"support-{plan.job.value}-{'plan' if outcome.dry_run else 'run'}-{started:%Y%m%d-%H%M%S}"
    head = {
        "job": plan.job.value,
        "mode": "dry-run" if outcome.dry_run else "run",
        "totals": {
            label.replace(" ", "_"): plan.totals(a)
            for label, a in (("requested", Action.COLLECT), ("paid", Action.TRANSFER))
        },
        "notes": plan.notes,
        "stripe": {"requests": outcome.requests, "rate_limited": outcome.throttled},
        "seconds": round(outcome.seconds, 3),
        "items": [_item_json(i, outcome.dry_run) for i in plan.items],
    }
    stem.with_suffix(".json").write_text(json.dumps(head, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    with stem.with_suffix(".csv").open("w", newline="", encoding="utf-8") as out:
        rows = [_item_json(i, outcome.dry_run) for i in plan.items]
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["item"])
        writer.writeheader()
        writer.writerows(rows)
    with stem.with_suffix(".md").open("w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in markdown(outcome, started))
    return stem.with_suffix(".md")
