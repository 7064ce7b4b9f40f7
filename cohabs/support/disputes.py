"""Pure planning for `support.py disputes`: each dispute, its payments row, and what re-collects it.

Rows and what the account holds in, one item per dispute (and per disputed row
no dispute explains) out. The money rules live here, so a dry run shows them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from stripe.params import (
    PaymentIntentCreateParams,
    PaymentIntentCreateParamsPaymentMethodOptionsCustomerBalanceBankTransfer,
)

from cohabs.shared.clock import from_unix
from cohabs.shared.money import exponent, format_minor
from cohabs.support.items import Action, Incident, Item, Plan, Problem, Recollection
from cohabs.support.objects import DISPUTE_KEY, DISPUTED_PAYMENT_KEY, LEASE_KEY, PAYMENT_KEY, Charge, Dispute, Intent
from cohabs.support.rows import House, Lease, NewPayment, Payment, PaymentRows, Ref

# Bank transfers Stripe can fund a customer balance with, per currency.
BANK_TRANSFER = {
    "eur": "eu_bank_transfer",
    "gbp": "gb_bank_transfer",
    "jpy": "jp_bank_transfer",
    "mxn": "mx_bank_transfer",
    "usd": "us_bank_transfer",
}
EU_COUNTRIES = ("DE", "FR", "IE", "NL")  # where the pinned SDK's API version issues euro bank details
MAX_AMOUNT = 99_999_999  # Stripe's largest amount in minor units


@dataclass(frozen=True)
class Rules:
    bank_country: str = "FR"  # the country of the euro bank details the tenant transfers to
    due_days: int = 7  # the new row is due this many days after its request is created
    cancel_won: bool = False  # cancel a request nobody paid yet once its dispute gave the money back


@dataclass(frozen=True, slots=True)
class Facts:
    """What the account says about one dispute."""

    dispute: Dispute
    charge: Charge | None  # the disputed charge, None when Stripe does not know it
    found: tuple[Intent, ...] = ()  # requests that name this dispute in their metadata, oldest first
    invoice: str | None = None  # the number of the invoice the disputed payment paid
    intent: Intent | None = None  # the disputed PaymentIntent, read when the charge lacks a customer or description
    # The customer's bank transfer requests since the dispute that name no dispute: perhaps one made by hand.
    unnamed: tuple[Intent, ...] = ()
    # request id -> its charge, for paid requests of a dispute that gave the money back: was the tenant refunded?
    request_charges: Mapping[str, Charge] = field(default_factory=dict)

    @property
    def customer(self) -> str | None:
        """The tenant's customer: the charge's, else its PaymentIntent's."""
        if self.charge is not None and self.charge.customer:
            return self.charge.customer
        return self.intent.customer if self.intent is not None else None


def new_payment_id(dispute_id: str, width: int | None) -> str:
    """The new row's id: derived from the dispute alone, so a rerun finds the row it wrote."""
    return hashlib.sha256(f"cohabs-support:dispute:{dispute_id}".encode()).hexdigest()[: min(width or 32, 32)]


def comment_for(dispute_id: str) -> str:
    return f"Created from the dispute ID: {dispute_id}"


def due_date(requested_at: datetime, rules: Rules) -> datetime:
    """Due `due_days` after the request exists: time to receive the bank details and send a transfer."""
    return requested_at.replace(microsecond=0) + timedelta(days=rules.due_days)


def matching_rows(dispute: Dispute, payments: Iterable[Payment]) -> list[Payment]:
    """Rows whose stripeChargeId is the disputed charge (ch_/py_) or its PaymentIntent (pi_)."""
    found = []
    for payment in payments:
        # The id first: it rules out nearly every row at once (a fraud wave is hundreds of disputes).
        if (payment.charge_id == dispute.charge and payment.ref is Ref.CHARGE) or (
            payment.charge_id == dispute.payment_intent and payment.ref is Ref.PAYMENT_INTENT
        ):
            found.append(payment)
    return found


def _decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency)).quantize(Decimal("0.01"))


