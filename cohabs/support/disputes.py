"""Pure planning for `support.py disputes`: each dispute, its payments row, and what re-collects it.

Rows and what the account holds in, one item per dispute (and per disputed row
no dispute explains) out. The money rules live here, so a dry run shows them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from stripe.params import (
    PaymentIntentCreateParams,
    PaymentIntentCreateParamsPaymentMethodOptionsCustomerBalanceBankTransfer,
)

from cohabs.shared.money import exponent, format_minor
from cohabs.support.objects import DISPUTE_KEY, DISPUTED_PAYMENT_KEY, LEASE_KEY, PAYMENT_KEY, Charge, Dispute, Intent
from cohabs.support.plan import Action, Collection, Item, Job, Plan, Problem
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

    @property
    def customer(self) -> str | None:
        """The tenant's customer: the charge's, else its PaymentIntent's."""
        if self.charge is not None and self.charge.customer:
            return self.charge.customer
        return self.intent.customer if self.intent is not None else None


def from_timestamp(seconds: int) -> datetime:
    """A Stripe timestamp as the naive UTC datetime the database holds."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


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
        if (payment.ref is Ref.CHARGE and payment.charge_id == dispute.charge) or (
            payment.ref is Ref.PAYMENT_INTENT and payment.charge_id == dispute.payment_intent
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
    return f"{state}; " + ", ".join(f"request {i.id} {i.status}" for i in facts.found)


class _Context:
    def __init__(self, rows: PaymentRows) -> None:
        self.payments = {p.id: p for p in rows.payments}
        self.charge_ids = {p.charge_id for p in rows.payments if p.charge_id}  # what the rows hold in stripeChargeId
        self.leases: Mapping[str, Lease] = {x.id: x for x in rows.leases}
        self.houses: Mapping[str, House] = {h.id: h for h in rows.houses}

    def where(self, payment: Payment) -> tuple[str | None, str | None, str | None]:
        """The payment's lease, its house's name and account, as far as they exist."""
        lease = self.leases.get(payment.lease_id or "")
        house = self.houses.get(lease.house_id or "") if lease else None
        return payment.lease_id, house.name if house else None, house.account_id if house else None


def plan_dispute(facts: Facts, context: _Context, *, now: datetime, rules: Rules, id_width: int | None) -> Item:
    dispute = facts.dispute
    subject = f"dispute {dispute.id}"
    rows = matching_rows(dispute, context.payments.values())
    if not rows:
        return Item(
            subject,
            Action.REPORT,
            f"no payments row holds its charge {dispute.charge} or PaymentIntent {dispute.payment_intent}",
            stripe_state=_stripe_state(facts),
            db_state="no row",
            problem=Problem.NO_ROW,
            amount=dispute.amount,
            currency=dispute.currency,
        )
    if len(rows) > 1:
        return Item(
            subject,
            Action.REPORT,
            f"rows {', '.join(p.id for p in rows)} all hold the disputed payment: which one to copy is a person's call",
            stripe_state=_stripe_state(facts),
            problem=Problem.AMBIGUOUS_ROW,
            amount=dispute.amount,
            currency=dispute.currency,
        )
    (payment,) = rows
    lease_id, house, account = context.where(payment)
    new_id = new_payment_id(dispute.id, id_width)
    new_row = context.payments.get(new_id)

    base = Item(
        subject,
        Action.REPORT,
        payment_id=payment.id,
        lease_id=lease_id,
        house=house,
        account=account,
        amount=dispute.amount,
        currency=dispute.currency,
        stripe_state=_stripe_state(facts),
        db_state=_db_state(payment, new_id, new_row),
    )

    def item(action: Action, reason: str, problem: Problem | None = None, **extra: Any) -> Item:
        return replace(base, action=action, reason=reason, problem=problem, **extra)

    found = facts.found
    extra_requests = (
        f"; {len(found) - 1} more request(s) name this dispute: {', '.join(i.id for i in found[1:])} (review them)"
        if len(found) > 1
        else ""
    )
    if new_row is not None:
        if dispute.id not in (new_row.comment or ""):
            return item(
                Action.REPORT,
                f"row {new_id}, the id derived for this dispute, exists but does not name it: nothing done",
                Problem.ID_TAKEN,
            )
        if not any(i.id == new_row.charge_id for i in found):
            return item(
                Action.DONE,
                f"already handled: row {new_id} exists, but its request {new_row.charge_id} is not among the "
                f"customer's PaymentIntents naming this dispute; check it in Stripe{extra_requests}",
                Problem.REQUEST_MISSING,
                stripe_id=new_row.charge_id,
            )
        return item(
            Action.DONE,
            f"already handled: row {new_id} records request {new_row.charge_id}{extra_requests}",
            Problem.DUPLICATE_REQUEST if extra_requests else None,
            stripe_id=new_row.charge_id,
        )
    # The procedure was followed by hand before this tool: a row whose comment names the dispute.
    by_hand = [p.id for p in context.payments.values() if p.id != payment.id and dispute.id in (p.comment or "")]
    if by_hand:
        ours = f"; request {found[0].id} names it too (review it)" if found else ""
        return item(
            Action.DONE,
            f"already handled: row {', '.join(by_hand)} names this dispute in its comment{ours}",
            Problem.DUPLICATE_REQUEST if found else None,
        )
    row = NewPayment(new_id, payment.id, _decimal(dispute.amount, dispute.currency), comment_for(dispute.id))
    if found:
        # An earlier run made the request and stopped before its row: write the row, ask nothing twice.
        first = found[0]
        collection = Collection(dispute.id, None, row, existing=first)
        return item(
            Action.RECORD,
            f"request {first.id} exists (an earlier run stopped before its row): add row {new_id}, "
            f"due {due_date(from_timestamp(first.created), rules):%Y-%m-%d}{extra_requests}",
            Problem.DUPLICATE_REQUEST if extra_requests else None,
            collection=collection,
            stripe_id=first.id,
        )
    if not dispute.money_withdrawn:
        return item(
            Action.REPORT,
            f"dispute status {dispute.status}: no money has left the balance for it, so nothing is re-collected",
            Problem.NOTHING_WITHDRAWN,
        )
    # Rent the database knows of (a row holds the request or its charge) is no re-collection.
    alike = [
        i.id
        for i in facts.unnamed
        if (i.amount, i.currency) == (dispute.amount, dispute.currency)
        and not {i.id, i.latest_charge} & context.charge_ids
    ]
    if alike:
        return item(
            Action.REPORT,
            f"{', '.join(alike)}: a bank transfer request of {format_minor(dispute.amount, dispute.currency)} to "
            "this tenant since the dispute, naming no dispute; it may be this re-collection made by hand, so "
            "nothing is requested until a person checks",
            Problem.MAYBE_HANDLED,
        )
    charge = facts.charge
    if charge is None:
        return item(Action.REPORT, f"charge {dispute.charge} is not in this Stripe account", Problem.CHARGE_MISSING)
    customer = facts.customer
    if not customer:
        return item(
            Action.REPORT,
            f"charge {charge.id} and its PaymentIntent name no customer: nobody to send a bank transfer request to",
            Problem.NO_CUSTOMER,
        )
    if not 0 < dispute.amount <= MAX_AMOUNT:
        return item(Action.REPORT, f"disputed amount {dispute.amount} cannot be requested", Problem.BAD_AMOUNT)
    text = description(facts)
    if text is None:
        return item(
            Action.REPORT,
            f"no invoice paid by {charge.id} and no description on it: nothing to describe the request with",
            Problem.NO_DESCRIPTION,
        )
    metadata = {DISPUTE_KEY: dispute.id, PAYMENT_KEY: new_id, DISPUTED_PAYMENT_KEY: payment.id}
    if payment.lease_id:
        metadata[LEASE_KEY] = payment.lease_id
    params = intent_params(dispute, customer, text, metadata, rules)
    if params is None:
        return item(Action.REPORT, f"Stripe offers no bank transfer in {dispute.currency.upper()}", Problem.CURRENCY)
    notes = [] if payment.disputed else ["the row says disputed=0 although Stripe has this dispute (left as is)"]
    reason = "; ".join(
        [
            f"request {format_minor(dispute.amount, dispute.currency)} by bank transfer as '{text}'",
            f"add row {new_id}, due {due_date(now, rules):%Y-%m-%d}",
            *notes,
        ]
    )
    return item(Action.COLLECT, reason, collection=Collection(dispute.id, params, row))


def plan_disputes(
    rows: PaymentRows, facts: Iterable[Facts], *, now: datetime, rules: Rules, id_width: int | None
) -> Plan:
    context = _Context(rows)
    plan = Plan(Job.DISPUTES)
    explained: set[str] = set()
    for one in sorted(facts, key=lambda f: (f.dispute.created, f.dispute.id)):
        item = plan_dispute(one, context, now=now, rules=rules, id_width=id_width)
        plan.items.append(item)
        for payment in matching_rows(one.dispute, rows.payments):
            explained.add(payment.id)
    for payment in rows.payments:
        if payment.disputed and payment.id not in explained:
            lease_id, house, account = context.where(payment)
            plan.items.append(
                Item(
                    f"payment {payment.id}",
                    Action.REPORT,
                    f"disputed=1 but no dispute in Stripe is on {payment.charge_id or 'its (empty) charge id'}",
                    payment_id=payment.id,
                    lease_id=lease_id,
                    house=house,
                    account=account,
                    stripe_state="no dispute",
                    db_state=f"row {payment.id}: amount {payment.amount}, disputed=1",
                    problem=Problem.NO_DISPUTE,
                )
            )
    return plan
