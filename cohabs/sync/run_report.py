"""A sync's (or a plan's) account of itself: counts, money, what was done and what was left, and the console view."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any

import click

from cohabs.shared.stopping import StopReason
from cohabs.sync.billing import CREATE_INVOICE, CollectionChoice
from cohabs.sync.execute import Outcome, Result
from cohabs.sync.ledger import Ledger, describe_total
from cohabs.sync.plan import Action, Plan, Step, Switch
from cohabs.sync.problems import Problem
from cohabs.sync.readiness import Billable, Readiness, State, monthly
from cohabs.sync.rows import Kind


@dataclass(frozen=True, slots=True)
class Scope:
    """One kind's share of the database in this run: what a canary or --only says it did and left."""

    kind: Kind
    synced: int  # linked by this run (or, in a plan, to be)
    total: int  # rows of this kind in the database
    left: int  # rows that still need a full run
    blocked: int  # of those, rows the full run cannot sync as they stand

    @property
    def before(self) -> int:
        """Rows outside this run that were already linked."""
        return max(0, self.total - self.synced - self.left)

    def describe(self, dry_run: bool) -> str:
        verb = "would be synced" if dry_run else "synced"
        text = f"{self.synced} of {self.total} {self.kind.value} {verb}"
        if self.before:
            text += f" ({self.before} already linked)"
        if self.left:
            text += f"; {self.left} left for the full run"
            if self.blocked:
                text += f", {self.blocked} of them blocked by a data problem"
        return text


class Heading(StrEnum):
    """What the screen shows: a plan that changed nothing, a plan waiting for a yes, or what a sync did."""

    DRY_RUN = "Plan (dry run: nothing was changed)"
    TO_APPLY = "Plan to apply (nothing is changed before you answer)"
    NOT_APPLIED = "Plan (not applied: nothing was changed)"
    DONE = "Sync report: changes made"
    UNCHANGED = "Sync report: nothing needed changing"


# Subscriptions this run makes (or would make), against those Stripe already held.
NEW = frozenset({Result.CREATED, Result.REPLACED, Result.UNCHECKED})
LINKED = frozenset({Result.KEPT, Result.ADOPTED})


