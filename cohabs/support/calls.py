"""Every Stripe request support makes, each through the shared gateway (paced, retried, counted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import stripe
from stripe.params import (
    DisputeListParams,
    InvoicePaymentListParams,
    PaymentIntentCancelParams,
    PaymentIntentCreateParams,
    PaymentIntentListParams,
    TransferCreateParams,
    TransferListParams,
)

from cohabs.shared.stripe.gateway import PAGE, Endpoint, StripeGateway
from cohabs.support.objects import (
    Account,
    Charge,
    Dispute,
    Intent,
    Transfer,
    account_from,
    charge_from,
    dispute_from,
    intent_from,
    transfer_from,
)

T = TypeVar("T")

LIST_DISPUTES = Endpoint("GET", "/v1/disputes")
RETRIEVE_CHARGE = Endpoint("GET", "/v1/charges/{id}")
RETRIEVE_INTENT = Endpoint("GET", "/v1/payment_intents/{id}")
LIST_INTENTS = Endpoint("GET", "/v1/payment_intents")
CREATE_INTENT = Endpoint("POST", "/v1/payment_intents")
CANCEL_INTENT = Endpoint("POST", "/v1/payment_intents/{id}/cancel")
LIST_INVOICE_PAYMENTS = Endpoint("GET", "/v1/invoice_payments")
RETRIEVE_INVOICE = Endpoint("GET", "/v1/invoices/{id}")
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


class SupportCalls:
    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway
        self._v1 = gateway.client.v1

    def disputes(self) -> list[Dispute]:
        def page(after: str | None) -> Any:
            params: DisputeListParams = {"limit": PAGE}
            if after:
                params["starting_after"] = after
            return self._v1.disputes.list(params=params)

        return [dispute_from(obj) for obj in self.gateway.pages(LIST_DISPUTES, "list disputes", page)]

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

    def intents_of(self, customer: str, since: int) -> list[Intent]:
        """The customer's PaymentIntents created at or after `since`: where a re-collection is found again."""

        def page(after: str | None) -> Any:
            params: PaymentIntentListParams = {"limit": PAGE, "customer": customer, "created": {"gte": since}}
            if after:
                params["starting_after"] = after
            return self._v1.payment_intents.list(params=params)

        return [
            intent_from(obj) for obj in self.gateway.pages(LIST_INTENTS, f"list payment intents of {customer}", page)
        ]

    def invoice_number(self, intent_id: str) -> str | None:
        """The number of the invoice a PaymentIntent paid, found through the invoice payments list."""
        params: InvoicePaymentListParams = {
            "limit": 1,
            "payment": {"type": "payment_intent", "payment_intent": intent_id},
        }
        # A Stripe (or emulator) without the invoice payments list answers 404: then there is no invoice to
        # name, and the request is described from the payment instead of the run stopping.
        found = self.gateway.call(
            LIST_INVOICE_PAYMENTS,
            f"list invoice payments of {intent_id}",
            _missing_is_none(lambda: self._v1.invoice_payments.list(params=params)),
        )
        if found is None or not found.data:
            return None
        invoice_id = found.data[0].to_dict().get("invoice")
        invoice_id = invoice_id.get("id") if isinstance(invoice_id, dict) else invoice_id
        if not isinstance(invoice_id, str):
            return None
        invoice = self.gateway.call(
            RETRIEVE_INVOICE,
            f"retrieve invoice {invoice_id}",
            _missing_is_none(lambda: self._v1.invoices.retrieve(invoice_id)),
        )
        number = invoice.to_dict().get("number") if invoice is not None else None
        return str(number) if number else None

    def account(self, account_id: str) -> Account | None:
        """The connected account (its currency and transfers capability), None when it does not exist."""
        # Stripe answers 404 for an id it does not know, and 403 for an account not connected to this platform.
        found = self.gateway.call(
            RETRIEVE_ACCOUNT,
            f"retrieve account {account_id}",
            _missing_is_none(lambda: self._v1.accounts.retrieve(account_id), 403),
        )
        return account_from(found.to_dict()) if found is not None else None

    def transfers_to(self, account_id: str) -> list[Transfer]:
        """Every transfer ever made to the account: where a charge already paid out is found."""

        def page(after: str | None) -> Any:
            params: TransferListParams = {"limit": PAGE, "destination": account_id}
            if after:
                params["starting_after"] = after
            return self._v1.transfers.list(params=params)

        return [
            transfer_from(obj) for obj in self.gateway.pages(LIST_TRANSFERS, f"list transfers to {account_id}", page)
        ]

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