def description(facts: Facts) -> str | None:
    """`INVOICE - <number>` when the payment paid an invoice, else its description in capitals (charge, then intent)."""
    if facts.invoice:
        return f"INVOICE - {facts.invoice}"
    for source in (facts.charge, facts.intent):
        if source is not None and source.description:
            return source.description.upper()
    return None


def intent_params(
    dispute: Dispute, customer: str, text: str, metadata: dict[str, str], rules: Rules
) -> PaymentIntentCreateParams | None:
    """A request paid only from the customer's balance, funded by bank transfer: the card is never used again."""
    kind = BANK_TRANSFER.get(dispute.currency)
    if kind is None:
        return None
    bank: PaymentIntentCreateParamsPaymentMethodOptionsCustomerBalanceBankTransfer = {"type": kind}
    if kind == "eu_bank_transfer":
        bank["eu_bank_transfer"] = {"country": rules.bank_country}
    return {
        "amount": dispute.amount,
        "currency": dispute.currency,
        "customer": customer,
        "allowed_payment_method_types": ["customer_balance"],
        "payment_method_data": {"type": "customer_balance"},
        "payment_method_options": {"customer_balance": {"funding_type": "bank_transfer", "bank_transfer": bank}},
        # Confirmed at once: Stripe then shows the bank details and waits (requires_action) for the transfer.
        "confirm": True,
        "description": text,
        "metadata": metadata,
    }


def _db_state(payment: Payment, new_id: str, new_row: Payment | None) -> str:
    state = (
        f"row {payment.id}: amount {payment.amount}, paid {payment.paid}, "
        f"disputed={int(payment.disputed)}, pending={int(payment.pending)}"
    )
    if new_row is None:
        return f"{state}; new row {new_id}: not there"
    return f"{state}; new row {new_id}: there ({new_row.charge_id or 'no Stripe id'})"


def _stripe_state(facts: Facts) -> str:
    d = facts.dispute
    state = f"dispute {d.status}, {format_minor(d.amount, d.currency)} on {d.charge or d.payment_intent}"
    if not facts.found:
        return f"{state}; no payment request for it yet"
    return f"{state}; " + ", ".join(f"request {i.id} {i.status}{_received(i)}" for i in facts.found)


def _received(intent: Intent) -> str:
    if not intent.open or not intent.received:
        return ""
    return f" ({format_minor(intent.received, intent.currency)} of {format_minor(intent.amount, intent.currency)} received)"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a payment belongs: its lease, its house's name and connected account, as far as they exist."""

    lease_id: str | None
    house: str | None
    account: str | None


class _Context:
    def __init__(self, rows: PaymentRows) -> None:
        self.payments = {p.id: p for p in rows.payments}
        self.charge_ids = {p.charge_id for p in rows.payments if p.charge_id}  # what the rows hold in stripeChargeId
        self.leases: Mapping[str, Lease] = {x.id: x for x in rows.leases}
        self.houses: Mapping[str, House] = {h.id: h for h in rows.houses}

    def where(self, payment: Payment) -> Place:
        lease = self.leases.get(payment.lease_id or "")
        house = self.houses.get(lease.house_id or "") if lease else None
        return Place(payment.lease_id, house.name if house else None, house.account_id if house else None)