@dataclass
class Report:
    dry_run: bool
    outcomes: list[Outcome]
    ledger: Ledger = field(default_factory=Ledger)
    notes: list[str] = field(default_factory=list)
    remaining: list[Outcome] = field(default_factory=list)  # left for a full run, as the full run would do them
    database_rows: dict[Kind, int] = field(default_factory=dict)
    account_read: bool = True
    requests: int = 0
    throttled: int = 0
    seconds: float = 0.0
    kinds: tuple[Kind, ...] = tuple(Kind)
    stopped: StopReason | None = None  # why the run stopped before its end, if it did
    stop_detail: str = ""
    collection: CollectionChoice = field(default_factory=CollectionChoice)
    switches: dict[str, Switch] = field(default_factory=dict)  # lease id -> its collection switch, as planned
    readiness: Readiness = field(default_factory=Readiness)  # as the plan leaves the account
    customers: dict[str, str] = field(default_factory=dict)  # user id -> a copied customer linked, a default set
    stripe_account: str | None = None  # the account a real run wrote to (`acct_…`), None where it was not read
    writes: bool = True  # whether the plan writes anything (False: a rerun that had nothing to change)

    @cached_property
    def ready(self) -> Readiness:
        """The subscriptions that will bill among the leases this run linked (or, in a plan, would)."""
        return self.readiness.only({o.row_id for o in self.outcomes if o.kind is Kind.LEASE and o.synced})

    @cached_property
    def switched(self) -> list[tuple[Outcome, Switch]]:
        """Linked subscriptions this run moved (a plan: would move) to the chosen collection method."""
        return [
            (o, self.switches[o.row_id])
            for o in self.outcomes
            if o.kind is Kind.LEASE and o.row_id in self.switches and o.synced
        ]

    @cached_property
    def customer_changes(self) -> list[tuple[Outcome, str]]:
        """Customers this run linked from Stripe's copy, or gave their lone card as default (a plan: would)."""
        return [
            (o, self.customers[o.row_id])
            for o in self.outcomes
            if o.kind is Kind.USER and o.row_id in self.customers and o.synced
        ]

    @cached_property
    def counts(self) -> dict[Kind, Counter[str]]:
        counts: dict[Kind, Counter[str]] = {k: Counter() for k in self.kinds}
        for outcome in self.outcomes:
            counts[outcome.kind][outcome.result] += 1
        return counts

    @cached_property
    def unsynced(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.synced]

    @property
    def columns(self) -> list[Result]:
        """The results worth a column: a plan that read no account cannot know an id is stale, only unchecked."""
        hidden = Result.UNCHECKED if self.account_read else Result.REPLACED
        return [r for r in Result if r is not hidden]

    def attention(self) -> list[Outcome]:
        """Rows that were not simply created or kept."""
        return [o for o in self.outcomes if o.result not in (Result.CREATED, Result.KEPT) or o.detail]

    def not_finished(self) -> list[Outcome]:
        """Rows a stop left undone: a rerun finishes them, nobody need decide anything."""
        return [o for o in self.outcomes if o.result is Result.NOT_FINISHED]

    def for_a_person(self) -> list[tuple[str, list[Outcome]]]:
        """The rows not synced, grouped under the advice for their problem: what a reviewer reads first.

        Rows a stop left undone are not here, however many: they need a rerun, not a person (not_finished).
        """
        groups: dict[Problem | None, list[Outcome]] = {}
        for outcome in self.unsynced:
            if outcome.result is not Result.NOT_FINISHED:
                groups.setdefault(outcome.problem, []).append(outcome)
        order = list(NEXT_STEPS)
        ranked = sorted(groups.items(), key=lambda group: order.index(group[0]) if group[0] in order else len(order))
        return [(NEXT_STEPS.get(problem, "") if problem else "", rows) for problem, rows in ranked]

    def routine(self) -> list[Outcome]:
        """Rows synced in a way worth a line (a stale id replaced, an object adopted), but nothing to decide."""
        return [o for o in self.attention() if o.synced]

    def routine_counts(self) -> str:
        """The routine rows as counts: `20 rooms replaced stale; 2 leases adopted`."""
        counts = Counter((o.kind, o.result) for o in self.routine())
        return "; ".join(
            f"{n} {kind.value if n > 1 else kind.singular} {result.replace('_', ' ')}"
            for (kind, result), n in sorted(counts.items(), key=lambda item: (list(Kind).index(item[0][0]), item[0][1]))
        )

    def lease_ids(self, results: frozenset[Result]) -> list[str]:
        return [o.row_id for o in self.outcomes if o.kind is Kind.LEASE and o.synced and o.result in results]

    def scopes(self) -> list[Scope]:
        """Per kind, what this run did against the whole database; only meaningful when rows were left."""
        synced = Counter(o.kind for o in self.outcomes if o.synced)
        left = Counter(o.kind for o in self.remaining)
        blocked = Counter(o.kind for o in self.remaining if o.result is Result.SKIPPED)
        return [
            Scope(kind, synced[kind], self.database_rows.get(kind, 0), left[kind], blocked[kind])
            for kind in Kind
            if self.database_rows.get(kind, 0)
        ]

    def headline(self) -> str:
        """The one line that says how it went; never "all done" while rows remain."""
        left = sum(1 for o in self.outcomes if o.result is Result.NOT_FINISHED)
        unsynced = len(self.unsynced) - left
        parts = []
        if self.stopped:
            parts.append(f"Stopped: {self.stop_detail}. {left} row(s) not finished: run again to finish.")
        if self.remaining:
            parts.append(self._scope_line() + ".")
        if unsynced:
            parts.append(f"{unsynced} row(s) {'would not be' if self.dry_run else 'not'} synced in this run.")
        if not self.account_read:
            parts.append("Stored ids were not checked: no Stripe account was read.")
        if not parts:
            return "Every row would be linked." if self.dry_run else "Every row is linked."
        return " ".join(parts)

    def _scope_line(self) -> str:
        """The leases' share when they were in the run (a canary), else each kind run, then what was left out."""
        scopes = self.scopes()
        active = [s for s in scopes if s.kind in self.kinds]
        text = "; ".join(s.describe(self.dry_run) for s in [s for s in active if s.kind is Kind.LEASE] or active)
        others = [f"{s.left} {s.kind.value}" for s in scopes if s.kind not in self.kinds and s.left]
        return text + (f"; {' and '.join(others)} left for the full run" if others else "")

    def scrubbed(self, clean: Callable[[str], str]) -> Report:
        """The same report with every free text passed through `clean` (masking emails and keys)."""

        def outcome(o: Outcome) -> Outcome:
            return replace(o, label=clean(o.label), detail=clean(o.detail), notes=tuple(clean(n) for n in o.notes))

        ledger = Ledger(
            leases={k: replace(m, label=clean(m.label), why=clean(m.why)) for k, m in self.ledger.leases.items()},
            rooms={k: replace(r, label=clean(r.label)) for k, r in self.ledger.rooms.items()},
        )
        return replace(
            self,
            outcomes=[outcome(o) for o in self.outcomes],
            remaining=[outcome(o) for o in self.remaining],
            notes=[clean(n) for n in self.notes],
            ledger=ledger,
            readiness=self.readiness.scrubbed(clean),
        )


