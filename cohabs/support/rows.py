"""The payment data support reads: houses, leases and payments, only the columns it needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Ref(StrEnum):
    """What a `payments.stripeChargeId` value points at in Stripe."""

    CHARGE = "charge"  # ch_… (card) and py_… (other payment methods): both are Charge objects
    PAYMENT_INTENT = "payment_intent"  # pi_…
    UNKNOWN = "unknown"  # anything else: reported, never guessed


# Values the old system wrote for "no id": an empty string and the string 'NULL'.
_EMPTY = frozenset({"", "null"})


def stripe_id(value: str | None) -> str | None:
    """A stored Stripe id, or None when the column holds NULL, '' or the string 'NULL'."""
    if value is None:
        return None
    text = value.strip()
    return None if text.lower() in _EMPTY else text


def ref_of(stripe_id: str) -> Ref:
    if stripe_id.startswith(("ch_", "py_")):
        return Ref.CHARGE
    if stripe_id.startswith("pi_"):
        return Ref.PAYMENT_INTENT
    return Ref.UNKNOWN


@dataclass(frozen=True, slots=True)
class House:
    id: str
    name: str
    active: bool
    deleted: bool
    account_id: str | None  # the house's Stripe Connect account, acct_…


@dataclass(frozen=True, slots=True)
class Lease:
    id: str
    start: datetime | None
    end: datetime | None
    rent_amount: Decimal | None
    house_id: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    amount: Decimal | None
    paid: Decimal | None
    pending: bool
    disputed: bool
    due: datetime | None
    charge_id: str | None  # stripeChargeId, '' and 'NULL' read as None
    invoice_id: str | None
    lease_id: str | None
    comment: str | None
    paid_at: datetime | None = None  # paymentDate, when the table has it: near where Stripe dates the charge

    @property
    def ref(self) -> Ref | None:
        return ref_of(self.charge_id) if self.charge_id else None


@dataclass(frozen=True, slots=True)
class PaymentRows:
    houses: list[House]
    leases: list[Lease]
    payments: list[Payment]


@dataclass(frozen=True, slots=True)
class NewPayment:
    """The row that records a re-collection: a copy of the disputed row with these fields set."""

    id: str
    source_id: str  # the disputed row it copies
    amount: Decimal
    comment: str
