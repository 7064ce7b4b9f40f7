"""A sync's (or a plan's) report files: Markdown for a ticket, JSON for machines, CSV for a spreadsheet.

Every file starts with where and how the run ran (shared.reports.Provenance) and
carries the money of every lease and room; they share one stem, claimed so
that no two runs ever write the same files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from cohabs.sync.billing import CREATE_INVOICE, CollectionChoice
from cohabs.sync.execute import Outcome, Result
from cohabs.sync.ledger import LeaseMoney, Ledger, RoomPrice
from cohabs.sync.problems import Problem
from cohabs.sync.readiness import Billable, Readiness, State, monthly
from cohabs.sync.rows import Kind
from cohabs.sync.run_report import LINKED, NEW, NEXT_STEPS, Report, collection_line, money_split, next_steps

# What a sync's JSON report carries for `--undo`; an undo refuses a report without it (undo_record.py).
UNDO_FORMAT = 1

DECISIONS = [
    "Tenants pay the lease's contract amount (`rentAmount`) monthly, in their hub's currency.",
    "Nobody is charged by the sync: each subscription is free (a Stripe trial) until the tenant's next rent date,"
    " or the lease's start for a future lease, and stops at the lease's end.",
    "Leases that are over (finished, cancelled, void, or past their end date) are linked to a subscription"
    " created and cancelled at once: never billed.",
    "Room prices come from `baseRent`, or `rent` when `baseRent` is empty.",
]


# What the full run will do with a row this run left, from its planned result.
FULL_RUN: dict[Result, str] = {
    Result.CREATED: "creates it",
    Result.KEPT: "repairs it",
    Result.ADOPTED: "stores the object that links to it",
    Result.REPLACED: "replaces the stale id",
    Result.UNCHECKED: "checks the stored id first",
    Result.SKIPPED: "skips it (see detail)",
    Result.FAILED: "skips it (see detail)",
    Result.NOT_FINISHED: "does it",
}


def _day(value: Any) -> str:
    return f"{value:%Y-%m-%d}" if value else ""


def _result(o: Outcome) -> str:
    return o.result.replace("_", " ")


def _done(report: Report) -> str:
    return "Sync (changes made)" if report.writes else "Sync (nothing needed changing)"


def markdown(report: Report, provenance: Provenance, privacy: Privacy) -> Iterator[str]:
    """A report to paste into a ticket: where it ran, what needs a person, the money, the routine, what next."""
    what = "Dry run (nothing was changed)" if report.dry_run else _done(report)
    yield from (f"# Stripe relink — {what}, {provenance.started:%Y-%m-%d %H:%M} UTC", "")
    yield from provenance_markdown(provenance, privacy)
    yield from _summary(report)
    yield from _for_a_person(report)
    yield from _switches(report)
    yield from _money(report)
    yield from readiness_markdown(report.ready, report.collection)
    yield from _decisions(report)
    yield from _further_down(report)
    yield from ("", "## What to do next", "")
    yield from (f"{i}. {step}" for i, step in enumerate(next_steps(report, provenance.tool), 1))


def _summary(report: Report) -> Iterator[str]:
    yield from ("", "## Summary", "", f"**{md_text(report.headline())}**", "")
    yield from md_table(["", *(r.replace("_", " ") for r in report.columns)], _counts(report))
    if report.remaining:
        yield ""
        yield from (f"- {md_text(scope.describe(report.dry_run))}" for scope in report.scopes())
    if report.routine():
        yield from ("", f"Routine, nothing to decide: {md_text(report.routine_counts())} (listed below).")
    if not report.dry_run:
        yield from (
            "",
            f"Stripe requests: {report.requests} ({report.throttled} rate-limited), {report.seconds:.0f} s.",
        )


def _decisions(report: Report) -> Iterator[str]:
    yield from ("", "## Decisions taken", "")
    yield from (f"- {line}" for line in DECISIONS)
    yield f"- {md_text(collection_line(report.collection))}"
    if report.account_read:
        yield "- Stored Stripe ids the account does not confirm are stale and replaced."
    else:
        yield "- No Stripe account was read (no key): stored ids were not checked; a sync checks them first."
    notes = Counter(n for o in report.outcomes for n in o.notes)
    yield from (f"- {md_text(note)}: {count} row(s)." for note, count in sorted(notes.items()))
    yield from (f"- {md_text(note)}." for note in report.notes)


def _further_down(report: Report) -> Iterator[str]:
    """What needs nobody's decision: the routine changes, the rows a stop left, the rows left for a full run."""
    routine = report.routine()
    if routine:
        yield from ("", "## Routine changes", "")
        yield "Synced, with nothing to decide; each line says what was done and why."
        yield ""
        yield from _rows_table(routine)
    left = report.not_finished()
    if left:
        yield from ("", f"## Not finished ({len(left)} row(s))", "")
        yield f"{md_text(NEXT_STEPS[Problem.NOT_FINISHED])}"
        yield ""
        yield from _rows_table(left)
    if report.remaining:
        yield from ("", "## Left for the full run", "")
        yield "What a run without --limit/--only will do with the rows this run left alone:"
        yield ""
        yield from md_table(
            ["kind", "row", "label", "the full run", "detail"],
            ([o.kind.singular, Code(o.row_id), o.label, FULL_RUN[o.result], o.detail] for o in report.remaining),
        )