def planned(step: Step, account_read: bool = True) -> Outcome:
    """What a step would do, in the same words as a real run's outcome."""
    result = {
        Action.CREATE: Result.CREATED,
        Action.KEEP: Result.KEPT,
        Action.ADOPT: Result.ADOPTED,
        Action.SKIP: Result.SKIPPED,
    }[step.action]
    if step.stale_id and step.action in (Action.CREATE, Action.ADOPT):
        result = Result.REPLACED if account_read else Result.UNCHECKED
    detail = step.reason if result != Result.CREATED else ""
    if step.cancel:
        detail = "; ".join(filter(None, [detail, "ended lease: its subscription will be cancelled"]))
    return Outcome(
        step.kind, step.row_id, step.label, result, step.stripe_id, detail, step.stale_id, step.notes, step.problem
    )


def outcomes_from_plan(plan: Plan, account_read: bool = True) -> list[Outcome]:
    return [planned(step, account_read) for kind in Kind if kind in plan.active for step in plan.steps[kind]]


def remaining_from_plan(plan: Plan, account_read: bool = True) -> list[Outcome]:
    """Rows this run leaves for a full run (a canary's other rows, the kinds --only left out) that need work."""
    left = plan.deferred + [s for k in Kind if k not in plan.active for s in plan.steps[k]]
    order = {kind: i for i, kind in enumerate(Kind)}
    left.sort(key=lambda s: order[s.kind])
    return [planned(s, account_read) for s in left if s.action is not Action.KEEP or s.repair or s.cancel]


NEXT_STEPS: dict[Problem, str] = {
    Problem.BAD_EMAIL: "Fix the listed emails in `users`, then run the sync again.",
    Problem.MISSING_REFERENCE: "Broken references: check the hints on each line, fix `userId`/`roomId`, run again.",
    Problem.UNKNOWN_HUB: "Add the hub to HUB_CURRENCIES (hubId=currency) in .env, run again.",
    Problem.NO_PRICE: "Give the listed rooms a `rent` (or `baseRent`), run again.",
    Problem.BAD_AMOUNT: "Correct the listed amounts, run again.",
    Problem.CURRENCY_CONFLICT: "A tenant with leases in two currencies needs a second customer: decide by hand.",
    Problem.NOT_FINISHED: "The run stopped before these rows (the cause is above): run it again to finish; "
    "objects already made are adopted, never made twice.",
    Problem.STRIPE: "Stripe refused or did not answer some requests: run again; objects already made are adopted.",
    Problem.BAD_LEASE: "Correct the listed lease dates or statuses, run again.",
    Problem.DUPLICATE: "Duplicated leases: void or delete the copy, run again.",
    Problem.NEEDS_FULL_RUN: "Sync users and rooms first (or run without --only), then the held-back leases.",
    Problem.DEPENDENCY: "Fix the user or room each lease line names; its lease follows on the next run.",
    Problem.NOT_STORED: "Some ids could not be written to their rows: fix the database error shown, run again.",
    Problem.LINK_CHANGED: "Linked leases whose user or room is gone or changed: restore the row or its "
    "userId/roomId, or cancel the subscription in Stripe and clear the lease's stripeSubscriptionId; then run again.",
    Problem.CANCELLED_IN_STRIPE: "Ongoing leases whose subscription was cancelled in Stripe: if the lease is over, "
    "set its status or endDate; if the tenant must pay, clear its stripeSubscriptionId and run again (a new "
    "subscription bills from the next rent date).",
    Problem.BILLING_DRIFT: "Subscriptions billing otherwise than their lease: correct the lease, or the "
    "subscription in Stripe (the sync never re-prices one, that would prorate).",
    Problem.STRAY: "Stripe objects that no row stores: check each one, then cancel or delete it in Stripe.",
    Problem.COPIED: "Users whose customer from Stripe's copy is not clear: write the right customer id for each "
    "in a CSV (user_id or email, stripe_customer_id) and run again with `--customer-map FILE`; nothing is created "
    "for them until then.",
}


