"""Whether tenants can pay: every subscription that will bill, by first charge date, and who cannot pay yet.

A migration is done when rent arrives, not when subscriptions exist. The
account is fresh, so nobody has a payment method: a subscription charged
automatically fails its first invoice unless the tenant adds one before then,
and one invoiced by email needs an email Stripe can send to.

Pure, and built from the same plan as everything else: the dry run and the
sync's report read it as the plan leaves the account (a switch of collection
method counted as done), `--verify` as the account is now.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cohabs.shared.clock import from_unix
from cohabs.shared.money import to_major
from cohabs.sync.account import Account, Remote
from cohabs.sync.billing import CREATE_INVOICE, STOPPING_END_BEHAVIORS, Method
from cohabs.sync.ledger import LeaseMoney, Ledger, Schedule
from cohabs.sync.limits import email_problem
from cohabs.sync.plan import Action, Plan, Step, bills
from cohabs.sync.rows import Kind, Rows


class State(StrEnum):
    """Whether a subscription's first charge can succeed; a code, so advice never depends on wording."""

    READY = "ready"  # a payment method to charge, or an email to send the invoice to
    NO_PAYMENT_METHOD = "no_payment_method"  # charged automatically with nothing to charge: the invoice fails
    STOPS = "stops_at_trial_end"  # the same, and the trial's end pauses or cancels it: rent stops unseen
    NO_EMAIL = "no_email"  # invoiced by email, but its customer has no email Stripe can send to


@dataclass(frozen=True, slots=True)
class Billable:
    """One subscription that will bill, as its tenant's first charge date finds it."""

    lease_id: str
    label: str  # the lease's name
    tenant: str  # the user's email (masked by the reports' privacy filter), else its id
    user_id: str
    customer: str | None  # None: the run creates it
    amount: Decimal  # major units
    currency: str  # ISO code, upper case
    first_charge: datetime
    method: Method
    days_until_due: int | None
    can_pay: bool  # a default payment method on the customer or the subscription
    emailable: bool
    end_behavior: str  # what the trial's end does without a payment method
    state: State

    @property
    def money(self) -> str:
        return f"{self.amount:,} {self.currency}"

    @property
    def day(self) -> str:
        return f"{self.first_charge:%Y-%m-%d}"

    def how(self) -> str:
        """How this tenant pays, with what it has: "charged automatically, no payment method"."""
        if self.method is Method.INVOICE:
            return self.method.says(self.days_until_due) + ("" if self.emailable else ", no email")
        return self.method.says() + (", payment method on file" if self.can_pay else ", no payment method")

    def problem(self) -> str:
        """Why the first charge will not bring the rent, for a person; empty when it will."""
        first = f"tenant {self.tenant}, {self.money} a month, first charge {self.day}"
        if self.state is State.NO_PAYMENT_METHOD:
            return f"{first}: charged automatically with no payment method, the first invoice will fail"
        if self.state is State.STOPS:
            return (
                f"{first}: no payment method, and the trial's end is set to {self.end_behavior} the subscription: "
                "the rent stops without an invoice"
            )
        if self.state is State.NO_EMAIL:
            return f"{first}: invoiced by email, but its customer has no email Stripe can send the invoice to"
        return ""

    def advice(self) -> str:
        if self.state is State.NO_EMAIL:
            return f"Give user {self.user_id} an email (and its customer in Stripe) before {self.day}."
        if self.state is State.STOPS:
            return (
                f"Collect a payment method from the tenant before {self.day}, or set the subscription's "
                "trial_settings.end_behavior.missing_payment_method to create_invoice in Stripe."
            )
        return (
            f"Collect a payment method from the tenant before {self.day}, or switch the subscription to send_invoice "
            "(`--collection-method send_invoice --days-until-due N`): Stripe then emails the invoice."
        )


