"""Every Stripe request support makes, each through the shared gateway (paced, retried, counted).

Lists are read a page at a time in a `created` window (shared/stripe/listing.py
reads many windows side by side); an object a bounded list did not hold is
retrieved on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import stripe
from stripe.params import PaymentIntentCancelParams, PaymentIntentCreateParams, TransferCreateParams

from cohabs.shared.stripe.gateway import PAGE, Endpoint, StripeGateway, Window
from cohabs.support.objects import (
    Charge,
    ConnectedAccount,
    Dispute,
    Intent,
    Invoice,
    InvoicePayment,
    Transfer,
    account_from,
    charge_from,
    dispute_from,
    intent_from,
    invoice_from,
    invoice_payment_from,
    transfer_from,
)

T = TypeVar("T")
Page = tuple[list[T], bool]  # one page of a window, newest first, and whether more follow

LIST_DISPUTES = Endpoint("GET", "/v1/disputes")
LIST_CHARGES = Endpoint("GET", "/v1/charges")
RETRIEVE_CHARGE = Endpoint("GET", "/v1/charges/{id}")
RETRIEVE_INTENT = Endpoint("GET", "/v1/payment_intents/{id}")
LIST_INTENTS = Endpoint("GET", "/v1/payment_intents")
CREATE_INTENT = Endpoint("POST", "/v1/payment_intents")
CANCEL_INTENT = Endpoint("POST", "/v1/payment_intents/{id}/cancel")
LIST_INVOICE_PAYMENTS = Endpoint("GET", "/v1/invoice_payments")
LIST_INVOICES = Endpoint("GET", "/v1/invoices")
RETRIEVE_INVOICE = Endpoint("GET", "/v1/invoices/{id}")
LIST_ACCOUNTS = Endpoint("GET", "/v1/accounts")
RETRIEVE_ACCOUNT = Endpoint("GET", "/v1/accounts/{id}")
LIST_TRANSFERS = Endpoint("GET", "/v1/transfers")
CREATE_TRANSFER = Endpoint("POST", "/v1/transfers")


def _missing_is_none(request: Callable[[], T], *statuses: int) -> Callable[[], T | None]:
    """The request, answering None where Stripe says the object is not there (404, or the given statuses)."""

    def attempt() -> T | None:
        try:
            return request()
        except stripe.StripeError as exc:
            if exc.http_status in (404, *statuses):
                return None
            raise

    return attempt


def list_params(window: Window, **filters: Any) -> dict[str, Any]:
    """A page's parameters: Stripe's largest page, the window's `created` bounds and cursor, the filters."""
    params: dict[str, Any] = {"limit": PAGE, **filters}
    created = {bound: at for bound, at in (("gte", window.since), ("lt", window.until)) if at is not None}
    if created:
        params["created"] = created
    if window.after:
        params["starting_after"] = window.after
    return params