def next_steps(report: Report, tool: str) -> list[str]:
    """Advice from the problems found (never from the wording of reasons), then what to run: `tool`, as run."""
    found = {o.problem for o in report.unsynced if o.problem}
    steps = [advice for problem, advice in NEXT_STEPS.items() if problem in found]
    steps += readiness_steps(report.ready, tool)
    if report.dry_run:
        if not report.account_read:
            steps.append("Set STRIPE_SECRET_KEY and run the dry run again: it then checks every stored id.")
        steps.append(f"Read the plan, then run `{tool}` to apply it.")
    elif report.remaining:
        steps.append(
            f"Check this run's rows in Stripe, then run `{tool}` without --limit/--only: "
            f"it does the {len(report.remaining)} row(s) left (listed above)."
        )
    elif report.unsynced:
        steps.append(f"After fixing, run `{tool}` again: it only does what is left.")
    else:
        steps.append(f"Nothing: every row is linked. `{tool} --verify` audits the result at any time.")
    return steps


def readiness_steps(ready: Readiness, tool: str) -> list[str]:
    """What to do before the first rent dates about the tenants who cannot pay yet."""
    unready = ready.unready()
    if not unready:
        return []
    first = min(b.first_charge for b in unready)
    return [
        f"Before {first:%Y-%m-%d}: see to the {len(unready)} subscription(s) whose tenant cannot pay yet (listed "
        "under how tenants pay): collect payment methods, or switch them to invoices by email with "
        f"`{tool} --collection-method send_invoice --days-until-due N`."
    ]


STYLES: dict[Result, dict[str, Any]] = {
    Result.CREATED: {"fg": "green"},
    Result.KEPT: {"dim": True},
    Result.ADOPTED: {"fg": "cyan"},
    Result.REPLACED: {"fg": "yellow"},
    Result.UNCHECKED: {"fg": "yellow"},
    Result.SKIPPED: {"fg": "yellow", "bold": True},
    Result.FAILED: {"fg": "red", "bold": True},
    Result.NOT_FINISHED: {"fg": "red"},
}


def _tag(result: Result) -> str:
    return click.style(f"[{result.replace('_', '-')}]", **STYLES[result])


def row_line(o: Outcome) -> str:
    target = f" -> {o.stripe_id}" if o.stripe_id else ""
    detail = f": {o.detail}" if o.detail else ""
    return f"  {_tag(o.result)} {o.kind.singular} {o.row_id} ({o.label}){target}{detail}"