@dataclass(frozen=True)
class _Case:
    """One dispute and the one row it disputes: what every check below reads."""

    facts: Facts
    payment: Payment
    context: _Context
    new_id: str  # the id of the row that records the re-collection
    now: datetime
    rules: Rules

    @property
    def dispute(self) -> Dispute:
        return self.facts.dispute

    @property
    def new_row(self) -> Payment | None:
        return self.context.payments.get(self.new_id)

    @property
    def extra_requests(self) -> str:
        """The requests naming this dispute beyond the first, as a clause for the reason ("" when none)."""
        more = self.facts.found[1:]
        if not more:
            return ""
        return f"; {len(more)} more request(s) name this dispute: {', '.join(i.id for i in more)} (review them)"

    @property
    def by_hand(self) -> list[str]:
        """Other rows whose comment names this dispute: the procedure followed by hand."""
        dispute_id = self.dispute.id
        return [
            p.id
            for p in self.context.payments.values()
            if p.id not in (self.payment.id, self.new_id) and dispute_id in (p.comment or "")
        ]

    @property
    def charge_id(self) -> str | None:
        """The disputed charge: Stripe's own id for it when Stripe knows it."""
        return self.facts.charge.id if self.facts.charge is not None else self.dispute.charge

    def item(self, action: Action, reason: str, problem: Problem | None = None, **extra: Any) -> Item:
        place = self.context.where(self.payment)
        return Item(
            f"dispute {self.dispute.id}",
            action,
            reason,
            payment_id=self.payment.id,
            lease_id=place.lease_id,
            house=place.house,
            account=place.account,
            amount=self.dispute.amount,
            currency=self.dispute.currency,
            stripe_state=_stripe_state(self.facts),
            db_state=_db_state(self.payment, self.new_id, self.new_row),
            problem=problem,
            **extra,
        )


Check = Callable[[_Case], Item | None]  # the item that settles the dispute, or None to go on to the next check


def plan_dispute(facts: Facts, context: _Context, *, now: datetime, rules: Rules, id_width: int | None) -> Item:
    """Reported when no row or several hold its charge; else the first of CHECKS that settles it; else a request."""
    rows = matching_rows(facts.dispute, context.payments.values())
    if len(rows) != 1:
        return _no_single_row(facts, rows)
    case = _Case(facts, rows[0], context, new_payment_id(facts.dispute.id, id_width), now, rules)
    for check in CHECKS:
        settled = check(case)
        if settled is not None:
            return settled
    return _request(case)


def _no_single_row(facts: Facts, rows: list[Payment]) -> Item:
    dispute = facts.dispute
    item = Item(
        f"dispute {dispute.id}",
        Action.REPORT,
        stripe_state=_stripe_state(facts),
        amount=dispute.amount,
        currency=dispute.currency,
    )
    if not rows:
        why = f"no payments row holds its charge {dispute.charge} or PaymentIntent {dispute.payment_intent}"
        return replace(item, reason=why, db_state="no row", problem=Problem.NO_ROW)
    why = f"rows {', '.join(p.id for p in rows)} all hold the disputed payment: which one to copy is a person's call"
    return replace(item, reason=why, problem=Problem.AMBIGUOUS_ROW)


def _id_taken(case: _Case) -> Item | None:
    new_row = case.new_row
    if new_row is None or case.dispute.id in (new_row.comment or ""):
        return None
    reason = f"row {case.new_id}, the id derived for this dispute, exists but does not name it: nothing done"
    return case.item(Action.REPORT, reason, Problem.ID_TAKEN)


@dataclass(frozen=True, slots=True)
class _Standing:
    """Where the re-collections of a dispute that gave the money back stand."""

    unpaid: list[Intent]  # open, nothing received: cancel them
    owing: list[Intent]  # the tenant paid (part of) them and was not refunded: refund them
    unknown: list[str]  # re-collections whose state the account cannot tell: rows by hand, a request not found
    over: list[str]  # canceled, or paid and refunded: what each one says

    @property
    def needs_a_person(self) -> bool:
        return bool(self.owing or self.unknown)

    @property
    def unresolved(self) -> bool:
        return bool(self.unpaid) or self.needs_a_person


def _standing(case: _Case) -> _Standing:
    standing = _Standing([], [], [], [])
    for request in case.facts.found:
        money = format_minor(request.amount, request.currency)
        charge = case.facts.request_charges.get(request.id)
        refunded = charge.amount_refunded if charge is not None else 0
        if request.status == "canceled":
            standing.over.append(f"request {request.id} ({money}) is canceled")
        elif request.open and not request.received:
            standing.unpaid.append(request)
        elif request.status == "succeeded" and refunded >= request.received:
            standing.over.append(f"request {request.id} ({money}) was paid and refunded")
        else:
            standing.owing.append(request)
    new_row = case.new_row
    if new_row is not None and not any(i.id == new_row.charge_id for i in case.facts.found):
        standing.unknown.append(f"row {new_row.id}'s request {new_row.charge_id} (not found in Stripe)")
    standing.unknown.extend(f"row {row} (made by hand)" for row in case.by_hand)
    return standing