def _rows_table(rows: list[Outcome]) -> Iterator[str]:
    return md_table(
        ["kind", "row", "label", "what", "Stripe id", "detail"],
        ([o.kind.singular, Code(o.row_id), o.label, _result(o), Code(o.stripe_id or ""), o.detail] for o in rows),
    )


def _for_a_person(report: Report) -> Iterator[str]:
    """Each problem's advice (our own Markdown), then its rows."""
    groups = report.for_a_person()
    if not groups:
        return
    yield from ("", f"## Needs a person ({sum(len(rows) for _, rows in groups)} row(s))", "")
    for advice, rows in groups:
        yield f"**{advice or 'Not synced'}**"
        yield ""
        yield from _rows_table(rows)
        yield ""


def _switches(report: Report) -> Iterator[str]:
    """Linked subscriptions whose collection method changes: the plan's first news after its counts."""
    if not report.switched:
        return
    verb = "would change" if report.dry_run else "changed"
    yield from ("", "## Collection method changes", "")
    yield md_text(
        f"{len(report.switched)} linked subscription(s) that still bill {verb} to {report.collection.says()}: "
        "collection method and days until due only, no amount changes, nothing is prorated."
    )
    yield ""
    yield from md_table(
        ["lease", "label", "Stripe id", "was", "becomes"],
        ([Code(o.row_id), o.label, Code(o.stripe_id or ""), s.was, s.becomes] for o, s in report.switched),
    )


CAN_PAY = {
    State.READY: "yes",
    State.NO_PAYMENT_METHOD: "no: no payment method, the first invoice will fail",
    State.STOPS: "no: no payment method, and the trial's end pauses or cancels it",
    State.NO_EMAIL: "no: no email to send the invoice to",
}


def readiness_markdown(ready: Readiness, collection: CollectionChoice | None = None) -> Iterator[str]:
    """Every subscription that will bill, grouped by first charge date, then who cannot pay and what to do."""
    yield from ("", "## How tenants pay", "")
    if collection is not None:
        yield from (md_text(collection_line(collection)), "")
    yield from (f"**{md_text(sentence)}**" for sentence in ready.summary())
    for day, items in ready.by_date():
        unready = sum(1 for b in items if b.state is not State.READY)
        yield from ("", f"### First charge {day}: {len(items)} subscription(s), {md_text(monthly(items))}")
        yield f"{unready} cannot pay yet." if unready else "All can pay."
        yield ""
        yield from md_table(
            ["tenant", "lease", "name", "a month", "how it is paid", "can pay"],
            ([b.tenant, Code(b.lease_id), b.label, b.money, b.how(), CAN_PAY[b.state]] for b in items),
        )


def billable_json(b: Billable) -> dict[str, Any]:
    return {
        "lease_id": b.lease_id,
        "label": b.label,
        "tenant": b.tenant,
        "customer": b.customer,
        "amount": str(b.amount),
        "currency": b.currency,
        "first_charge": b.day,
        "collection_method": b.method.value,
        "days_until_due": b.days_until_due,
        "payment_method": b.can_pay,
        "holds": b.holds or None,  # what its customer holds instead of a default, when the sync read it
        "emailable": b.emailable,
        "trial_end_without_payment_method": b.end_behavior,
        "state": b.state.value,
        "advice": b.advice() if b.state is not State.READY else None,
    }


def readiness_json(ready: Readiness) -> dict[str, Any]:
    return {
        "summary": ready.summary(),
        "not_ready": len(ready.unready()),
        "subscriptions": [billable_json(b) for b in ready.billable],
    }


def collection_json(collection: CollectionChoice) -> dict[str, Any]:
    return {
        "method": collection.method.value,
        "days_until_due": collection.days_until_due,
        "chosen": collection.chosen,
        "trial_end_without_payment_method": CREATE_INVOICE,
    }


