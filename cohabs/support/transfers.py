"""Pure planning for `support.py transfers`: which paid rent goes to which house's account, and how much.

Rows and what the account holds in, one item per payment (and per house that
needs a look) out. Every check that keeps money from leaving is here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal

from stripe.params import TransferCreateParams

from cohabs.shared.money import InvalidAmount, format_minor, to_minor
from cohabs.support.objects import HOUSE_KEY, LEASE_KEY, PAYMENT_KEY, Charge, Intent, Transfer
from cohabs.support.plan import Action, Item, Job, Payout, Plan, Problem
from cohabs.support.rows import House, Lease, Payment, PaymentRows, Ref

Reason = tuple[Problem, str]


@dataclass(frozen=True)
class Rules:
    fee_percent: Decimal = Decimal(0)  # the platform keeps this share of each payment; 0 pays the house in full


@dataclass(frozen=True, slots=True)
class ChargeLookup:
    """A payment's charge as Stripe holds it, or why it cannot be found."""

    charge: Charge | None
    missing: str | None = None  # why there is no charge, when there is none


@dataclass(frozen=True)
class PayoutFacts:
    """What Stripe holds for the houses' payouts: which accounts exist, what was transferred, the charges."""

    exists: Mapping[str, bool]  # connected account id -> it exists
    transfers: Iterable[Transfer]  # every transfer to the houses' existing accounts
    charges: Mapping[str, Charge | None]  # charge id -> the charge, None when Stripe does not know it
    intents: Mapping[str, Intent | None] = field(default_factory=dict)  # pi id -> the PaymentIntent

    def charge_of(self, payment: Payment) -> ChargeLookup:
        if payment.ref is Ref.PAYMENT_INTENT:
            intent = self.intents.get(payment.charge_id or "")
            if intent is None:
                return ChargeLookup(None, f"PaymentIntent {payment.charge_id} is not in this Stripe account")
            if intent.latest_charge is None:
                return ChargeLookup(None, f"PaymentIntent {intent.id} is {intent.status}: it has no charge")
            charge_id = intent.latest_charge
        else:
            charge_id = payment.charge_id or ""
        charge = self.charges.get(charge_id)
        return ChargeLookup(charge, None if charge is not None else f"charge {charge_id} is not in this Stripe account")


def fee_of(amount: int, rules: Rules) -> int:
    """The platform's fee in minor units, rounded down: the house never gets less than its share."""
    return int((Decimal(amount) * rules.fee_percent / 100).to_integral_value(rounding=ROUND_FLOOR))


def _o_for_0(account: str, others: Iterable[str]) -> str | None:
    """Another account id that differs from this one only by the letter O against the digit 0."""
    folded = account.replace("O", "0")
    return next((o for o in others if o != account and o.replace("O", "0") == folded), None)


class _Houses:
    def __init__(self, rows: PaymentRows, exists: Mapping[str, bool]) -> None:
        self.leases: Mapping[str, Lease] = {x.id: x for x in rows.leases}
        self.houses: Mapping[str, House] = {h.id: h for h in rows.houses}
        self.exists = exists
        self.by_account = {h.account_id: h for h in rows.houses if h.account_id}
        self.holders: dict[str, list[str]] = {}  # charge id -> the rows that hold it
        for payment in rows.payments:
            if payment.charge_id:
                self.holders.setdefault(payment.charge_id, []).append(payment.id)

    def account_problems(self, house: House) -> list[Reason]:
        if not house.account_id:
            return [(Problem.NO_ACCOUNT_ID, f"house {house.name} has no stripeAccountId")]
        if self.exists.get(house.account_id):
            return []
        why = f"account {house.account_id} of house {house.name} does not exist in Stripe"
        twin = _o_for_0(house.account_id, self.by_account)
        if twin:
            why += f" (it differs from {twin}, house {self.by_account[twin].name}, only by O against 0)"
        return [(Problem.ACCOUNT_MISSING, why)]


def _amount_text(value: Decimal | None) -> str:
    return "NULL" if value is None else f"{value}"


