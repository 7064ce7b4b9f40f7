"""The Stripe objects support weighs, reduced to the fields it compares; the rest stays in Stripe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cohabs.shared.stripe.fields import expandable_id

# Metadata names on what support creates; other tools rely on them, like the sync's cohabs_*_id.
DISPUTE_KEY = "cohabs_dispute_id"
PAYMENT_KEY = "cohabs_payment_id"  # the payments row that holds this object's id
DISPUTED_PAYMENT_KEY = "cohabs_disputed_payment_id"
LEASE_KEY = "cohabs_lease_id"
HOUSE_KEY = "cohabs_house_id"

# Statuses in which a dispute has taken the money out of the platform's balance. An inquiry
# (warning_*) takes nothing; a won or prevented dispute gave it back or never took it.
MONEY_WITHDRAWN = frozenset({"needs_response", "under_review", "lost", "appeal_needs_response", "appeal_under_review"})


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, str]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Dispute:
    id: str
    amount: int
    currency: str
    status: str
    charge: str | None
    payment_intent: str | None
    created: int

    @property
    def money_withdrawn(self) -> bool:
        return self.status in MONEY_WITHDRAWN


def dispute_from(obj: Mapping[str, Any]) -> Dispute:
    return Dispute(
        id=obj["id"],
        amount=int(obj["amount"]),
        currency=str(obj["currency"]).lower(),
        status=str(obj.get("status")),
        charge=expandable_id(obj.get("charge")),
        payment_intent=expandable_id(obj.get("payment_intent")),
        created=int(obj.get("created") or 0),
    )


@dataclass(frozen=True, slots=True)
class Charge:
    id: str
    amount: int
    amount_captured: int
    amount_refunded: int
    currency: str
    status: str
    captured: bool
    refunded: bool
    disputed: bool
    customer: str | None
    description: str | None
    payment_intent: str | None
    transfer_group: str | None
    created: int


def charge_from(obj: Mapping[str, Any]) -> Charge:
    amount = int(obj["amount"])
    return Charge(
        id=obj["id"],
        amount=amount,
        amount_captured=int(obj.get("amount_captured", amount) or 0),
        amount_refunded=int(obj.get("amount_refunded") or 0),
        currency=str(obj["currency"]).lower(),
        status=str(obj.get("status")),
        captured=bool(obj.get("captured", True)),
        refunded=bool(obj.get("refunded")),
        disputed=bool(obj.get("disputed")),
        customer=expandable_id(obj.get("customer")),
        description=obj.get("description") or None,
        payment_intent=expandable_id(obj.get("payment_intent")),
        transfer_group=obj.get("transfer_group") or None,
        created=int(obj.get("created") or 0),
    )


@dataclass(frozen=True, slots=True)
class Intent:
    """A PaymentIntent: a re-collection support made, or the one behind a `pi_…` payment."""

    id: str
    amount: int
    currency: str
    status: str
    customer: str | None
    latest_charge: str | None
    dispute: str | None  # metadata cohabs_dispute_id
    created: int
    description: str | None = None
    bank_transfer: bool = False  # only the customer's balance can pay it: a bank transfer request


def intent_from(obj: Mapping[str, Any]) -> Intent:
    methods = [*(obj.get("payment_method_types") or ()), *(obj.get("allowed_payment_method_types") or ())]
    return Intent(
        id=obj["id"],
        amount=int(obj["amount"]),
        currency=str(obj["currency"]).lower(),
        status=str(obj.get("status")),
        customer=expandable_id(obj.get("customer")),
        latest_charge=expandable_id(obj.get("latest_charge")),
        dispute=_metadata(obj).get(DISPUTE_KEY),
        created=int(obj.get("created") or 0),
        description=obj.get("description") or None,
        bank_transfer=bool(methods) and set(methods) == {"customer_balance"},
    )


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    amount: int
    currency: str
    destination: str | None
    source_transaction: str | None
    created: int
    transfer_group: str | None = None
    amount_reversed: int = 0
    payment: str | None = None  # metadata cohabs_payment_id: the row it paid out

    @property
    def reversed(self) -> bool:
        """All of it came back to the platform: the house did not keep this money."""
        return self.amount_reversed >= self.amount


def transfer_from(obj: Mapping[str, Any]) -> Transfer:
    return Transfer(
        id=obj["id"],
        amount=int(obj["amount"]),
        currency=str(obj["currency"]).lower(),
        destination=expandable_id(obj.get("destination")),
        source_transaction=expandable_id(obj.get("source_transaction")),
        created=int(obj.get("created") or 0),
        transfer_group=obj.get("transfer_group") or None,
        amount_reversed=int(obj.get("amount_reversed") or 0),
        payment=_metadata(obj).get(PAYMENT_KEY),
    )


@dataclass(frozen=True, slots=True)
class Account:
    """A connected account the platform reaches: a house's, which transfers pay."""

    id: str
    created: int


def account_from(obj: Mapping[str, Any]) -> Account:
    return Account(id=obj["id"], created=int(obj.get("created") or 0))


@dataclass(frozen=True, slots=True)
class InvoicePayment:
    """What ties an invoice to the PaymentIntent that paid it (the invoice payments list)."""

    id: str
    invoice: str | None
    payment_intent: str | None
    created: int


def invoice_payment_from(obj: Mapping[str, Any]) -> InvoicePayment:
    payment = obj.get("payment")
    paid_by = payment.get("payment_intent") if isinstance(payment, Mapping) else None
    return InvoicePayment(
        id=obj["id"],
        invoice=expandable_id(obj.get("invoice")),
        payment_intent=expandable_id(paid_by),
        created=int(obj.get("created") or 0),
    )


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    number: str | None  # what a re-collection of the payment that paid it is described with
    created: int


def invoice_from(obj: Mapping[str, Any]) -> Invoice:
    return Invoice(
        id=obj["id"], number=str(obj["number"]) if obj.get("number") else None, created=int(obj.get("created") or 0)
    )