def _counts(report: Report) -> Iterator[list[object]]:
    for kind in report.kinds:
        yield [kind.value, *(report.counts[kind][r] for r in report.columns)]


def _money(report: Report) -> Iterator[str]:
    leases = [o for o in report.outcomes if o.kind is Kind.LEASE] + [
        o for o in report.remaining if o.kind is Kind.LEASE
    ]
    rooms = [o for o in report.outcomes if o.kind is Kind.ROOM] + [o for o in report.remaining if o.kind is Kind.ROOM]
    if not leases and not rooms:
        return
    yield from ("", "## Money", "")
    split = money_split(report)
    if any(totals for _, totals in split):
        for label, totals in split:
            yield f"{label}, per currency:" + ("" if totals else " none.")
            yield ""
            yield from (f"- {md_text(line)}" for line in totals)
            if totals:
                yield ""
    left = {o.row_id for o in report.remaining}
    paying = {b.lease_id: b for b in report.ready.billable}
    if leases:
        yield from ("### Leases", "")
        yield from md_table(
            [
                "lease",
                "name",
                "status",
                "start",
                "end",
                "amount",
                "what the subscription does",
                "first charge",
                "how it is paid",
                "this run",
            ],
            _lease_rows(report.ledger, leases, left, paying),
        )
        yield ""
    if rooms:
        yield from ("### Rooms", "")
        yield from md_table(
            ["room", "label", "price a month", "currency", "price from", "this run"],
            _room_rows(report.ledger, rooms, left),
        )


def _does(o: Outcome, m: LeaseMoney) -> str:
    """A row that is not synced gets no subscription, whatever its lease would bill."""
    return m.does() if o.synced else f"no subscription: {_result(o)} (see its line)"


def _first_charge(o: Outcome, m: LeaseMoney) -> str:
    return _day(m.first_charge) if o.synced else ""


def _schedule(o: Outcome, m: LeaseMoney) -> str:
    return m.schedule.name.lower() if o.synced else "none"


def _this_run(o: Outcome, left: set[str]) -> str:
    return f"left: the full run {FULL_RUN[o.result]}" if o.row_id in left else _result(o)


def _lease_rows(
    ledger: Ledger, leases: list[Outcome], left: set[str], paying: dict[str, Billable]
) -> Iterator[list[object]]:
    for o in leases:
        m = ledger.leases.get(o.row_id)
        if m is None:
            continue
        yield [
            Code(o.row_id),
            m.label,
            m.status or "",
            _day(m.start),
            _day(m.end),
            m.money,
            _does(o, m),
            _first_charge(o, m) or "none",
            paying[o.row_id].how() if o.row_id in paying else "",
            _this_run(o, left),
        ]


def _room_rows(ledger: Ledger, rooms: list[Outcome], left: set[str]) -> Iterator[list[object]]:
    for o in rooms:
        r = ledger.rooms.get(o.row_id)
        if r is None:
            continue
        price = f"{r.amount:,}" if r.amount is not None else "none"
        yield [Code(o.row_id), r.label, price, r.currency, r.source or "neither is set", _this_run(o, left)]


def _lease_json(o: Outcome, m: LeaseMoney, paying: Billable | None) -> dict[str, Any]:
    return {
        "collection_method": paying.method.value if paying else None,
        "days_until_due": paying.days_until_due if paying else None,
        "payment_method": paying.can_pay if paying else None,
        "readiness": paying.state.value if paying else None,
        "schedule": _schedule(o, m),
        "what": _does(o, m),
        "amount": str(m.amount) if m.amount is not None else None,  # major units, as in the database
        "currency": m.currency,
        "free_until": (_day(m.free_until) if o.synced else "") or None,
        "first_charge": _first_charge(o, m) or None,
        "cancel_at": (_day(m.cancel_at) if o.synced else "") or None,
        "lease_start": _day(m.start) or None,
        "lease_end": _day(m.end) or None,
        "status": m.status,
    }


def _room_json(r: RoomPrice) -> dict[str, Any]:
    return {
        "amount": str(r.amount) if r.amount is not None else None,
        "currency": r.currency,
        "source": r.source,
    }


