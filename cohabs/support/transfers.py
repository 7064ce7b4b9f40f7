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
from cohabs.support.items import Action, Incident, Item, Payout, Plan, Problem, Settlement
from cohabs.support.objects import HOUSE_KEY, LEASE_KEY, PAYMENT_KEY, Charge, ConnectedAccount, Intent, Transfer
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
    """What Stripe holds for the houses' payouts: the accounts, what was transferred, the charges."""

    accounts: Mapping[str, ConnectedAccount | None]  # connected account id -> the account, None when it does not exist
    transfers: Iterable[Transfer]  # every transfer since shortly before the rows' charges, to any account
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
    def __init__(self, rows: PaymentRows, accounts: Mapping[str, ConnectedAccount | None]) -> None:
        self.leases: Mapping[str, Lease] = {x.id: x for x in rows.leases}
        self.houses: Mapping[str, House] = {h.id: h for h in rows.houses}
        self.accounts = accounts
        self.by_account = {h.account_id: h for h in rows.houses if h.account_id}
        self.holders: dict[str, list[str]] = {}  # charge id -> the rows that hold it
        for payment in rows.payments:
            if payment.charge_id:
                self.holders.setdefault(payment.charge_id, []).append(payment.id)

    def account_of(self, house: House | None) -> ConnectedAccount | None:
        return self.accounts.get(house.account_id) if house is not None and house.account_id else None

    def account_problems(self, house: House) -> list[Reason]:
        if not house.account_id:
            return [(Problem.NO_ACCOUNT_ID, f"house {house.name} has no stripeAccountId")]
        if self.accounts.get(house.account_id) is not None:
            return []
        why = f"account {house.account_id} of house {house.name} does not exist in Stripe"
        twin = _o_for_0(house.account_id, self.by_account)
        if twin:
            why += f" (it differs from {twin}, house {self.by_account[twin].name}, only by O against 0)"
        return [(Problem.ACCOUNT_MISSING, why)]


def _amount_text(value: Decimal | None) -> str:
    return "NULL" if value is None else f"{value}"


def db_reasons(payment: Payment, houses: _Houses, recollection: bool = False) -> list[Reason]:
    """Everything in the database that keeps this payment from being paid out.

    A re-collection's row is due a few days after its request, often after the lease ended: the rent it
    re-collects was due within the lease, so its due date is no anomaly.
    """
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
    if payment.due is not None and lease.end is not None and payment.due > lease.end and not recollection:
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


def _refund_reasons(charge: Charge) -> list[Reason]:
    if not charge.amount_refunded and not charge.refunded:
        return []
    refunded = format_minor(charge.amount_refunded, charge.currency)
    if charge.refunded or charge.amount_refunded >= charge.amount_captured:
        return [(Problem.CHARGE_REFUNDED, f"charge {charge.id} is refunded in full ({refunded})")]
    took = format_minor(charge.amount_captured, charge.currency)
    left = format_minor(charge.amount_captured - charge.amount_refunded, charge.currency)
    return [
        (
            Problem.CHARGE_PARTLY_REFUNDED,
            f"charge {charge.id} took {took}, and {refunded} of it was refunded to the tenant: the house is owed "
            f"at most the {left} left; never paid out in full, and what to pay is a person's call",
        )
    ]


def _currency_reasons(charge: Charge, account: ConnectedAccount | None) -> list[Reason]:
    """A transfer is made only in the currency the house's account settles in: Stripe converts any other."""
    if account is None:
        return []  # no account: reported by the database checks
    if account.default_currency is None:
        return [
            (
                Problem.CURRENCY_MISMATCH,
                f"account {account.id} names no default_currency: the currency it settles in is unknown, and the "
                f"charge is in {charge.currency.upper()}",
            )
        ]
    if charge.currency == account.default_currency:
        return []
    return [
        (
            Problem.CURRENCY_MISMATCH,
            f"charge {charge.id} is in {charge.currency.upper()}, but account {account.id} settles in "
            f"{account.default_currency.upper()}: Stripe would convert the transfer, so the house would not get "
            "the sum it is owed",
        )
    ]


