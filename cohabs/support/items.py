"""What a support run will do, item by item: the plan a dry run prints and a real run carries out.

Built by disputes.py and transfers.py from rows and what the account holds;
nothing here talks to Stripe or MySQL.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from stripe.params import PaymentIntentCreateParams, TransferCreateParams

from cohabs.shared.money import format_minor
from cohabs.support.objects import Intent, PayInstructions
from cohabs.support.rows import NewPayment


class Incident(StrEnum):
    DISPUTES = "disputes"
    TRANSFERS = "transfers"


class Action(StrEnum):
    """What happens to one item; the order is the report's, and a cancel is carried out first."""

    CANCEL = "cancel"  # an unpaid request whose dispute gave the money back (only with --cancel-won-requests)
    COLLECT = "collect"  # a new payment request to the tenant, and its payments row
    RECORD = "record"  # the request exists (an earlier run made it): only its row is added
    TRANSFER = "transfer"  # rent paid out to the house's connected account
    WAIT = "wait"  # a re-collection waiting for the tenant's bank transfer: nothing to do but send the details
    DONE = "done"  # handled before: nothing to do
    REPORT = "report"  # something is off: said, and nothing is done


WRITES = (Action.CANCEL, Action.COLLECT, Action.RECORD, Action.TRANSFER)


class Problem(StrEnum):
    """Why an item is reported: the report's advice is built from these codes, never from wording."""

    NO_ROW = "no_row"  # a dispute whose charge no payments row holds
    AMBIGUOUS_ROW = "ambiguous_row"  # several rows hold the disputed charge
    NO_DISPUTE = "no_dispute"  # a disputed=1 row that no dispute in Stripe matches
    NOTHING_WITHDRAWN = "nothing_withdrawn"  # an inquiry, a won or prevented dispute: no money to re-collect
    NO_CUSTOMER = "no_customer"  # the disputed charge names no customer to ask
    NO_DESCRIPTION = "no_description"  # neither an invoice number nor a charge description
    CURRENCY = "currency"  # no bank transfer in this currency
    ID_TAKEN = "id_taken"  # the derived row id belongs to a row that is not this dispute's
    REQUEST_MISSING = "request_missing"  # a new row whose payment request is not in Stripe
    DUPLICATE_REQUEST = "duplicate_request"  # more than one request for one dispute
    MAYBE_HANDLED = "maybe_handled"  # a bank transfer request of that amount names no dispute: made by hand?
    RETURNED_UNPAID = "returned_unpaid"  # the dispute gave the money back; its request is unpaid: cancel it
    RETURNED_PAID = "returned_paid"  # the dispute gave the money back; the tenant paid (part of) it: refund them
    REQUEST_CANCELED = "request_canceled"  # the request was canceled while the dispute keeps the money
    DISPUTED = "disputed"  # disputed=1: the disputes command re-collects it
    PENDING = "pending"
    NO_CHARGE_ID = "no_charge_id"
    UNKNOWN_ID = "unknown_id"  # stripeChargeId is neither ch_/py_ nor pi_
    PAID_ZERO = "paid_zero"  # paid 0 although a charge id is stored
    NOT_PAID_IN_FULL = "not_paid_in_full"
    BAD_AMOUNT = "bad_amount"
    NO_LEASE = "no_lease"
    DUE_AFTER_LEASE = "due_after_lease"  # due after its lease ended
    NO_HOUSE = "no_house"
    HOUSE_CLOSED = "house_closed"  # deleted or inactive
    NO_ACCOUNT_ID = "no_account_id"
    ACCOUNT_MISSING = "account_missing"  # the connected account does not exist
    HOUSE_WITHOUT_PAYMENT = "house_without_payment"
    CHARGE_MISSING = "charge_missing"
    CHARGE_NOT_SUCCEEDED = "charge_not_succeeded"
    CHARGE_REFUNDED = "charge_refunded"
    CHARGE_PARTLY_REFUNDED = "charge_partly_refunded"  # the house is owed at most what the charge kept
    REFUNDED_AFTER_TRANSFER = "refunded_after_transfer"  # the house holds rent the tenant got back
    CURRENCY_MISMATCH = "currency_mismatch"  # the charge is not in the currency the house's account settles in
    CANNOT_RECEIVE = "cannot_receive"  # the house's account lacks an active transfers capability
    RECOLLECTION_PAID = "recollection_paid"  # the tenant paid a re-collection; its row still says unpaid
    CHARGE_DISPUTED = "charge_disputed"
    AMOUNT_MISMATCH = "amount_mismatch"  # the row's amount is not what the charge took
    TRANSFERRED_ELSEWHERE = "transferred_elsewhere"  # this charge already went to another house
    TRANSFER_REVERSED = "transfer_reversed"  # its transfer came back: paying again is a person's call
    TRANSFER_PARTLY_REVERSED = "transfer_partly_reversed"  # part of its transfer came back: the house is owed it
    PAID_OUT_TWICE = "paid_out_twice"  # its house holds more of it than the rent (two transfers stand)
    TRANSFER_UNCLEAR = "transfer_unclear"  # a transfer in the charge's group names no source: it may be this rent
    SHARED_CHARGE = "shared_charge"  # several rows hold one charge: paying each would pay it twice
    STRIPE = "stripe"  # Stripe refused or did not answer
    NOT_STORED = "not_stored"  # the request exists but its row could not be written
    NOT_FINISHED = "not_finished"  # the run stopped (Ctrl-C, SIGTERM, Stripe unreachable) before this item