def _row_json(o: Outcome, ledger: Ledger, scope: str, paying: dict[str, Billable]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": o.kind.singular,
        "row_id": o.row_id,
        "label": o.label,
        "scope": scope,
        "result": o.result,
        "stripe_id": o.stripe_id,
    }
    row["made"] = o.made  # this run created the object: `--undo` removes it; kept and adopted ones stay
    if o.stale_id:
        row["previous_id"] = o.stale_id  # the id the row held: replaced, or not checked
    if o.problem:
        row["problem"] = o.problem
    if o.detail:
        row["detail"] = o.detail
    if o.notes:
        row["notes"] = list(o.notes)
    if o.kind is Kind.LEASE and o.row_id in ledger.leases:
        row["billing"] = _lease_json(o, ledger.leases[o.row_id], paying.get(o.row_id))
    if o.kind is Kind.ROOM and o.row_id in ledger.rooms:
        row["price"] = _room_json(ledger.rooms[o.row_id])
    return row


def _scoped(report: Report) -> Iterator[tuple[Outcome, str]]:
    yield from ((o, "this run") for o in report.outcomes)
    yield from ((o, "left for the full run") for o in report.remaining)


def _totals_json(report: Report, lease_ids: list[str]) -> list[dict[str, Any]]:
    methods = {b.lease_id: b.method for b in report.ready.billable}
    return [
        {
            "currency": t.currency,
            "billed_monthly": t.monthly,
            "per_month": str(t.per_month),
            "free_until_end": t.free_until_end,
            "never_billed": t.never,
            "invoiced_by_email": t.invoiced,
        }
        for t in report.ledger.totals(lease_ids, methods)
    ]


def report_json(report: Report, provenance: Provenance, privacy: Privacy) -> JsonReport:
    head = {
        "mode": "dry-run" if report.dry_run else "sync",
        "headline": report.headline(),
        "account_read": report.account_read,
        "counts": {k.value: {r: report.counts[k][r] for r in report.columns} for k in report.kinds},
        "left_for_full_run": {s.kind.value: s.left for s in report.scopes()},
        "money": {
            "created": _totals_json(report, report.lease_ids(NEW)),
            "already_in_stripe": _totals_json(report, report.lease_ids(LINKED)),
        },
        "collection": collection_json(report.collection),
        "collection_switched": len(report.switched),
        "readiness": readiness_json(report.ready),
        "notes": report.notes,
        "stripe": {"requests": report.requests, "rate_limited": report.throttled},
        "seconds": round(report.seconds, 3),
        # What `--undo` needs (undo_record.py): the account written to, and `made` on each row.
        "undo_format": UNDO_FORMAT,
        "stripe_account": report.stripe_account,
    }
    paying = {b.lease_id: b for b in report.ready.billable}
    return JsonReport.of(
        provenance, privacy, head, (_row_json(o, report.ledger, scope, paying) for o, scope in _scoped(report))
    )


CSV_HEADER = [
    "kind",
    "row_id",
    "label",
    "scope",
    "result",
    "stripe_id",
    "previous_id",
    "problem",
    "detail",
    "amount",
    "currency",
    "price_from",
    "status",
    "lease_start",
    "lease_end",
    "subscription",
    "free_until",
    "first_charge",
    "cancel_at",
    "collection_method",
    "days_until_due",
    "payment_method",
    "readiness",
]


def _csv_rows(report: Report) -> Iterator[list[object]]:
    paying = {b.lease_id: b for b in report.ready.billable}
    for o, scope in _scoped(report):
        money: list[object] = [""] * 10
        how: list[object] = [""] * 4
        if (b := paying.get(o.row_id)) is not None and o.kind is Kind.LEASE:
            how = [b.method.value, b.days_until_due, "yes" if b.can_pay else "no", b.state.value]
        if o.kind is Kind.LEASE and (m := report.ledger.leases.get(o.row_id)) is not None:
            money = [
                m.amount,
                m.currency,
                "",
                m.status,
                _day(m.start),
                _day(m.end),
                _does(o, m),
                _day(m.free_until) if o.synced else "",
                _first_charge(o, m),
                _day(m.cancel_at) if o.synced else "",
            ]
        elif o.kind is Kind.ROOM and (r := report.ledger.rooms.get(o.row_id)) is not None:
            money = [r.amount, r.currency, r.source, "", "", "", "", "", "", ""]
        yield [
            o.kind.singular,
            o.row_id,
            o.label,
            scope,
            o.result,
            o.stripe_id,
            o.stale_id,
            o.problem,
            o.detail,
            *money,
            *how,
        ]


def write_reports(report: Report, provenance: Provenance, folder: Path, privacy: Privacy) -> list[Path]:
    """Markdown, JSON and CSV under one stem no other run holds."""
    return write_report_set(
        folder,
        "plan" if report.dry_run else "sync",
        provenance,
        markdown(report, provenance, privacy),
        report_json(report, provenance, privacy),
        CsvTable(CSV_HEADER, _csv_rows(report)),
    )