def _owing_text(case: _Case, request: Intent) -> str:
    charge = case.facts.request_charges.get(request.id)
    refunded = charge.amount_refunded if charge is not None else 0
    paid = format_minor(request.received, request.currency)
    of = format_minor(request.amount, request.currency)
    if request.open:
        return f"the tenant has paid {paid} of {of} towards request {request.id}: cancel it and refund them"
    back = f", {format_minor(refunded, request.currency)} refunded so far" if refunded else ""
    return f"the tenant paid request {request.id} ({paid}{back}): refund them"


def _funds_returned(case: _Case) -> Item | None:
    """The dispute gave the money back (won, …) after it was re-collected: the tenant must not pay twice.

    Reported on every run until each request is canceled, or paid and refunded; the tool only ever
    cancels an unpaid request (with --cancel-won-requests), it never refunds.
    """
    if case.dispute.money_withdrawn:
        return None
    standing = _standing(case)
    status = case.dispute.status
    if not standing.unresolved:
        if not standing.over:
            return None  # never re-collected: _nothing_withdrawn says so
        over = "; ".join(standing.over)
        return case.item(Action.DONE, f"dispute {status}, the money came back, and its re-collection is over: {over}")
    unpaid = ", ".join(f"{i.id} ({format_minor(i.amount, i.currency)})" for i in standing.unpaid)
    if case.rules.cancel_won and not standing.needs_a_person:
        return case.item(
            Action.CANCEL,
            f"dispute {status} after its re-collection was requested: cancel unpaid request {unpaid}, so the "
            "tenant is not asked to pay money the platform has back",
            cancels=tuple(i.id for i in standing.unpaid),
        )
    return _returned_report(case, standing, unpaid)


def _returned_report(case: _Case, standing: _Standing, unpaid: str) -> Item:
    """What a person must do for each re-collection of a dispute that gave the money back."""
    texts = [_owing_text(case, i) for i in standing.owing]
    if standing.unpaid:
        texts.append(f"unpaid request {unpaid}: cancel it (or run again with --cancel-won-requests)")
    texts += [f"{what}: check it, cancel it if unpaid, refund the tenant if paid" for what in standing.unknown]
    problems = [
        *([Problem.RETURNED_PAID] if standing.needs_a_person else []),
        *([Problem.RETURNED_UNPAID] if standing.unpaid or standing.unknown else []),
    ]
    item = case.item(
        Action.REPORT,
        f"dispute {case.dispute.status} after its re-collection was requested: the platform has the money back, so "
        "the tenant must not pay it again; " + "; ".join(texts),
        problems[0],
    )
    return replace(item, more=tuple(problems[1:]))


def _row_written(case: _Case) -> Item | None:
    """Its row exists (and names it): handled; what is left depends on its request."""
    new_row = case.new_row
    if new_row is None:
        return None
    request = next((i for i in case.facts.found if i.id == new_row.charge_id), None)
    duplicate = Problem.DUPLICATE_REQUEST if case.extra_requests else None
    if request is None:
        return case.item(
            Action.DONE,
            f"already handled: row {case.new_id} exists, but its request {new_row.charge_id} is not among the "
            f"customer's PaymentIntents naming this dispute; check it in Stripe{case.extra_requests}",
            Problem.REQUEST_MISSING,
            stripe_id=new_row.charge_id,
        )
    if request.open:
        return case.item(
            Action.WAIT,
            f"waiting for the tenant's bank transfer: request {request.id} ({request.status}{_received(request)}), "
            f"recorded in row {case.new_id}{case.extra_requests}",
            duplicate,
            stripe_id=request.id,
            instructions=request.instructions,
        )
    if request.status == "canceled":
        return case.item(
            Action.REPORT,
            f"request {request.id} was canceled, but the dispute ({case.dispute.status}) keeps the money: it is not "
            f"re-collected; row {case.new_id} still records the canceled request{case.extra_requests}",
            Problem.REQUEST_CANCELED,
            stripe_id=request.id,
        )
    return case.item(
        Action.DONE,
        f"re-collected: the tenant paid request {request.id}, recorded in row {case.new_id}{case.extra_requests}",
        duplicate,
        stripe_id=request.id,
    )