class SupportCalls:
    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway
        self._v1 = gateway.client.v1

    def _page(
        self,
        endpoint: Endpoint,
        what: str,
        send: Callable[[Mapping[str, Any]], Any],
        params: Mapping[str, Any],
        convert: Callable[[Mapping[str, Any]], T],
    ) -> Page[T]:
        found = self.gateway.call(endpoint, what, lambda: send(params))
        if found is None:  # a list Stripe does not serve here (see invoice_payments)
            return [], False
        return [convert(obj.to_dict()) for obj in found.data], bool(found.has_more and found.data)

    # ----- lists, one page of a window -------------------------------------------

    def disputes(self, window: Window) -> Page[Dispute]:
        return self._page(
            LIST_DISPUTES,
            "list disputes",
            lambda p: self._v1.disputes.list(params=p),  # type: ignore[arg-type]
            list_params(window),
            dispute_from,
        )

    def charges(self, window: Window) -> Page[Charge]:
        return self._page(
            LIST_CHARGES,
            "list charges",
            lambda p: self._v1.charges.list(params=p),  # type: ignore[arg-type]
            list_params(window),
            charge_from,
        )

    def intents(self, window: Window) -> Page[Intent]:
        """The account's PaymentIntents: where a re-collection made earlier is found again."""
        return self._page(
            LIST_INTENTS,
            "list payment intents",
            lambda p: self._v1.payment_intents.list(params=p),  # type: ignore[arg-type]
            list_params(window),
            intent_from,
        )

    def intents_of(self, customer: str, window: Window) -> Page[Intent]:
        """One customer's PaymentIntents: the same, where only a few customers matter."""
        return self._page(
            LIST_INTENTS,
            f"list payment intents of {customer}",
            lambda p: self._v1.payment_intents.list(params=p),  # type: ignore[arg-type]
            list_params(window, customer=customer),
            intent_from,
        )

    def invoice_payments(self, window: Window) -> Page[InvoicePayment]:
        # A Stripe (or emulator) without the invoice payments list answers 404: then no payment paid an
        # invoice it could name, and requests are described from the payment instead of the run stopping.
        return self._page(
            LIST_INVOICE_PAYMENTS,
            "list invoice payments",
            lambda p: _missing_is_none(lambda: self._v1.invoice_payments.list(params=p))(),  # type: ignore[arg-type]
            list_params(window),
            invoice_payment_from,
        )

    def invoice_payments_of(self, intent_id: str) -> list[InvoicePayment]:
        """The invoice payments of one PaymentIntent: where a bounded list cannot vouch for it."""
        params = list_params(Window(), payment={"type": "payment_intent", "payment_intent": intent_id})
        found, _ = self._page(
            LIST_INVOICE_PAYMENTS,
            f"list invoice payments of {intent_id}",
            lambda p: _missing_is_none(lambda: self._v1.invoice_payments.list(params=p))(),  # type: ignore[arg-type]
            params,
            invoice_payment_from,
        )
        return found

    def invoices(self, window: Window) -> Page[Invoice]:
        return self._page(
            LIST_INVOICES,
            "list invoices",
            lambda p: self._v1.invoices.list(params=p),  # type: ignore[arg-type]
            list_params(window),
            invoice_from,
        )

    def accounts(self, window: Window) -> Page[ConnectedAccount]:
        """The platform's connected accounts."""
        return self._page(
            LIST_ACCOUNTS,
            "list connected accounts",
            lambda p: self._v1.accounts.list(params=p),  # type: ignore[arg-type]
            list_params(window),
            account_from,
        )

    def transfers(self, window: Window) -> Page[Transfer]:
        """Transfers to any connected account: where a charge already paid out is found."""
        return self._page(
            LIST_TRANSFERS,
            "list transfers",
            lambda p: self._v1.transfers.list(params=p),  # type: ignore[arg-type]
            list_params(window),
            transfer_from,
        )

    # ----- one object ------------------------------------------------------------

    def charge(self, charge_id: str) -> Charge | None:
        found = self.gateway.call(
            RETRIEVE_CHARGE,
            f"retrieve charge {charge_id}",
            _missing_is_none(lambda: self._v1.charges.retrieve(charge_id)),
        )
        return charge_from(found.to_dict()) if found is not None else None

    def intent(self, intent_id: str) -> Intent | None:
        found = self.gateway.call(
            RETRIEVE_INTENT,
            f"retrieve payment intent {intent_id}",
            _missing_is_none(lambda: self._v1.payment_intents.retrieve(intent_id)),
        )
        return intent_from(found.to_dict()) if found is not None else None

    def invoice(self, invoice_id: str) -> Invoice | None:
        found = self.gateway.call(
            RETRIEVE_INVOICE,
            f"retrieve invoice {invoice_id}",
            _missing_is_none(lambda: self._v1.invoices.retrieve(invoice_id)),
        )
        return invoice_from(found.to_dict()) if found is not None else None

    def account(self, account_id: str) -> ConnectedAccount | None:
        """The connected account (its currency and transfers capability), None when it does not exist."""
        # Stripe answers 404 for an id it does not know, and 403 for an account not connected to this platform.
        found = self.gateway.call(
            RETRIEVE_ACCOUNT,
            f"retrieve account {account_id}",
            _missing_is_none(lambda: self._v1.accounts.retrieve(account_id), 403),
        )
        return account_from(found.to_dict()) if found is not None else None

    # ----- writes ----------------------------------------------------------------

    def create_intent(self, params: PaymentIntentCreateParams, key: str) -> Intent:
        created = self.gateway.call(
            CREATE_INTENT,
            "create payment intent",
            lambda: self._v1.payment_intents.create(params=params, options={"idempotency_key": key}),
            key=key,
        )
        return intent_from(created.to_dict())

    def cancel_intent(self, intent_id: str, params: PaymentIntentCancelParams, key: str) -> Intent:
        canceled = self.gateway.call(
            CANCEL_INTENT,
            f"cancel payment intent {intent_id}",
            lambda: self._v1.payment_intents.cancel(intent_id, params=params, options={"idempotency_key": key}),
            key=key,
        )
        return intent_from(canceled.to_dict())

    def create_transfer(self, params: TransferCreateParams, key: str) -> Transfer:
        created = self.gateway.call(
            CREATE_TRANSFER,
            "create transfer",
            lambda: self._v1.transfers.create(params=params, options={"idempotency_key": key}),
            key=key,
        )
        return transfer_from(created.to_dict())