def stripe_reasons(
    payment: Payment, charge: Charge | None, missing: str | None, account: ConnectedAccount | None = None
) -> list[Reason]:
    """Everything in Stripe that keeps this payment from being paid out."""
    if charge is None:
        return [(Problem.CHARGE_MISSING, missing or "charge not found")]
    reasons: list[Reason] = []
    if charge.status != "succeeded" or not charge.captured:
        reasons.append((Problem.CHARGE_NOT_SUCCEEDED, f"charge {charge.id} is {charge.status}, not a captured success"))
    reasons += _refund_reasons(charge)
    reasons += _currency_reasons(charge, account)
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
    transfers = [f"{t.id} to {t.destination}{_reversal(t)}" for t in done]
    parts.append("transferred: " + ", ".join(transfers) if transfers else "no transfer of it")
    return "; ".join(parts)


def _reversal(transfer: Transfer) -> str:
    if transfer.reversed:
        return " (reversed)"
    if transfer.amount_reversed:
        back = format_minor(transfer.amount_reversed, transfer.currency)
        return f" ({back} of {format_minor(transfer.amount, transfer.currency)} reversed)"
    return ""


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
    account: ConnectedAccount | None = None  # its house's connected account, when it exists
    recollection: Intent | None = None  # the request this row records, when it is one of the tool's re-collections

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
    account = houses.account_of(house)
    found = facts.charge_of(payment) if payment.ref in (Ref.CHARGE, Ref.PAYMENT_INTENT) else ChargeLookup(None)
    charge = found.charge
    source = charge.id if charge else payment.charge_id if payment.ref is Ref.CHARGE else None
    # A transfer of this rent names its charge, or this row in its metadata (ours always do both).
    done = list({t.id: t for t in [*sent.get(source or "", []), *sent.get(payment.id, [])]}.values())
    groups = {charge.transfer_group if charge else None, f"cohabs-payment-{payment.id}"} - {None}
    unclear = [t for group in sorted(str(g) for g in groups) for t in unsourced.get(group, [])]
    # The charge's currency; for a payment without one, the currency its house's account settles in.
    currency = charge.currency if charge else account.default_currency if account else None
    amount = _minor(payment.amount, currency) if currency else None
    item = Item(
        f"payment {payment.id}",
        Action.REPORT,
        payment_id=payment.id,
        lease_id=payment.lease_id,
        house=house.name if house else None,
        account=house.account_id if house else None,
        amount=amount,
        currency=currency,
        stripe_state=_stripe_state(charge, done),
        db_state=_db_state(payment),
        db_amount=payment.amount,
    )
    ours = _recollection_of(payment, facts)
    return _Case(payment, houses, lease, house, found, source, done, unclear, amount, item, rules, account, ours)


def _recollection_of(payment: Payment, facts: PayoutFacts) -> Intent | None:
    """The request a row records when the disputes command made both: the request's metadata names the row."""
    if payment.ref is not Ref.PAYMENT_INTENT:
        return None
    intent = facts.intents.get(payment.charge_id or "")
    if intent is None or intent.dispute is None or intent.payment != payment.id:
        return None
    return intent


def _minor(amount: Decimal | None, currency: str) -> int | None:
    try:
        return to_minor(amount, currency)
    except InvalidAmount:
        return None


def _recollection(case: _Case) -> Item | None:
    """The tool's own re-collection: waiting for the tenant while unpaid; once paid, the rules of any payment."""
    request, payment = case.recollection, case.payment
    if request is None:
        return None
    what = f"re-collection of dispute {request.dispute}: request {request.id} ({request.status})"
    item = replace(case.item, amount=request.amount, currency=request.currency, stripe_id=request.id)
    if request.open:
        received = f", {format_minor(request.received, request.currency)} received so far" if request.received else ""
        reason = (
            f"{what} waits for the tenant's bank transfer{received}; paid out to the house once the tenant has "
            "paid and the row says so"
        )
        return replace(item, action=Action.WAIT, reason=reason, instructions=request.instructions)
    if request.status != "succeeded":
        return replace(item, action=Action.DONE, reason=f"{what}: nothing was paid, so nothing to pay out")
    if payment.pending or payment.paid != payment.amount:
        paid = format_minor(request.received, request.currency)
        reason = (
            f"{what}: the tenant paid {paid}, but the row still says paid {_amount_text(payment.paid)}, "
            f"pending={int(payment.pending)}: mark it paid, then run again to pay the house"
        )
        return _with(item, Action.REPORT, [(Problem.RECOLLECTION_PAID, reason)], stripe_id=request.id)
    return None  # paid and recorded: the rules of any payment