def _handled_by_hand(case: _Case) -> Item | None:
    """The procedure was followed by hand before this tool: a row whose comment names the dispute."""
    found, by_hand = case.facts.found, case.by_hand
    if not by_hand:
        return None
    ours = f"; request {found[0].id} names it too (review it)" if found else ""
    return case.item(
        Action.DONE,
        f"already handled: row {', '.join(by_hand)} names this dispute in its comment{ours}",
        Problem.DUPLICATE_REQUEST if found else None,
    )


def _request_without_row(case: _Case) -> Item | None:
    """An earlier run made the request and stopped before its row: write the row, ask nothing twice."""
    if not case.facts.found:
        return None
    first = case.facts.found[0]
    return case.item(
        Action.RECORD,
        f"request {first.id} exists (an earlier run stopped before its row): add row {case.new_id}, "
        f"due {due_date(from_unix(first.created), case.rules):%Y-%m-%d}{case.extra_requests}",
        Problem.DUPLICATE_REQUEST if case.extra_requests else None,
        collection=Recollection(case.dispute.id, None, _new_row(case), existing=first),
        stripe_id=first.id,
        instructions=first.instructions,
    )


# Why a dispute over without a loss leaves nothing to re-collect.
NO_LOSS = {
    "won": "the bank gave the money back",
    "prevented": "it never took the money",
    "warning_closed": "an inquiry, closed without taking money",
}


def _nothing_withdrawn(case: _Case) -> Item | None:
    """No money left the balance: over for good (done), or an inquiry that may still become a chargeback."""
    dispute = case.dispute
    if dispute.money_withdrawn:
        return None
    if dispute.settled_without_loss:
        why = NO_LOSS.get(dispute.status, "no loss")
        return case.item(Action.DONE, f"dispute {dispute.status} ({why}): nothing to re-collect")
    return case.item(
        Action.REPORT,
        f"dispute status {dispute.status}: no money has left the balance for it yet, so nothing is re-collected "
        "(run again if it becomes a chargeback)",
        Problem.NOTHING_WITHDRAWN,
    )


def _maybe_by_hand(case: _Case) -> Item | None:
    """A bank transfer request of the same money since the dispute, naming none, may be a re-collection by hand.

    Rent the database knows of (a row holds the request or its charge) is no re-collection.
    """
    dispute = case.dispute
    alike = [
        i.id
        for i in case.facts.unnamed
        if (i.amount, i.currency) == (dispute.amount, dispute.currency)
        and not {i.id, i.latest_charge} & case.context.charge_ids
    ]
    if not alike:
        return None
    return case.item(
        Action.REPORT,
        f"{', '.join(alike)}: a bank transfer request of {format_minor(dispute.amount, dispute.currency)} to "
        "this tenant since the dispute, naming no dispute; it may be this re-collection made by hand, so "
        "nothing is requested until a person checks",
        Problem.MAYBE_HANDLED,
    )


def _charge_missing(case: _Case) -> Item | None:
    if case.facts.charge is not None:
        return None
    reason = f"charge {case.dispute.charge} is not in this Stripe account"
    return case.item(Action.REPORT, reason, Problem.CHARGE_MISSING)


def _no_customer(case: _Case) -> Item | None:
    if case.facts.customer:
        return None
    reason = (
        f"charge {case.charge_id} and its PaymentIntent name no customer: nobody to send a bank transfer request to"
    )
    return case.item(Action.REPORT, reason, Problem.NO_CUSTOMER)