@dataclass(frozen=True)
class Readiness:
    """The subscriptions that will bill, earliest first charge first."""

    billable: list[Billable] = field(default_factory=list)

    def unready(self) -> list[Billable]:
        return [b for b in self.billable if b.state is not State.READY]

    def by_date(self) -> Iterator[tuple[str, list[Billable]]]:
        """(first charge date, the subscriptions charged first that day), in date order."""
        days: dict[str, list[Billable]] = {}
        for item in self.billable:
            days.setdefault(item.day, []).append(item)
        yield from sorted(days.items())

    def only(self, lease_ids: Collection[str]) -> Readiness:
        return Readiness([b for b in self.billable if b.lease_id in lease_ids])

    def scrubbed(self, clean: Callable[[str], str]) -> Readiness:
        return Readiness([replace(b, tenant=clean(b.tenant), label=clean(b.label)) for b in self.billable])

    def summary(self) -> list[str]:
        """One sentence per kind of tenant who cannot pay yet, or one saying all can."""
        if not self.billable:
            return ["No subscription bills yet."]
        said = [_sentence(state, group) for state, group in _groups(self.unready())]
        if said:
            return said
        automatic = sum(1 for b in self.billable if b.method is Method.AUTOMATIC)
        return [
            f"Every subscription that bills can be paid: {automatic} charged automatically with a payment method on "
            f"file, {len(self.billable) - automatic} invoiced by email."
        ]


def _groups(items: Iterable[Billable]) -> Iterator[tuple[State, list[Billable]]]:
    grouped: dict[State, list[Billable]] = {}
    for item in items:
        grouped.setdefault(item.state, []).append(item)
    yield from ((state, grouped[state]) for state in State if state in grouped)


def monthly(items: Iterable[Billable]) -> str:
    """What they bill a month together, per currency: "1,400.00 EUR and 950.00 USD"."""
    totals: dict[str, Decimal] = {}
    for item in items:
        totals[item.currency] = totals.get(item.currency, to_major(0, item.currency)) + item.amount
    return " and ".join(f"{total:,} {currency}" for currency, total in sorted(totals.items()))


def _sentence(state: State, group: list[Billable]) -> str:
    tenants = len({b.user_id for b in group})
    leases = f" ({len(group)} leases)" if len(group) != tenants else ""
    first = min(b.first_charge for b in group)
    who = f"{tenants} tenant(s){leases}, {monthly(group)} a month,"
    if state is State.NO_EMAIL:
        return (
            f"{who} are invoiced by email from {first:%Y-%m-%d} but have no email Stripe can send to: "
            "add their emails before then."
        )
    if state is State.STOPS:
        return (
            f"{who} are charged automatically from {first:%Y-%m-%d}, have no payment method, and their trial's end "
            "pauses or cancels the subscription: their rent stops without an invoice. Collect payment methods "
            "before then, or set their end behaviour to create_invoice in Stripe."
        )
    return (
        f"{who} are charged automatically from {first:%Y-%m-%d} and have no payment method: their first invoice "
        "will fail. Collect payment methods before then, or switch them to send_invoice."
    )


def assess(plan: Plan, account: Account, rows: Rows, ledger: Ledger, *, as_planned: bool) -> Readiness:
    """Every lease whose subscription will bill, with how its tenant pays.

    `as_planned`: the account as this run leaves it (new subscriptions made, chosen methods applied), for the
    plan and the sync's report; else as it is now, for --verify. A subscription that exists is read as Stripe
    holds it (its amount, its trial's end); one to create, as the money rules make it. Rows with a problem
    are left out: their line already says what a person must decide.
    """
    users = {u.id: u for u in rows.users}
    leases = {x.id: x for x in rows.leases}
    user_steps = {s.row_id: s for s in [*plan.steps[Kind.USER], *plan.deferred] if s.kind is Kind.USER}
    found = []
    for step in plan.steps[Kind.LEASE]:
        lease, money = leases.get(step.row_id), ledger.leases.get(step.row_id)
        if lease is None or money is None or step.problem is not None:
            continue
        user_step = user_steps.get(lease.user_id or "")
        customer = account.find(Kind.USER, user_step.stripe_id or "") if user_step else None
        charged = _charged(step, plan, account, customer, money, as_planned)
        if charged is None:
            continue
        how, customer = charged
        user = users.get(lease.user_id or "")
        email = dict(customer.details).get("email") if customer else (user.email if user else None)
        found.append(_billable(step, money, lease.user_id or "", user_step, customer, email, how))
    found.sort(key=lambda b: (b.first_charge, b.label, b.lease_id))
    return Readiness(found)