def _database_says_no(case: _Case) -> Item | None:
    """The row, its lease or its house keep it from being paid out, or another row holds its charge."""
    payment = case.payment
    reasons = db_reasons(payment, case.houses, recollection=case.recollection is not None)
    twins = [p for p in case.houses.holders.get(payment.charge_id or "", []) if p != payment.id]
    if twins:
        reasons.append(
            (Problem.SHARED_CHARGE, f"rows {', '.join(twins)} hold the same {payment.charge_id}: one charge, paid once")
        )
    return _with(case.item, Action.REPORT, reasons) if reasons else None


def _already_transferred(case: _Case) -> Item | None:
    """The house holds this rent: done, unless part of it came back or the tenant got it back since."""
    ours, house = case.ours, case.house
    kept = sum(t.kept for t in ours)
    if not kept or house is None:
        return None
    rent = max(ours, key=lambda t: t.amount)  # the rent as it was paid out (a reversed one may precede another)
    item = replace(case.item, amount=rent.amount, currency=rent.currency)
    which = ", ".join(t.id for t in ours)
    paid = f"{which} paid {format_minor(rent.amount, rent.currency)} to {house.name}"
    if kept < rent.amount:
        return _came_back(item, paid, Settlement(rent.amount, rent.amount - kept, rent.amount - kept, "reversed"))
    if kept > rent.amount:
        # Paid out more than once (by hand, or by another tool): never silently "done", never paid again.
        held = format_minor(kept, rent.currency)
        said = f"{which} stand together: {house.name} holds {held} of a {format_minor(rent.amount, rent.currency)} rent"
        return _with(item, Action.REPORT, [(Problem.PAID_OUT_TWICE, said)])
    charge = case.found.charge
    if charge is not None and charge.amount_refunded:
        return _came_back(item, paid, Settlement(rent.amount, charge.amount_refunded, 0, "refunded"))
    return _with(item, Action.DONE, [], f"already transferred: {which}", rent.id)


def _came_back(item: Item, paid: str, settled: Settlement) -> Item:
    """Rent paid out of which part came back: reported with the amounts, never paid again in full."""
    currency = item.currency or ""
    back, owed = format_minor(settled.back, currency), format_minor(settled.owed, currency)
    if settled.how == "reversed":
        held = format_minor(settled.paid - settled.back, currency)
        problem = Problem.TRANSFER_PARTLY_REVERSED
        said = f"{paid}, and {back} of it was reversed: the house holds {held} and is owed {owed}; never paid again "
        said += "in full (a person decides)"
    else:
        problem = Problem.REFUNDED_AFTER_TRANSFER
        said = f"{paid}; since then {back} of its charge was refunded to the tenant: the house holds rent the "
        said += "tenant got back (reverse it by hand if it should not)"
    return replace(_with(item, Action.REPORT, [(problem, said)]), settlement=settled)


def _transfer_reversed(case: _Case) -> Item | None:
    """Every transfer of it to its house came back: paying again is a person's call."""
    ours = case.ours
    if not ours or case.house is None:
        return None
    first = max(ours, key=lambda t: t.amount)
    item = replace(case.item, amount=first.amount, currency=first.currency)
    which = ", ".join(t.id for t in ours)
    reason = (
        f"{which} paid this rent to {case.house.name} and was reversed in full "
        f"({format_minor(first.amount, first.currency)}): the house holds none of it"
    )
    settled = Settlement(first.amount, first.amount, first.amount, "reversed")
    return replace(_with(item, Action.REPORT, [(Problem.TRANSFER_REVERSED, reason)]), settlement=settled)


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
    charge = case.found.charge
    reasons = stripe_reasons(case.payment, charge, case.found.missing, case.account)
    if not reasons:
        return None
    item = _with(case.item, Action.REPORT, reasons)
    if charge is not None and 0 < charge.amount_refunded < charge.amount_captured and not charge.refunded:
        left = charge.amount_captured - charge.amount_refunded
        item = replace(item, settlement=Settlement(charge.amount_captured, charge.amount_refunded, left, "refunded"))
    return item