@dataclass(frozen=True, slots=True)
class Recollection:
    """A dispute's re-collection: the request to create, and the row that records it."""

    dispute_id: str
    params: PaymentIntentCreateParams | None  # None for RECORD: nothing is requested again
    row: NewPayment  # its charge_id and due date are set once the request exists
    existing: Intent | None = None  # RECORD: the request an earlier run made


@dataclass(frozen=True, slots=True)
class Settlement:
    """Money that went out and partly came back: what was paid, what came back, and what the house is owed."""

    paid: int  # the transfer's amount, or what the charge took
    back: int  # reversed from the house, or refunded to the tenant
    owed: int  # what the house is owed now; 0 when it holds all it is owed or more
    how: str  # "reversed" or "refunded"


@dataclass(frozen=True, slots=True)
class Payout:
    """One transfer of one charge to one house's account."""

    payment_id: str
    params: TransferCreateParams


@dataclass(frozen=True, slots=True)
class Item:
    subject: str  # "dispute dp_…", "payment …", "house …"
    action: Action
    reason: str = ""
    payment_id: str | None = None
    lease_id: str | None = None
    house: str | None = None  # its name
    account: str | None = None
    amount: int | None = None  # minor units of `currency`
    currency: str | None = None
    stripe_state: str = ""
    db_state: str = ""
    problem: Problem | None = None
    more: tuple[Problem, ...] = ()  # the item's other problems, each with its advice in the report
    collection: Recollection | None = None
    payout: Payout | None = None
    stripe_id: str | None = None  # the request or transfer made, found or already there
    failed: bool = False  # the run tried and Stripe or MySQL refused
    replayed: bool = False  # the error Stripe gave is a replay of an answer it stored for the request's key
    db_amount: Decimal | None = None  # the row's amount, for an item whose currency is unknown
    settlement: Settlement | None = None  # a transfer reversed or a charge refunded in part
    instructions: PayInstructions | None = None  # what the tenant needs to pay a re-collection
    cancels: tuple[str, ...] = ()  # CANCEL: the unpaid requests to cancel

    @property
    def money(self) -> str:
        if self.amount is not None and self.currency:
            return format_minor(self.amount, self.currency)
        return f"{self.db_amount:,} (currency unknown)" if self.db_amount is not None else ""

    @property
    def attention(self) -> bool:
        """Reported items and those that failed need a person; done or carried out ones do not."""
        return self.problem is not None


@dataclass
class Plan:
    incident: Incident
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals(self, action: Action) -> dict[str, int]:
        """Minor units per currency of the items with this action."""
        totals: Counter[str] = Counter()
        for item in self.items:
            if item.action is action and item.amount is not None and item.currency:
                totals[item.currency] += item.amount
        return dict(sorted(totals.items()))

    def writes(self) -> int:
        return sum(1 for item in self.items if item.action in WRITES)

    def cancels_first(self) -> None:
        """Cancels run (and show) before anything else: they stop a tenant being asked to pay twice."""
        self.items.sort(key=lambda item: item.action is not Action.CANCEL)
