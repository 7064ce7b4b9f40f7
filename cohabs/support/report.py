"""What the support engineer reads: what needs a person first, then the money moved, then the routine.

Every item carries its amount; a re-collection carries what the tenant needs
to pay it (amount remaining, reference, bank details, instructions link).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from cohabs.shared.money import format_minor, to_major
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
from cohabs.support.items import WRITES, Action, Incident, Item, Plan, Problem
from cohabs.support.objects import PayInstructions
from cohabs.support.run import SupportRun

# How an action reads before (dry run) and after (a run) it happens.
VERBS: dict[Action, tuple[str, str]] = {
    Action.CANCEL: ("will cancel", "canceled"),
    Action.COLLECT: ("will request", "requested"),
    Action.RECORD: ("will record", "recorded"),
    Action.TRANSFER: ("will transfer", "transferred"),
    Action.WAIT: ("waiting for the tenant", "waiting for the tenant"),
    Action.DONE: ("done before", "done before"),
    Action.REPORT: ("reported", "reported"),
}
STYLES: dict[Action, dict[str, Any]] = {
    Action.CANCEL: {"fg": "magenta"},
    Action.COLLECT: {"fg": "green"},
    Action.RECORD: {"fg": "cyan"},
    Action.TRANSFER: {"fg": "green"},
    Action.WAIT: {"fg": "cyan"},
    Action.DONE: {"dim": True},
    Action.REPORT: {"fg": "yellow", "bold": True},
}
TITLES = {Incident.DISPUTES: "Disputed payments", Incident.TRANSFERS: "Rent transfers to houses"}

# Advice per problem; `{tool}` is the command as the person ran it (`python support.py`, `cohabs-support`).
NEXT_STEPS: dict[Problem, str] = {
    Problem.NO_ROW: "A dispute matches no payments row: find the payment by hand (its charge is on the line).",
    Problem.AMBIGUOUS_ROW: "Several rows hold one disputed charge: keep one, then run `{tool} disputes` again.",
    Problem.NO_DISPUTE: "A row says disputed=1 but Stripe has no dispute on it: check the row's charge id.",
    Problem.NOTHING_WITHDRAWN: "Inquiries (warning_…) took no money yet: nothing to re-collect; answer them in Stripe, "
    "and run `{tool} disputes` again if one becomes a chargeback.",
    Problem.NO_CUSTOMER: "The disputed charge has no customer: ask the tenant to pay by hand.",
    Problem.NO_DESCRIPTION: "Give the disputed charge a description in Stripe, then run again.",
    Problem.CURRENCY: "Stripe takes no bank transfer in that currency: re-collect by hand.",
    Problem.ID_TAKEN: "The row id derived for a dispute belongs to another row: look at that row before anything else.",
    Problem.REQUEST_MISSING: "A re-collection row names a request Stripe does not list: check it in the dashboard.",
    Problem.DUPLICATE_REQUEST: "More than one request names a dispute: cancel the extra one in Stripe.",
    Problem.MAYBE_HANDLED: "A bank transfer request that names no dispute may be a re-collection made by hand: if it "
    "is, add its row by hand; if not, cancel it in Stripe, then run again.",
    Problem.RETURNED_UNPAID: "The dispute gave the money back after the tenant was asked to pay it again, and the "
    "request is unpaid: cancel it in Stripe, or run `{tool} disputes --cancel-won-requests`.",
    Problem.RETURNED_PAID: "The dispute gave the money back after the tenant paid it again: refund the tenant in "
    "Stripe (the tool never refunds); the item names the request and what was paid.",
    Problem.REQUEST_CANCELED: "A re-collection was canceled while its dispute keeps the money: ask the tenant again "
    "by hand, and record it.",
    Problem.STRIPE: "Stripe refused or did not answer: fix the cause it names, then run again; what was made is "
    "found, never made twice, and a refusal Stripe stored is not replayed to the next run.",
    Problem.NOT_STORED: "A request exists but its row could not be written: fix the database error, run again.",
    Problem.NOT_FINISHED: "The run stopped before some items: run the same command again to finish them; what "
    "was made is found, never made twice.",
    Problem.DISPUTED: "Disputed payments are never paid out: `{tool} disputes` re-collects them (the house is paid "
    "from the re-collection once the tenant has paid); if a dispute was won, pay the house by hand.",
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
    Problem.TRANSFER_PARTLY_REVERSED: "Part of a transfer to a house was reversed: the item shows what was paid, "
    "reversed and owed; transfer what is owed by hand if the house should have it (never paid again in full).",
    Problem.PAID_OUT_TWICE: "A house holds a rent more than once (several transfers of it stand): reverse the "
    "extra transfer by hand.",
    Problem.TRANSFER_UNCLEAR: "A transfer in the charge's transfer group names no charge: check whether it paid this rent.",
    Problem.SHARED_CHARGE: "Several rows hold one charge: keep one, then run again.",
    Problem.BAD_AMOUNT: "Correct the listed amounts (NULL, zero or negative), then run again.",
    Problem.NO_LEASE: "Payments whose lease does not exist: correct their leaseId.",
    Problem.NO_HOUSE: "Leases whose house does not exist: correct their houseId.",
    Problem.HOUSE_CLOSED: "Rent of a deleted or inactive house is never paid out: pay it by hand if it is still owed.",
    Problem.CHARGE_MISSING: "Rows whose charge Stripe does not know: check the charge id against the dashboard.",
    Problem.CHARGE_NOT_SUCCEEDED: "Charges that did not succeed are never paid out: fix the row's paid amount.",
    Problem.CHARGE_REFUNDED: "Refunded charges are never paid out: mark the rows refunded.",
    Problem.CHARGE_PARTLY_REFUNDED: "A charge refunded in part is never paid out in full: the item shows what it "
    "took, what was refunded and what is left; decide what the house is owed and transfer it by hand.",
    Problem.REFUNDED_AFTER_TRANSFER: "Rent already paid to a house was refunded to the tenant since: decide whether "
    "to reverse that part from the house.",
    Problem.CURRENCY_MISMATCH: "A charge is not in the currency its house's account settles in (both are named): "
    "Stripe would convert it, so it is never paid out; pay that house by hand.",
    Problem.CANNOT_RECEIVE: "A house's account cannot receive transfers yet: finish its onboarding in Stripe (the "
    "transfers capability must be active), then run again; nothing was sent.",
    Problem.RECOLLECTION_PAID: "A tenant paid a re-collection: mark its row paid (paid = amount, pending 0, "
    "paymentDate), then run `{tool} transfers` again to pay the house.",
    Problem.CHARGE_DISPUTED: "Charges disputed in Stripe are never paid out: run `{tool} disputes`.",
}


SECTIONS = {
    "attention": ("Needs a person", "Needs a person"),
    "changes": ("Changes planned", "Changes made"),
    "waiting": ("Waiting for the tenant's bank transfer", "Waiting for the tenant's bank transfer"),
    "not_finished": ("Not finished", "Not finished: the run stopped before them, run again to finish"),
    "done": ("Done before", "Done before"),
}
NOT_YET = (
    "the amount, reference, bank details and instructions link to send the tenant appear once the request "
    "exists: the real run shows them"
)


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


def grouped(plan: Plan) -> dict[str, list[Item]]:
    """The items by section, in the order a reviewer reads them: what needs a person first."""
    sections: dict[str, list[Item]] = {name: [] for name in SECTIONS}
    for item in plan.items:
        if item.problem is Problem.NOT_FINISHED:  # a rerun finishes it: after what a person must decide
            sections["not_finished"].append(item)
        elif item.attention:
            sections["attention"].append(item)
        elif item.action in WRITES:
            sections["changes"].append(item)
        elif item.action is Action.WAIT:
            sections["waiting"].append(item)
        else:
            sections["done"].append(item)
    return sections


def advice(item: Item, tool: str) -> list[str]:
    return [NEXT_STEPS[p].format(tool=tool) for p in (item.problem, *item.more) if p is not None]


def pay_lines(item: Item, dry_run: bool) -> list[str]:
    """What to send the tenant for a re-collection, or when it will be known."""
    shown = item.instructions
    if shown is not None:
        remaining = format_minor(shown.amount_remaining, shown.currency)
        reference = f", reference {shown.reference}" if shown.reference else ", no reference given"
        lines = [f"Tenant pays: {remaining} remaining by bank transfer{reference}"]
        lines += [f"Bank: {address.text}" for address in shown.addresses] or ["Bank: Stripe gave no bank details"]
        lines.append(f"Instructions: {shown.url}" if shown.url else "Instructions: Stripe gave no hosted page")
        return lines
    if item.action is Action.COLLECT and dry_run:
        return [f"Tenant pays: {NOT_YET}"]
    if item.action in (Action.COLLECT, Action.RECORD, Action.WAIT) and not item.failed:
        return ["Tenant pays: Stripe gave no bank transfer instructions for this request; see it in the dashboard"]
    return []


def totals_lines(plan: Plan) -> Iterator[tuple[str, str]]:
    for label, action in (("requested from tenants", Action.COLLECT), ("paid to houses", Action.TRANSFER)):
        found = plan.totals(action)
        yield label, ", ".join(format_minor(v, c) for c, v in found.items()) or "nothing"


def headline(run: SupportRun) -> str:
    attention = sum(1 for i in run.plan.items if i.attention)
    return f"{attention} item(s) need a person." if attention else "Nothing needs a person."


def _item_lines(item: Item, dry: bool, tool: str, verbosity: int = 1) -> Iterator[str]:
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
    yield from (f"    What to do: {step}" for step in advice(item, tool))
    yield from (f"    {line}" for line in pay_lines(item, dry))


def _title(plan: Plan, changed: str) -> str:
    """A run's title: a rerun that had nothing to do does not claim changes."""
    return changed if plan.writes() else "run (nothing needed changing)"


