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
# Statuses no dispute leaves, in which the platform keeps the money: nothing was taken, or it came back.
SETTLED_WITHOUT_LOSS = frozenset({"won", "prevented", "warning_closed"})
# PaymentIntent statuses in which a request can still be paid; succeeded and canceled are final.
OPEN_INTENT = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "processing", "requires_capture"}
)


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

    @property
    def settled_without_loss(self) -> bool:
        """Over, and the platform kept the money: won, prevented, or an inquiry closed."""
        return self.status in SETTLED_WITHOUT_LOSS


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


# What each kind of financial address holds, in the order a person copies it into a bank transfer.
ADDRESS_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "iban": (("iban", "IBAN"), ("bic", "BIC"), ("account_holder_name", "holder"), ("country", "country")),
    "sort_code": (("sort_code", "sort code"), ("account_number", "account"), ("account_holder_name", "holder")),
    "aba": (
        ("routing_number", "routing"),
        ("account_number", "account"),
        ("bank_name", "bank"),
        ("account_holder_name", "holder"),
    ),
    "spei": (("clabe", "CLABE"), ("bank_code", "bank code"), ("bank_name", "bank")),
    "swift": (
        ("swift_code", "SWIFT"),
        ("account_number", "account"),
        ("bank_name", "bank"),
        ("account_holder_name", "holder"),
    ),
    "zengin": (
        ("bank_name", "bank"),
        ("bank_code", "bank code"),
        ("branch_name", "branch"),
        ("branch_code", "branch code"),
        ("account_type", "account type"),
        ("account_number", "account"),
        ("account_holder_name", "holder"),
    ),
}


@dataclass(frozen=True, slots=True)
class BankAddress:
    """One bank account the tenant may send the money to, as Stripe gave it."""

    kind: str  # iban, sort_code, aba, spei, swift, zengin
    details: tuple[tuple[str, str], ...]  # (label, value) in the order a person copies them

    @property
    def text(self) -> str:
        return " · ".join(f"{label} {value}" for label, value in self.details)


def _address_from(obj: Mapping[str, Any]) -> BankAddress | None:
    kind = str(obj.get("type") or "")
    found = obj.get(kind)
    if not isinstance(found, Mapping):
        return None
    details = tuple((label, str(found[name])) for name, label in ADDRESS_FIELDS.get(kind, ()) if found.get(name))
    return BankAddress(kind, details) if details else None


@dataclass(frozen=True, slots=True)
class PayInstructions:
    """What the tenant needs to pay a bank transfer request: Stripe's display_bank_transfer_instructions."""

    amount_remaining: int
    currency: str
    reference: str | None
    addresses: tuple[BankAddress, ...]
    url: str | None  # hosted_instructions_url: a page that walks the tenant through the transfer


def instructions_from(next_action: Any) -> PayInstructions | None:
    if not isinstance(next_action, Mapping):
        return None
    shown = next_action.get("display_bank_transfer_instructions")
    if not isinstance(shown, Mapping) or shown.get("amount_remaining") is None or not shown.get("currency"):
        return None
    addresses = [_address_from(a) for a in shown.get("financial_addresses") or () if isinstance(a, Mapping)]
    return PayInstructions(
        amount_remaining=int(shown["amount_remaining"]),
        currency=str(shown["currency"]).lower(),
        reference=shown.get("reference") or None,
        addresses=tuple(a for a in addresses if a is not None),
        url=shown.get("hosted_instructions_url") or None,
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
    payment: str | None = None  # metadata cohabs_payment_id: the row that records this request
    amount_received: int = 0
    instructions: PayInstructions | None = None  # while it waits for a bank transfer

    @property
    def open(self) -> bool:
        """It can still be paid (neither succeeded nor canceled)."""
        return self.status in OPEN_INTENT

    @property
    def received(self) -> int:
        """What the tenant has paid towards it: a bank transfer can fund it in part."""
        if self.status == "succeeded":
            return self.amount_received or self.amount
        if self.instructions is not None:
            return max(0, self.amount - self.instructions.amount_remaining)
        return self.amount_received


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
        payment=_metadata(obj).get(PAYMENT_KEY),
        amount_received=int(obj.get("amount_received") or 0),
        instructions=instructions_from(obj.get("next_action")),
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
        """All of it came back to the platform: the house did not keep this money.

        Stripe's own `reversed` is true only for a full reversal; `amount_reversed` shows a part.
        """
        return self.amount_reversed >= self.amount

    @property
    def kept(self) -> int:
        """What the house still holds of it."""
        return max(0, self.amount - self.amount_reversed)


def transfer_from(obj: Mapping[str, Any]) -> Transfer:
    amount = int(obj["amount"])
    reversed_amount = int(obj.get("amount_reversed") or 0)
    return Transfer(
        id=obj["id"],
        amount=amount,
        currency=str(obj["currency"]).lower(),
        destination=expandable_id(obj.get("destination")),
        source_transaction=expandable_id(obj.get("source_transaction")),
        created=int(obj.get("created") or 0),
        transfer_group=obj.get("transfer_group") or None,
        # An answer saying reversed without the amount is read as the whole of it.
        amount_reversed=amount if obj.get("reversed") and not reversed_amount else reversed_amount,
        payment=_metadata(obj).get(PAYMENT_KEY),
    )


@dataclass(frozen=True, slots=True)
class ConnectedAccount:
    """A house's connected account: the currency it settles in, and whether it can receive transfers."""

    id: str
    default_currency: str | None
    transfers: str | None  # capabilities.transfers: active, inactive, pending; None when not said
    created: int = 0  # when it was connected: where the accounts list finds it

    @property
    def can_receive(self) -> bool:
        """Stripe refuses a transfer (400) unless the transfers capability is active; unsaid is left to Stripe."""
        return self.transfers in (None, "active")


def account_from(obj: Mapping[str, Any]) -> ConnectedAccount:
    capabilities = obj.get("capabilities")
    transfers = capabilities.get("transfers") if isinstance(capabilities, Mapping) else None
    currency = obj.get("default_currency")
    return ConnectedAccount(
        id=obj["id"],
        default_currency=str(currency).lower() if currency else None,
        transfers=str(transfers) if transfers else None,
        created=int(obj.get("created") or 0),
    )


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