def _charged(
    step: Step, plan: Plan, account: Account, customer: Remote | None, money: LeaseMoney, as_planned: bool
) -> tuple[_How, Remote | None] | None:
    """How the lease's subscription will charge, and the customer it bills; None when it will not charge."""
    if step.action is Action.CREATE and step.billing is not None:
        made = as_planned and Kind.LEASE in plan.active and money.schedule is Schedule.MONTHLY
        how = _new(step, customer, money) if made else None
        return (how, customer) if how else None
    if step.action not in (Action.KEEP, Action.ADOPT) or not step.bills:
        return None
    subscription = account.find(Kind.LEASE, step.stripe_id or "")
    if subscription is None or not bills(subscription):
        return None
    customer = account.find(Kind.USER, subscription.customer or "") or customer
    how = _linked(step, subscription, customer, money, as_planned)
    return (how, customer) if how else None


@dataclass(frozen=True, slots=True)
class _How:
    """What a subscription will charge, when, and how its tenant pays it."""

    amount: Decimal
    currency: str  # upper case
    first_charge: datetime
    method: Method
    days: int | None
    can_pay: bool
    end_behavior: str
    trial_ahead: bool  # its trial has not ended: the end behaviour still applies


def _new(step: Step, customer: Remote | None, money: LeaseMoney) -> _How | None:
    assert step.billing is not None
    if money.first_charge is None:
        return None
    billing, collection = step.billing, step.billing.collection
    can_pay = customer.can_pay if customer else False  # a customer this run creates has none
    return _How(
        to_major(billing.amount, billing.currency),
        billing.currency.upper(),
        money.first_charge,
        collection.method,
        collection.days_until_due,
        can_pay,
        CREATE_INVOICE,
        True,
    )


def _linked(
    step: Step, subscription: Remote, customer: Remote | None, money: LeaseMoney, as_planned: bool
) -> _How | None:
    trial_end = subscription.trial_end if subscription.status == "trialing" else None
    trialing = trial_end is not None
    # Stripe's own date while its trial runs; after it, the lease's next rent date.
    first = from_unix(trial_end) if trial_end else money.first_charge
    if first is None or subscription.amount is None or not subscription.currency:
        return None
    repair: Mapping[str, object] = step.repair or {}
    if as_planned and step.switch is not None:
        method, days = Method(str(repair["collection_method"])), repair.get("days_until_due")
    else:
        method = Method(subscription.collection_method or Method.AUTOMATIC.value)
        days = subscription.days_until_due
    return _How(
        to_major(subscription.amount, subscription.currency),
        subscription.currency.upper(),
        first,
        method,
        int(str(days)) if days is not None else None,
        subscription.can_pay or bool(customer and customer.can_pay),
        subscription.end_behavior or CREATE_INVOICE,  # what Stripe applies when none was set
        trialing,
    )


def _billable(
    step: Step,
    money: LeaseMoney,
    user_id: str,
    user_step: Step | None,
    customer: Remote | None,
    email: str | None,
    how: _How,
) -> Billable:
    emailable = bool(email) and email_problem(email) is None
    if how.method is Method.INVOICE:
        state = State.READY if emailable else State.NO_EMAIL
    elif how.can_pay:
        state = State.READY
    elif how.trial_ahead and how.end_behavior in STOPPING_END_BEHAVIORS:
        state = State.STOPS
    else:
        state = State.NO_PAYMENT_METHOD
    return Billable(
        lease_id=step.row_id,
        label=money.label,
        tenant=user_step.label if user_step else user_id,
        user_id=user_id,
        customer=customer.id if customer else None,
        amount=how.amount,
        currency=how.currency,
        first_charge=how.first_charge,
        method=how.method,
        days_until_due=how.days,
        can_pay=how.can_pay,
        emailable=emailable,
        end_behavior=how.end_behavior,
        state=state,
    )