def render(report: Report, verbosity: int = 1, target: str = "", heading: Heading | None = None) -> Iterator[str]:
    """Text for a terminal (click strips the colours in a pipe). 0 quiet, 1 normal, 2 every row.

    What needs a person comes first, each group under its advice; routine changes are counts
    (every row with -v, and in the Markdown report).
    """
    title = heading or (Heading.DRY_RUN if report.dry_run else Heading.DONE if report.writes else Heading.UNCHANGED)
    yield click.style(title.value, bold=True)
    if target:
        yield f"Target: {target}"
    yield ""
    columns = report.columns
    yield f"  {'':8}" + "".join(f"{r.replace('_', '-'):>16}" for r in columns)
    for kind in report.kinds:
        yield f"  {kind.value:8}" + "".join(f"{report.counts[kind][r]:>16}" for r in columns)
    yield from _switch_lines(report, verbosity)
    yield from _customer_lines(report, verbosity)
    yield from _person_lines(report)
    if verbosity >= 2:
        yield from ("", "Rows:")
        yield from (row_line(o) for o in report.outcomes)
    elif verbosity and report.routine():
        yield from ("", f"Routine: {report.routine_counts()} (each row: -v, or the Markdown report).")
    yield from _not_finished_lines(report, verbosity)
    if verbosity:
        yield from _money_lines(report, verbosity)
        yield from readiness_lines(report.ready, verbosity, report.collection)
    notes = Counter(n for o in report.outcomes for n in o.notes)
    if (notes or report.notes) and verbosity:
        yield from ("", "Notes:")
        yield from (f"  {note}: {count} row(s)" for note, count in sorted(notes.items()))
        yield from (f"  {note}" for note in report.notes)
    if report.remaining:
        yield from ("", f"Left for the full run ({len(report.remaining)} row(s), listed in the Markdown report):")
        yield from ("  " + scope.describe(report.dry_run) for scope in report.scopes())
        if verbosity >= 2:
            yield from (row_line(o) for o in report.remaining)
    if not report.dry_run and verbosity:
        yield from (
            "",
            f"Stripe requests: {report.requests} ({report.throttled} rate-limited) in {report.seconds:.1f}s",
        )
    unsettled = report.unsynced or report.remaining or not report.account_read
    yield from ("", click.style(report.headline(), fg="yellow" if unsettled else "green", bold=True))


def _switch_lines(report: Report, verbosity: int) -> Iterator[str]:
    """First of all, as the plan's first news: linked subscriptions whose collection method changes."""
    if not report.switched:
        return
    verb = "would change" if report.dry_run else "changed"
    yield ""
    yield click.style(
        f"Collection method {verb} on {len(report.switched)} linked subscription(s) that still bill "
        f"(to {report.collection.says()}; no amount changes, nothing is prorated):",
        bold=True,
    )
    if verbosity:
        for o, switch in report.switched:
            yield f"  lease {o.row_id} ({o.label}) -> {o.stripe_id}: {switch.was} → {switch.becomes}"


def _customer_lines(report: Report, verbosity: int) -> Iterator[str]:
    """Customers from Stripe's copy linked, and lone cards made the default: each one shown."""
    if not report.customer_changes:
        return
    verb = "would be changed" if report.dry_run else "changed"
    yield from (
        "",
        click.style(f"Customers {verb} so that tenants can pay ({len(report.customer_changes)}):", bold=True),
    )
    if verbosity:
        yield from (f"  user {o.row_id} ({o.label}): {said}" for o, said in report.customer_changes)


def collection_line(collection: CollectionChoice) -> str:
    """The collection choice in words: for new subscriptions, for linked ones, and at the trial's end."""
    linked = (
        "linked subscriptions that still bill are switched to it"
        if collection.chosen
        else "linked subscriptions keep their own (no --collection-method or COLLECTION_METHOD given)"
    )
    default = (
        ""
        if collection.chosen
        else " No method was chosen, so the default applies: Stripe charges a saved payment method, and a fresh "
        "account holds none, so a tenant's first rent invoice fails unless the tenant adds one first. Choose "
        "before the real run: --collection-method send_invoice --days-until-due N emails each invoice instead."
    )
    return (
        f"New subscriptions are {collection.says()}; {linked}. A trial that ends without a payment method "
        f"creates the invoice ({CREATE_INVOICE}): the rent stays owed, never paused or cancelled unseen.{default}"
    )