def db_reasons(payment: Payment, houses: _Houses) -> list[Reason]:
    """Everything in the database that keeps this payment from being paid out."""
    reasons: list[Reason] = []
    if payment.disputed:
        reasons.append((Problem.DISPUTED, "disputed=1 (re-collected by the disputes command, never paid out)"))
    if payment.pending:
        reasons.append((Problem.PENDING, "pending=1: not settled"))
    if payment.charge_id is None:
        reasons.append((Problem.NO_CHARGE_ID, "no charge id"))
    elif payment.ref is Ref.UNKNOWN:
        reasons.append((Problem.UNKNOWN_ID, f"stripeChargeId {payment.charge_id!r} is no charge or PaymentIntent id"))
    if payment.amount is None or payment.amount <= 0:
        reasons.append((Problem.BAD_AMOUNT, f"amount {_amount_text(payment.amount)} is not positive"))
    elif payment.pending:
        pass  # unpaid while pending is what pending means: said once, above
    elif payment.paid is not None and payment.paid == 0 and payment.charge_id:
        reasons.append((Problem.PAID_ZERO, f"paid 0.00 of {payment.amount} although a charge id is stored"))
    elif payment.paid != payment.amount:
        reasons.append((Problem.NOT_PAID_IN_FULL, f"paid {_amount_text(payment.paid)} of {payment.amount}"))
    lease = houses.leases.get(payment.lease_id or "")
    if lease is None:
        reasons.append((Problem.NO_LEASE, f"lease {payment.lease_id} does not exist"))
        return reasons
    if payment.due is not None and lease.end is not None and payment.due > lease.end:
        reasons.append(
            (Problem.DUE_AFTER_LEASE, f"due {payment.due:%Y-%m-%d}, after its lease ended {lease.end:%Y-%m-%d}")
        )
    house = houses.houses.get(lease.house_id or "")
    if house is None:
        reasons.append((Problem.NO_HOUSE, f"house {lease.house_id} of lease {lease.id} does not exist"))
        return reasons
    if house.deleted or not house.active:
        reasons.append((Problem.HOUSE_CLOSED, f"house {house.name} is {'deleted' if house.deleted else 'inactive'}"))
    return reasons + houses.account_problems(house)


def stripe_reasons(payment: Payment, charge: Charge | None, missing: str | None) -> list[Reason]:
    """Everything in Stripe that keeps this payment from being paid out."""
    if charge is None:
        return [(Problem.CHARGE_MISSING, missing or "charge not found")]
    reasons: list[Reason] = []
    if charge.status != "succeeded" or not charge.captured:
        reasons.append((Problem.CHARGE_NOT_SUCCEEDED, f"charge {charge.id} is {charge.status}, not a captured success"))
    if charge.refunded or charge.amount_refunded:
        refunded = format_minor(charge.amount_refunded, charge.currency)
        reasons.append((Problem.CHARGE_REFUNDED, f"charge {charge.id} is refunded ({refunded})"))
    if charge.disputed:
        reasons.append((Problem.CHARGE_DISPUTED, f"charge {charge.id} is disputed in Stripe"))
    try:
        minor = to_minor(payment.amount, charge.currency)
    except InvalidAmount as exc:
        return [*reasons, (Problem.BAD_AMOUNT, f"amount: {exc}")]
    if minor != charge.amount or minor != charge.amount_captured:
        reasons.append(
            (
                Problem.AMOUNT_MISMATCH,
                f"the row's {payment.amount} is not the {format_minor(charge.amount_captured, charge.currency)} "
                f"charge {charge.id} took",
            )
        )
    return reasons


def _db_state(payment: Payment) -> str:
    due = f"due {payment.due:%Y-%m-%d}" if payment.due else "no due date"
    return (
        f"paid {_amount_text(payment.paid)} of {_amount_text(payment.amount)}, pending={int(payment.pending)}, "
        f"disputed={int(payment.disputed)}, {due}, charge {payment.charge_id or '(none)'}"
    )


def _stripe_state(charge: Charge | None, done: Iterable[Transfer]) -> str:
    parts = []
    if charge is not None:
        refunded = (
            f", {format_minor(charge.amount_refunded, charge.currency)} refunded" if charge.amount_refunded else ""
        )
        parts.append(
            f"charge {charge.status}, {format_minor(charge.amount, charge.currency)}{refunded}"
            + (", disputed" if charge.disputed else "")
        )
    transfers = [f"{t.id} to {t.destination}" + (" (reversed)" if t.reversed else "") for t in done]
    parts.append("transferred: " + ", ".join(transfers) if transfers else "no transfer of it")
    return "; ".join(parts)


def transfer_params(payment: Payment, lease: Lease, house: House, charge: Charge, amount: int) -> TransferCreateParams:
    assert house.account_id is not None
    return {
        "amount": amount,
        "currency": charge.currency,
        "destination": house.account_id,
        "source_transaction": charge.id,
        # The charge's own group when it has one, else one per payment: either way the pair is tied.
        "transfer_group": charge.transfer_group or f"cohabs-payment-{payment.id}",
        "description": f"Rent {house.name}" + (f", due {payment.due:%Y-%m-%d}" if payment.due else ""),
        "metadata": {PAYMENT_KEY: payment.id, LEASE_KEY: lease.id, HOUSE_KEY: house.id},
    }