def render(run: SupportRun, target: str = "", verbosity: int = 1, *, tool: str = "support.py") -> Iterator[str]:
    """Text for a terminal (click strips the colours in a pipe): what needs a person first, the routine last.

    Verbosity 0 shows only what needs a person; 2 adds each item's Stripe id.
    """
    plan, dry = run.plan, run.dry_run
    title = (
        "plan (dry run: nothing was changed)" if dry else _title(plan, "run (changes made in Stripe and the database)")
    )
    yield click.style(f"{TITLES[plan.incident]}: {title}", bold=True)
    if target:
        yield f"Target: {target}"
    sections = grouped(plan)
    for name in ("attention", "changes", "waiting", "not_finished") if verbosity else ("attention",):
        if sections[name]:
            yield from ("", click.style(f"{SECTIONS[name][0 if dry else 1]} ({len(sections[name])})", bold=True))
            for item in sections[name]:
                yield from _item_lines(item, dry, tool, verbosity)
    done = sections["done"]
    if verbosity:
        yield from ("", click.style(f"Done before: {len(done)} item(s), nothing to do", bold=True))
        yield from (f"  {item.subject}{f'  {item.money}' if item.money else ''}: {item.reason}" for item in done)
    yield from ("", click.style("Totals" + (" (planned)" if dry else ""), bold=True))
    for label, value in totals_lines(plan):
        yield f"  {label}: {value}"
    if not dry:
        yield f"  Stripe requests: {run.requests} ({run.throttled} rate-limited) in {run.seconds:.1f}s"
    if run.stopped:
        yield from ("", click.style(f"Stopped: {run.stop_detail}; the items not done are listed above.", bold=True))
    attention = any(i.attention for i in plan.items)
    yield from ("", click.style(headline(run), fg="red" if attention else "green", bold=True))