def _cannot_receive(case: _Case) -> Item | None:
    """Stripe refuses a transfer (400) to an account whose transfers capability is not active."""
    account, house = case.account, case.house
    if account is None or account.can_receive or house is None:
        return None
    return _with(case.item, Action.REPORT, [_capability_reason(account, house)])


def _capability_reason(account: ConnectedAccount, house: House) -> Reason:
    return (
        Problem.CANNOT_RECEIVE,
        f"account {account.id} of house {house.name} cannot receive transfers yet (its transfers capability is "
        f"{account.transfers}): nothing sent",
    )


# The checks, in the order they are asked: the first that settles a payment decides its item; when none does,
# _transfer pays the house.
CHECKS: tuple[Check, ...] = (
    _recollection,  # the tool's own re-collection: waiting for the tenant while unpaid
    _database_says_no,  # every reason the database gives is reported together
    _already_transferred,  # a transfer to its house stands: done (reported when part came back)
    _transfer_reversed,  # its transfers to its house were all reversed
    _transferred_elsewhere,  # its charge went to another house's account
    _transfer_unclear,  # a transfer in its charge's group names no charge: it may be this rent
    _stripe_says_no,  # every reason its charge gives is reported together (currency and refunds included)
    _cannot_receive,  # the house's account cannot take a transfer yet
)


def _transfer(case: _Case) -> Item:
    """No check settled it: pay the house the charge's amount (the row's, in the account's currency), less the fee."""
    lease, house, charge = case.lease, case.house, case.found.charge
    assert lease is not None and house is not None  # _database_says_no reports a payment without them
    assert charge is not None  # _stripe_says_no reports a missing charge, one in another currency or amount
    amount = charge.amount_captured
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
    houses = _Houses(rows, facts.accounts)
    sent: dict[str, list[Transfer]] = {}
    unsourced: dict[str, list[Transfer]] = {}  # transfer group -> the transfers in it that name no charge
    for transfer in facts.transfers:
        # Keyed by the charge it names and by the row its metadata names: payment ids and charge ids never clash.
        for key in {transfer.source_transaction, transfer.payment} - {None}:
            sent.setdefault(str(key), []).append(transfer)
        if not transfer.source_transaction and transfer.transfer_group:
            unsourced.setdefault(transfer.transfer_group, []).append(transfer)
    plan = Plan(Incident.TRANSFERS)
    for payment in rows.payments:
        plan.items.append(plan_payment(payment, houses, facts, sent, unsourced, rules))
    paid_houses = {lease.house_id for p in rows.payments if (lease := houses.leases.get(p.lease_id or ""))}
    for house in rows.houses:
        item = _house_item(house, houses, house.id in paid_houses)
        if item is not None:
            plan.items.append(item)
    return plan


def _house_item(house: House, houses: _Houses, has_payments: bool) -> Item | None:
    """A house whose account or rent needs a look, with the rent its leases bill as the item's amount."""
    reasons = houses.account_problems(house)
    account = houses.account_of(house)
    if account is not None and not account.can_receive:
        reasons.append(_capability_reason(account, house))
    rents = [x.rent_amount for x in houses.leases.values() if x.house_id == house.id and x.rent_amount]
    rent = sum(rents, Decimal(0)) if rents else None
    if not has_payments:
        billed = f" (its leases' rent: {rent:,} a month)" if rent is not None else ""
        reasons.insert(0, (Problem.HOUSE_WITHOUT_PAYMENT, f"house {house.name} has no payment at all{billed}"))
    if not reasons:
        return None
    currency = account.default_currency if account else None
    item = Item(
        f"house {house.id}",
        Action.REPORT,
        house=house.name,
        account=house.account_id,
        amount=_minor(rent, currency) if currency and rent is not None else None,
        currency=currency,
        stripe_state=_account_state(account),
        db_state=f"house {house.name}, active={int(house.active)}, deleted={int(house.deleted)}",
        db_amount=rent,
    )
    return _with(item, Action.REPORT, reasons)


def _account_state(account: ConnectedAccount | None) -> str:
    if account is None:
        return "no such account"
    currency = account.default_currency.upper() if account.default_currency else "no default currency"
    return f"account exists, settles in {currency}, transfers capability {account.transfers or 'not said'}"