@dataclass(frozen=True)
class _Case:
    """One payment with what the rows and the account say of it: what every check below reads."""

    payment: Payment
    houses: _Houses
    lease: Lease | None
    house: House | None
    found: ChargeLookup
    source: str | None  # the charge a transfer of this rent names
    done: list[Transfer]  # transfers of this rent: they name its charge, or this row in their metadata
    unclear: list[Transfer]  # transfers in its charge's transfer group that name no charge
    amount: int | None  # the row's amount in the charge's minor units; None when it is not money
    item: Item  # the payment as every check reports it
    rules: Rules

    @property
    def ours(self) -> list[Transfer]:
        """The transfers of this rent to its own house."""
        return [t for t in self.done if self.house is not None and t.destination == self.house.account_id]


Check = Callable[[_Case], Item | None]  # the item that settles the payment, or None to go on to the next check


def plan_payment(
    payment: Payment,
    houses: _Houses,
    facts: PayoutFacts,
    sent: Mapping[str, list[Transfer]],
    unsourced: Mapping[str, list[Transfer]],
    rules: Rules,
) -> Item:
    """The first check in CHECKS that settles the payment; its transfer when none does."""
    case = _case(payment, houses, facts, sent, unsourced, rules)
    for check in CHECKS:
        settled = check(case)
        if settled is not None:
            return settled
    return _transfer(case)


def _case(
    payment: Payment,
    houses: _Houses,
    facts: PayoutFacts,
    sent: Mapping[str, list[Transfer]],
    unsourced: Mapping[str, list[Transfer]],
    rules: Rules,
) -> _Case:
    lease = houses.leases.get(payment.lease_id or "")
    house = houses.houses.get(lease.house_id or "") if lease else None
    found = facts.charge_of(payment) if payment.ref in (Ref.CHARGE, Ref.PAYMENT_INTENT) else ChargeLookup(None)
    charge = found.charge
    source = charge.id if charge else payment.charge_id if payment.ref is Ref.CHARGE else None
    # A transfer of this rent names its charge, or this row in its metadata (ours always do both).
    done = list({t.id: t for t in [*sent.get(source or "", []), *sent.get(payment.id, [])]}.values())
    groups = {charge.transfer_group if charge else None, f"cohabs-payment-{payment.id}"} - {None}
    unclear = [t for group in sorted(str(g) for g in groups) for t in unsourced.get(group, [])]
    amount = _minor(payment.amount, charge.currency) if charge is not None else None
    item = Item(
        f"payment {payment.id}",
        Action.REPORT,
        payment_id=payment.id,
        lease_id=payment.lease_id,
        house=house.name if house else None,
        account=house.account_id if house else None,
        amount=amount,
        currency=charge.currency if charge else None,
        stripe_state=_stripe_state(charge, done),
        db_state=_db_state(payment),
    )
    return _Case(payment, houses, lease, house, found, source, done, unclear, amount, item, rules)


def _minor(amount: Decimal | None, currency: str) -> int | None:
    try:
        return to_minor(amount, currency)
    except InvalidAmount:
        return None


def _database_says_no(case: _Case) -> Item | None:
    """The row, its lease or its house keep it from being paid out, or another row holds its charge."""
    payment = case.payment
    reasons = db_reasons(payment, case.houses)
    twins = [p for p in case.houses.holders.get(payment.charge_id or "", []) if p != payment.id]
    if twins:
        reasons.append(
            (Problem.SHARED_CHARGE, f"rows {', '.join(twins)} hold the same {payment.charge_id}: one charge, paid once")
        )
    return _with(case.item, Action.REPORT, reasons) if reasons else None


def _already_transferred(case: _Case) -> Item | None:
    kept = [t for t in case.ours if not t.reversed]
    if not kept:
        return None
    item = replace(case.item, amount=kept[0].amount, currency=kept[0].currency)
    return _with(item, Action.DONE, [], f"already transferred: {', '.join(t.id for t in kept)}", kept[0].id)


def _transfer_reversed(case: _Case) -> Item | None:
    """Every transfer of it to its house came back: paying again is a person's call."""
    ours = case.ours
    if not ours or case.house is None:
        return None
    item = replace(case.item, amount=ours[0].amount, currency=ours[0].currency)
    which = ", ".join(t.id for t in ours)
    return _with(
        item,
        Action.REPORT,
        [(Problem.TRANSFER_REVERSED, f"{which} paid this rent to {case.house.name} and was reversed")],
    )