def next_steps(run: SupportRun, tool: str) -> list[str]:
    """Advice for every problem found, then what to run next, naming the command as the person ran it."""
    found = {p for i in run.plan.items if i.problem for p in (i.problem, *i.more)}
    steps = [advice.format(tool=tool) for problem, advice in NEXT_STEPS.items() if problem in found]
    command = f"{tool} {run.plan.incident.value}"
    if run.dry_run:
        steps.append(f"Read the plan, then run `{command}` to apply it.")
    else:
        steps.append(f"`{command}` again only does what is left.")
    return steps


def _major(minor: int | None, currency: str | None) -> Decimal | None:
    return to_major(minor, currency) if minor is not None and currency else None


def amount_of(item: Item) -> tuple[Decimal | None, str]:
    """The item's amount in major units and its currency (upper case), as the sync's CSV writes them."""
    if item.amount is not None and item.currency:
        return to_major(item.amount, item.currency), item.currency.upper()
    return item.db_amount, (item.currency or "").upper()


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


def _pay_markdown(item: Item, dry: bool) -> Iterator[str]:
    shown = item.instructions
    yield from ("", f"### {md_text(item.subject)} — {md_text(item.money)}", "")
    if shown is None:
        yield from (f"- {md_text(line)}" for line in pay_lines(item, dry))
        return
    yield f"- Amount remaining: **{md_text(format_minor(shown.amount_remaining, shown.currency))}**"
    yield f"- Reference: `{shown.reference}`" if shown.reference else "- Reference: none given"
    yield from (f"- Bank: {' · '.join(f'{md_text(k)} `{v}`' for k, v in a.details)}" for a in shown.addresses)
    yield f"- Instructions page: <{shown.url}>" if shown.url else "- Instructions page: none given"


