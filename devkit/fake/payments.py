"""The payment side of the fake as tests and seeding drive it: past payments, disputes moving on, the balance,
payment methods tenants add (or Stripe's copy between accounts brings) and trials that end.

What `support.py` reads and writes is served through HTTP like every other
resource; these are the moves Stripe makes on its own (a cardholder disputes,
the network decides) and the history an account already has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .recorded import Recorded
from .resources import Resources
from .store import Obj, Params, Store


class Payments:
    def __init__(self, store: Store, resources: Resources, requests: list[Recorded]) -> None:
        self._store = store
        self._resources = resources
        self._requests = requests

    # ----- state tests set and read ---------------------------------------------

    @property
    def available(self) -> dict[str, int]:
        """The platform's available balance per currency, in minor units (a test may set it)."""
        return self._resources.balance.available

    @property
    def cash(self) -> dict[tuple[str, str], int]:
        """(customer, currency) → the customer's cash balance, not yet applied to a payment."""
        return self._resources.payment_intents.cash

    @property
    def unknown_account_status(self) -> int:
        """What an account the platform has not connected answers: 403 as at Stripe, or 404."""
        return self._resources.accounts.unknown_account_status

    @unknown_account_status.setter
    def unknown_account_status(self, status: int) -> None:
        self._resources.accounts.unknown_account_status = status

    # ----- the account's history -------------------------------------------------

    def add_account(
        self,
        ident: str | None = None,
        name: str | None = None,
        country: str = "BE",
        currency: str = "eur",
        **extra: Any,
    ) -> Obj:
        return self._resources.accounts.add(ident, name, country, currency, **extra)

    def add_charge(
        self,
        ident: str | None,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        status: str = "succeeded",
        description: str | None = None,
        created: int | None = None,
        method: str = "card",
        metadata: Mapping[str, str] | None = None,
    ) -> Obj:
        """A past charge and its PaymentIntent (see PaymentIntents.add_past)."""
        return self._resources.payment_intents.add_past(
            ident,
            amount=amount,
            currency=currency,
            customer=customer,
            status=status,
            description=description,
            created=created,
            method=method,
            metadata=metadata,
        )

    def add_invoice(
        self, payment_intent: str, number: str | None = None, description: str | None = None, created: int | None = None
    ) -> Obj:
        return self._resources.invoices.add_paid(payment_intent, number, description, created)

    def create_transfer(self, params: Params, *, created: int | None = None) -> Obj:
        return self._resources.transfers.create(params, created=created)

    def settle_in(self, currency: str, into: str, rate: Decimal) -> None:
        """Charges in `currency` reach the platform's balance converted into `into` at `rate` (from now on)."""
        self._resources.balance.settle_in(currency, into, rate)

    @property
    def platform(self) -> Obj:
        """The platform's own account (GET /v1/account): a test may move its `country`."""
        return self._resources.accounts.own

    def reconcile_by_hand(self, customer: str) -> None:
        """The customer's cash balance is reconciled manually: only a transfer quoting a reference pays a request."""
        self._resources.payment_intents.manual.add(customer)

    def set_transfers_capability(self, account: str, status: str) -> Obj:
        """The account's `transfers` capability: active, inactive or pending (Stripe refuses transfers unless active)."""
        with self._store.lock:
            found = self._store.get("accounts", account)
            found["capabilities"] = {**(found.get("capabilities") or {}), "transfers": status}
            return found

    # ----- how tenants pay their subscriptions ------------------------------------

    def give_payment_method(self, customer: str, *, as_source: bool = False) -> str:
        """A tenant saves a way to pay: the customer's invoice default (or its legacy default source); its id."""
        return self._resources.customers.give_payment_method(customer, as_source=as_source)

    def collect_invoices(self) -> list[Obj]:
        """Stripe's automatic collection: open invoices still collected are paid when the tenant can pay."""
        return self._resources.invoices.collect()

    def add_copied_customer(
        self,
        email: str | None,
        name: str | None = None,
        *,
        cards: Sequence[tuple[int, int]] = (),
        ident: str | None = None,
    ) -> Obj:
        """A customer as Stripe's copy of payment data between accounts brings it: its id kept (or a new one),
        none of our metadata, no default, and each card (exp_month, exp_year) a payment method with a new id."""
        with self._store.lock:
            customer = self._resources.customers.add(name, {}, email=email, ident=ident)
            for month, year in cards:
                self._resources.payment_methods.add_card(customer["id"], exp_month=month, exp_year=year)
            return customer

    def payment_methods_of(self, customer: str) -> list[Obj]:
        """The customer's payment methods, oldest first."""
        return self._resources.payment_methods.attached(customer)

    def end_trials(self) -> list[Obj]:
        """Trials that ended by the fake's clock, as Stripe ends them (Subscriptions.end_trials); those moved."""
        return self._resources.subscriptions.end_trials()

    # ----- what happens to payments ----------------------------------------------

    def refund(self, charge_id: str, amount: int | None = None) -> Obj:
        """Refund (part of) a charge, as the dashboard would: support.py must then never pay it out."""
        return self._resources.charges.refund(charge_id, amount)

    def reverse_transfer(self, transfer_id: str, amount: int | None = None) -> Obj:
        """Take (part of) a transfer back from the house, as the dashboard would."""
        return self._resources.transfers.reverse(transfer_id, {} if amount is None else {"amount": str(amount)})

    def fund_cash_balance(self, customer: str, amount: int, currency: str, reference: str | None = None) -> Obj:
        """The tenant's bank transfer arrives (Stripe's test helper): it pays the requests waiting for it."""
        params = {"amount": str(amount), "currency": currency, **({"reference": reference} if reference else {})}
        with self._store.lock:
            return self._resources.payment_intents.fund_cash_balance(customer, params)

    def open_dispute(
        self,
        charge_id: str,
        status: str = "needs_response",
        reason: str = "fraudulent",
        created: int | None = None,
        withdraw: bool | None = None,
    ) -> Obj:
        """`withdraw`: whether a prevented dispute took the money (only its balance transactions say)."""
        return self._resources.disputes.open(charge_id, status, reason, created, withdraw)

    def set_dispute_status(self, dispute_id: str, status: str) -> Obj:
        return self._resources.disputes.set_status(dispute_id, status)

    # ----- inspection ------------------------------------------------------------

    def all(self, kind: str) -> list[Obj]:
        return self._store.all(kind)

    def transfers_of(self, charge: str) -> list[Obj]:
        return self._resources.transfers.of_charge(charge)

    def dispute_writes(self) -> list[Recorded]:
        """Every request that tried to answer, update or close a dispute: the tool must send none."""
        return [r for r in self._requests if r.method == "POST" and r.path.startswith("/v1/disputes")]