def _transferred_elsewhere(case: _Case) -> Item | None:
    if not case.done:
        return None
    where = ", ".join(str(t.destination) for t in case.done)
    reason = f"charge {case.source} was already transferred to {where}"
    return _with(case.item, Action.REPORT, [(Problem.TRANSFERRED_ELSEWHERE, reason)])


def _transfer_unclear(case: _Case) -> Item | None:
    if not case.unclear:
        return None
    which = ", ".join(f"{t.id} ({t.transfer_group})" for t in case.unclear)
    reason = f"{which} shares the charge's transfer group but names no charge"
    return _with(case.item, Action.REPORT, [(Problem.TRANSFER_UNCLEAR, reason)])


def _stripe_says_no(case: _Case) -> Item | None:
    reasons = stripe_reasons(case.payment, case.found.charge, case.found.missing)
    return _with(case.item, Action.REPORT, reasons) if reasons else None


# The checks, in the order they are asked: the first that settles a payment decides its item; when none does,
# _transfer pays the house.
CHECKS: tuple[Check, ...] = (
    _database_says_no,  # every reason the database gives is reported together
    _already_transferred,  # a transfer to its house stands: done
    _transfer_reversed,  # its transfers to its house were all reversed
    _transferred_elsewhere,  # its charge went to another house's account
    _transfer_unclear,  # a transfer in its charge's group names no charge: it may be this rent
    _stripe_says_no,  # every reason its charge gives is reported together
)


def _transfer(case: _Case) -> Item:
    """No check settled it: pay the house the rent, less the platform's fee."""
    lease, house, charge, amount = case.lease, case.house, case.found.charge, case.amount
    assert lease is not None and house is not None  # _database_says_no reports a payment without them
    assert charge is not None and amount is not None  # _stripe_says_no reports a missing charge or amount
    fee = fee_of(amount, case.rules)
    net = amount - fee
    if net <= 0:
        return _with(case.item, Action.REPORT, [(Problem.BAD_AMOUNT, f"the fee leaves {net} to transfer")])
    fee_text = (
        f" ({format_minor(amount, charge.currency)} less a {case.rules.fee_percent}% fee of "
        f"{format_minor(fee, charge.currency)})"
        if fee
        else " (the full payment)"
    )
    payout = Payout(case.payment.id, transfer_params(case.payment, lease, house, charge, net))
    reason = f"transfer {format_minor(net, charge.currency)}{fee_text} from {charge.id} to {house.name}"
    return _with(case.item, Action.TRANSFER, [], reason, amount=net, payout=payout)


def _with(
    item: Item,
    action: Action,
    reasons: list[Reason],
    reason: str = "",
    stripe_id: str | None = None,
    *,
    amount: int | None = None,
    payout: Payout | None = None,
) -> Item:
    return replace(
        item,
        action=action,
        reason=reason or "; ".join(text for _, text in reasons),
        problem=reasons[0][0] if reasons else None,
        more=tuple(problem for problem, _ in reasons[1:]),
        stripe_id=stripe_id,
        amount=item.amount if amount is None else amount,
        payout=payout,
    )


def plan_transfers(rows: PaymentRows, facts: PayoutFacts, rules: Rules) -> Plan:
    houses = _Houses(rows, facts.exists)
    sent: dict[str, list[Transfer]] = {}
    unsourced: dict[str, list[Transfer]] = {}  # transfer group -> the transfers in it that name no charge
    for transfer in facts.transfers:
        # Keyed by the charge it names and by the row its metadata names: payment ids and charge ids never clash.
        for key in {transfer.source_transaction, transfer.payment} - {None}:
            sent.setdefault(str(key), []).append(transfer)
        if not transfer.source_transaction and transfer.transfer_group:
            unsourced.setdefault(transfer.transfer_group, []).append(transfer)
    plan = Plan(Job.TRANSFERS)
    for payment in rows.payments:
        plan.items.append(plan_payment(payment, houses, facts, sent, unsourced, rules))
    paid_houses = {lease.house_id for p in rows.payments if (lease := houses.leases.get(p.lease_id or ""))}
    for house in rows.houses:
        reasons = houses.account_problems(house)
        if house.id not in paid_houses:
            reasons.insert(0, (Problem.HOUSE_WITHOUT_PAYMENT, f"house {house.name} has no payment at all"))
        if reasons:
            item = Item(
                f"house {house.id}",
                Action.REPORT,
                house=house.name,
                account=house.account_id,
                stripe_state="account exists" if facts.exists.get(house.account_id or "") else "no such account",
                db_state=f"house {house.name}, active={int(house.active)}, deleted={int(house.deleted)}",
            )
            plan.items.append(_with(item, Action.REPORT, reasons))
    return plan