def readiness_lines(
    ready: Readiness, verbosity: int, collection: CollectionChoice | None = None, mark: str = ""
) -> Iterator[str]:
    """Every subscription that will bill, by first charge date: counts and money on a line per date; each
    tenant only with -v (the Markdown report lists them), so that 400 tenants are still one screen.

    `mark` tags each tenant who cannot pay yet (--verify: `[person]`).
    """
    yield from ("", "How tenants pay, by first charge date:")
    if collection is not None:
        yield f"  {collection_line(collection)}"
    for day, items in _periods(ready, verbosity):
        unready = [b for b in items if b.state is not State.READY]
        can = f"{len(unready)} cannot pay yet ({monthly(unready)})" if unready else "all can pay"
        yield f"  {day}: {len(items)} subscription(s), {monthly(items)}: {can}"
        for b in items if verbosity >= 2 else ():
            tag = f"{mark} " if mark and b.state is not State.READY else ""
            yield f"    {tag}{billable_line(b)}"
    if ready.unready() and verbosity < 2:
        yield "  Each tenant who cannot pay yet: -v, or the Markdown report."
    unready_now = ready.unready()
    for sentence in ready.summary():
        yield click.style(f"  {sentence}", fg="yellow" if unready_now else "green")


SCREEN_DATES = 12  # more first charge dates than this are shown by month, unless -v asks for every tenant


def _periods(ready: Readiness, verbosity: int) -> list[tuple[str, list[Billable]]]:
    """The first charge dates, or their months when there are too many dates to read at once."""
    days = list(ready.by_date())
    if verbosity >= 2 or len(days) <= SCREEN_DATES:
        return days
    months: dict[str, list[Billable]] = {}
    for day, items in days:
        months.setdefault(day[:7], []).extend(items)
    return list(months.items())


def billable_line(b: Billable) -> str:
    return f"lease {b.lease_id} ({b.label}), tenant {b.tenant}: {b.money}, {b.how()}"


def _person_lines(report: Report) -> Iterator[str]:
    groups = report.for_a_person()
    if not groups:
        return
    count = sum(len(rows) for _, rows in groups)
    yield from ("", click.style(f"Needs a person ({count} row(s)):", bold=True))
    for advice, rows in groups:
        if advice:
            yield f"  → {advice}"
        yield from ("  " + row_line(o) for o in rows)


def _not_finished_lines(report: Report, verbosity: int) -> Iterator[str]:
    """After what needs a person: the rows a stop left, counted (each row with -v, and in the Markdown report)."""
    left = report.not_finished()
    if not left:
        return
    yield from ("", click.style(f"Not finished ({len(left)} row(s)): {NEXT_STEPS[Problem.NOT_FINISHED]}", bold=True))
    if verbosity >= 2:
        yield from ("  " + row_line(o) for o in left)


def lease_ids(report: Report) -> list[str]:
    return [o.row_id for o in report.outcomes if o.kind is Kind.LEASE]


def money_split(report: Report) -> list[tuple[str, list[str]]]:
    """Per currency, what the subscriptions bill and how they collect: those this run makes apart from those
    Stripe already held.

    A rerun that creates nothing says so, instead of presenting what earlier runs linked as its own.
    """
    methods = {b.lease_id: b.method for b in report.ready.billable}
    made = "New subscriptions this run would create" if report.dry_run else "New subscriptions this run created"
    return [
        (made, [describe_total(t) for t in report.ledger.totals(report.lease_ids(NEW), methods)]),
        (
            "Already in Stripe (kept, or adopted)",
            [describe_total(t) for t in report.ledger.totals(report.lease_ids(LINKED), methods)],
        ),
    ]


def _money_lines(report: Report, verbosity: int) -> Iterator[str]:
    # New subscriptions at the normal level; every lease of the run with -v (a rerun keeps thousands).
    linked_now = NEW | {Result.ADOPTED}
    leases = [
        o for o in report.outcomes if o.kind is Kind.LEASE and o.synced and (verbosity >= 2 or o.result in linked_now)
    ]
    if leases:
        yield from (
            "",
            "What each subscription does:" if verbosity >= 2 else "What each new or adopted subscription does:",
        )
        paying = {b.lease_id: b for b in report.ready.billable}
        for o in sorted(leases, key=lambda o: o.label):
            money = report.ledger.leases.get(o.row_id)
            if money is not None:
                how = f"; {paying[o.row_id].how()}" if o.row_id in paying else ""
                yield f"  lease {o.row_id} ({o.label}): {money.money}/month, {money.does()}; {money.dates}{how}"
    split = money_split(report)
    if any(totals for _, totals in split):
        yield from ("", "Money, per currency:")
        for label, totals in split:
            yield f"  {label}:" + ("" if totals else " none")
            yield from ("    " + line for line in totals)