def markdown(run: SupportRun, provenance: Provenance, privacy: Privacy) -> Iterator[str]:
    """A report to paste into a ticket: what needs a person first, what to send tenants, then every item."""
    plan, dry = run.plan, run.dry_run
    what = "dry run (nothing was changed)" if dry else _title(plan, "run (changes made)")
    yield from (f"# {TITLES[plan.incident]} — {what}, {provenance.started:%Y-%m-%d %H:%M} UTC", "")
    yield from provenance_markdown(provenance, privacy)
    sections = grouped(plan)
    yield from ("", "## Summary", "", f"**{md_text(headline(run))}**", "")
    if run.stopped:
        yield from (f"Stopped: {md_text(run.stop_detail)}; the items not done are listed below.", "")
    yield from md_table(
        ("section", "items"), [(SECTIONS[name][0 if dry else 1], len(items)) for name, items in sections.items()]
    )
    yield ""
    yield from md_table(("money", "planned" if dry else "done"), totals_lines(plan))
    if not dry:
        yield from ("", f"Stripe requests: {run.requests} ({run.throttled} rate-limited), {run.seconds:.0f} s.")
    if sections["attention"]:
        yield from ("", "## Needs a person", "")
        rows = (
            [*_cells(i, dry, privacy)[:7], privacy(i.reason), " ".join(advice(i, provenance.tool))]
            for i in sections["attention"]
        )
        yield from md_table((*COLUMNS[:7], "why", "what to do"), rows)
    tenants = [i for i in plan.items if i.instructions is not None or pay_lines(i, dry)]
    if tenants:
        yield from ("", "## What to send the tenants")
        if dry and not any(i.instructions for i in tenants):
            yield from ("", md_text(f"The dry run makes no request: {NOT_YET}."))
        for item in tenants:
            yield from _pay_markdown(item, dry)
    yield from ("", f"## Every item ({len(plan.items)})", "")
    yield from md_table(COLUMNS, (_cells(i, dry, privacy) for i in plan.items))
    yield from ("", "## What to do next", "")
    # Our own advice, written as Markdown (code spans), like the sync's: nothing from a row or Stripe in it.
    yield from (f"{n}. {step}" for n, step in enumerate(next_steps(run, provenance.tool), 1))


def _instructions_json(shown: PayInstructions | None) -> dict[str, Any] | None:
    if shown is None:
        return None
    return {
        "amount_remaining": shown.amount_remaining,
        "currency": shown.currency,
        "reference": shown.reference,
        "bank": [{"type": a.kind, **dict(a.details)} for a in shown.addresses],
        "hosted_instructions_url": shown.url,
    }