def _bad_amount(case: _Case) -> Item | None:
    if 0 < case.dispute.amount <= MAX_AMOUNT:
        return None
    return case.item(Action.REPORT, f"disputed amount {case.dispute.amount} cannot be requested", Problem.BAD_AMOUNT)


def _no_description(case: _Case) -> Item | None:
    if description(case.facts) is not None:
        return None
    reason = f"no invoice paid by {case.charge_id} and no description on it: nothing to describe the request with"
    return case.item(Action.REPORT, reason, Problem.NO_DESCRIPTION)


# The checks, in the order they are asked once the dispute has its one row: the first that settles it decides
# its item; when none does, _request asks the tenant to pay again.
CHECKS: tuple[Check, ...] = (
    _id_taken,  # the row id derived for it belongs to another row
    _funds_returned,  # the money came back after a re-collection: cancel or refund, never ask twice
    _row_written,  # its row exists: waiting for the tenant, paid, or canceled
    _handled_by_hand,  # another row's comment names it: handled by hand
    _request_without_row,  # an earlier run made the request, not the row: record it
    _nothing_withdrawn,  # no money left the balance: nothing to re-collect
    _maybe_by_hand,  # a request like it that names no dispute: a person checks first
    _charge_missing,
    _no_customer,
    _bad_amount,
    _no_description,
)


def _new_row(case: _Case) -> NewPayment:
    dispute = case.dispute
    return NewPayment(case.new_id, case.payment.id, _decimal(dispute.amount, dispute.currency), comment_for(dispute.id))


def _request(case: _Case) -> Item:
    """No check settled it: request the disputed money again by bank transfer, and record it in a new row."""
    dispute, payment = case.dispute, case.payment
    customer, text = case.facts.customer, description(case.facts)
    assert customer is not None and text is not None  # _no_customer and _no_description
    metadata = {DISPUTE_KEY: dispute.id, PAYMENT_KEY: case.new_id, DISPUTED_PAYMENT_KEY: payment.id}
    if payment.lease_id:
        metadata[LEASE_KEY] = payment.lease_id
    params = intent_params(dispute, customer, text, metadata, case.rules)
    if params is None:
        return case.item(
            Action.REPORT, f"Stripe offers no bank transfer in {dispute.currency.upper()}", Problem.CURRENCY
        )
    notes = [] if payment.disputed else ["the row says disputed=0 although Stripe has this dispute (left as is)"]
    reason = "; ".join(
        [
            f"request {format_minor(dispute.amount, dispute.currency)} by bank transfer as '{text}'",
            f"add row {case.new_id}, due {due_date(case.now, case.rules):%Y-%m-%d}",
            *notes,
        ]
    )
    return case.item(Action.COLLECT, reason, collection=Recollection(dispute.id, params, _new_row(case)))


def plan_disputes(
    rows: PaymentRows, facts: Iterable[Facts], *, now: datetime, rules: Rules, id_width: int | None
) -> Plan:
    context = _Context(rows)
    plan = Plan(Incident.DISPUTES)
    explained: set[str] = set()
    for one in sorted(facts, key=lambda f: (f.dispute.created, f.dispute.id)):
        item = plan_dispute(one, context, now=now, rules=rules, id_width=id_width)
        plan.items.append(item)
        for payment in matching_rows(one.dispute, rows.payments):
            explained.add(payment.id)
    for payment in rows.payments:
        if payment.disputed and payment.id not in explained:
            place = context.where(payment)
            plan.items.append(
                Item(
                    f"payment {payment.id}",
                    Action.REPORT,
                    f"disputed=1 but no dispute in Stripe is on {payment.charge_id or 'its (empty) charge id'}",
                    payment_id=payment.id,
                    lease_id=place.lease_id,
                    house=place.house,
                    account=place.account,
                    stripe_state="no dispute",
                    db_state=f"row {payment.id}: amount {payment.amount}, disputed=1",
                    problem=Problem.NO_DISPUTE,
                    db_amount=payment.amount,
                )
            )
    plan.cancels_first()
    return plan