def _done(item: Item, dry_run: bool) -> bool | None:
    """Whether the run carried out the item's change: None for a dry run and for items with none."""
    if dry_run:
        return None
    return False if item.failed else True if item.action in WRITES else None


def _row(item: Item, dry_run: bool, privacy: Privacy) -> dict[str, Any]:
    settled = item.settlement
    return {
        "item": item.subject,
        "action": item.action.value,
        "done": _done(item, dry_run),
        "problem": item.problem.value if item.problem else None,
        "more_problems": [p.value for p in item.more],
        "replayed": item.replayed,  # the error is a replay of an answer Stripe stored for the request's key
        "payment_id": item.payment_id,
        "lease_id": item.lease_id,
        "house": item.house,
        "account": item.account,
        "amount": item.amount,
        "currency": item.currency,
        "db_amount": str(item.db_amount) if item.db_amount is not None else None,
        "settlement": (
            {"paid": settled.paid, "back": settled.back, "owed": settled.owed, "how": settled.how} if settled else None
        ),
        "pay_instructions": _instructions_json(item.instructions),
        "stripe_state": privacy(item.stripe_state),
        "db_state": privacy(item.db_state),
        "reason": privacy(item.reason),
        "stripe_id": item.stripe_id,
    }


def report_json(run: SupportRun, provenance: Provenance, privacy: Privacy) -> JsonReport:
    plan = run.plan
    fields = {
        "incident": plan.incident.value,
        "mode": "dry-run" if run.dry_run else "run",
        "totals": {"requested": plan.totals(Action.COLLECT), "paid": plan.totals(Action.TRANSFER)},
        "notes": plan.notes,
        "stripe": {"requests": run.requests, "rate_limited": run.throttled},
        "stopped": run.stopped.value if run.stopped else None,
        "seconds": round(run.seconds, 3),
    }
    rows = (_row(i, run.dry_run, privacy) for i in plan.items)
    return JsonReport.of(provenance, privacy, fields, rows, key="items")


CSV_HEADER = (
    "section",
    "item",
    "action",
    "done",
    "problem",
    "replayed",
    "payment",
    "lease",
    "house",
    "account",
    "amount",
    "currency",
    "paid",
    "reversed_or_refunded",
    "owed",
    "stripe_id",
    "pay_amount_remaining",
    "pay_reference",
    "pay_bank",
    "pay_instructions_url",
    "stripe_state",
    "db_state",
    "why",
)


def _csv_rows(run: SupportRun, privacy: Privacy) -> Iterator[list[object]]:
    """One line per item, what needs a person first; amounts are numbers in major units with their currency."""
    for section, items in grouped(run.plan).items():
        for item in items:
            amount, currency = amount_of(item)
            settled, shown = item.settlement, item.instructions
            money = currency.lower() or None
            yield [
                section,
                item.subject,
                item.action.value,
                {True: "true", False: "false", None: ""}[_done(item, run.dry_run)],
                item.problem.value if item.problem else "",
                "true" if item.replayed else "",
                item.payment_id,
                item.lease_id,
                item.house,
                item.account,
                amount,
                currency,
                *(_major(v, money) for v in ((settled.paid, settled.back, settled.owed) if settled else (None,) * 3)),
                item.stripe_id,
                _major(shown.amount_remaining, shown.currency) if shown else None,
                shown.reference if shown else None,
                " | ".join(a.text for a in shown.addresses) if shown else None,
                shown.url if shown else None,
                privacy(item.stripe_state),
                privacy(item.db_state),
                privacy(item.reason),
            ]


def write_reports(run: SupportRun, provenance: Provenance, *, folder: Path, privacy: Privacy) -> list[Path]:
    """Markdown for a ticket, JSON for machines, CSV of the items, under one stem no other run holds."""
    prefix = f"support-{run.plan.incident.value}-{'plan' if run.dry_run else 'run'}"
    return write_report_set(
        folder,
        prefix,
        provenance,
        markdown(run, provenance, privacy),
        report_json(run, provenance, privacy),
        CsvTable(CSV_HEADER, _csv_rows(run, privacy)),
    )
