"""The Stripe calls `--undo` makes: what is on a customer and a product now, and the four writes that undo.

Every request goes through the shared gateway (pacing, retries, counts) and
every key through the shared builder (`action_key`: an action on an object
that exists). A customer's delete carries none: it has no parameters, and a
second delete of a deleted customer changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import stripe
from stripe import RequestOptions

from cohabs.shared.stripe.gateway import PAGE, StripeGateway
from cohabs.shared.stripe.idempotency import action_key
from cohabs.shared.stripe.pacing import Endpoint
from cohabs.sync.calls import CUSTOMER_PAYMENT_METHODS, LIST_INVOICES, SyncCalls
from cohabs.sync.kinds import CANCEL_SUBSCRIPTION, KEY_NAMESPACE
from cohabs.sync.undo_plan import CustomerNow, ProductNow

CHARGES = Endpoint("GET", "/v1/charges")
CASH_BALANCE = Endpoint("GET", "/v1/customers/{id}/cash_balance")
PRODUCT = Endpoint("GET", "/v1/products/{id}")
PRICES = Endpoint("GET", "/v1/prices")
DELETE_CUSTOMER = Endpoint("DELETE", "/v1/customers/{id}")
UPDATE_PRODUCT = Endpoint("POST", "/v1/products/{id}")
UPDATE_PRICE = Endpoint("POST", "/v1/prices/{id}")


class UndoCalls:
    def __init__(self, gateway: StripeGateway) -> None:
        self._gateway = gateway
        self._v1 = gateway.client.v1
        self._sync = SyncCalls(gateway)  # the sync's own repair after a cancel

    def customer(self, customer_id: str, can_pay: bool) -> CustomerNow:
        """What holds money or a tenant's data on a customer, each named with its id."""
        money = [f"a default payment method on the customer ({customer_id})"] if can_pay else []
        methods = self._gateway.call(
            CUSTOMER_PAYMENT_METHODS,
            f"list payment methods of {customer_id}",
            lambda: self._v1.customers.payment_methods.list(customer_id, {"limit": 1}),
        )
        money += [f"a payment method attached ({m.id})" for m in methods.data]
        invoices = self._gateway.call(
            LIST_INVOICES,
            f"list paid invoices of {customer_id}",
            lambda: self._v1.invoices.list({"customer": customer_id, "status": "paid", "limit": PAGE}),
        )
        paid = [i for i in invoices.data if (i.to_dict().get("amount_paid") or 0) > 0]
        money += [f"a paid invoice ({i.id})" for i in paid[:1]]
        if invoices.has_more and not paid:
            money.append(f"more than {PAGE} paid invoices (check them)")
        charges = self._gateway.call(
            CHARGES,
            f"list charges of {customer_id}",
            lambda: self._v1.charges.list({"customer": customer_id, "limit": 1}),
        )
        money += [f"a charge ({c.id})" for c in charges.data]
        return CustomerNow(tuple(money + self._cash(customer_id)))

    def _cash(self, customer_id: str) -> list[str]:
        balance = self._gateway.call(
            CASH_BALANCE,
            f"read the cash balance of {customer_id}",
            lambda: self._v1.customers.cash_balance.retrieve(customer_id),
        ).to_dict()
        held = {currency: amount for currency, amount in (balance.get("available") or {}).items() if amount}
        return [f"a cash balance ({amount} {currency} in minor units)" for currency, amount in sorted(held.items())]

    def product(self, product_id: str) -> ProductNow | None:
        """The product's state and its active prices but the default one; None once deleted."""
        found: dict[str, Any] = self._gateway.call(
            PRODUCT, f"read product {product_id}", lambda: self._v1.products.retrieve(product_id)
        ).to_dict()
        if found.get("deleted"):
            return None
        default = found.get("default_price")
        default = default.get("id") if isinstance(default, dict) else default
        prices = self._gateway.pages(
            PRICES,
            f"list prices of {product_id}",
            lambda after: self._v1.prices.list(_prices(product_id, after)),
        )
        active = tuple(p["id"] for p in prices if p["id"] != default)
        return ProductNow(bool(found.get("active")), default, active)

    def cancel(self, subscription_id: str) -> None:
        """Now, with no final invoice and no proration: the undone run billed nothing, and bills nothing more."""
        params: stripe.params.SubscriptionCancelParams = {
            "invoice_now": False,
            "prorate": False,
            "cancellation_details": {"comment": "cohabs-relink --undo: the run that created it was undone"},
        }
        # Its own action, not the sync's cancel: the same key with other parameters would be refused.
        self._keyed(
            CANCEL_SUBSCRIPTION,
            "undo-cancel",
            subscription_id,
            "cancel subscription",
            lambda options: self._v1.subscriptions.cancel(subscription_id, params, options),
        )

    def resume_collection(self, customer: str, cancelled: str) -> list[str]:
        """The sync's own repair after a cancel: the customer's other open invoices collected again."""
        return self._sync.resume_collection(customer, cancelled)

    def delete_customer(self, customer_id: str) -> None:
        self._gateway.call(
            DELETE_CUSTOMER, f"delete customer {customer_id}", lambda: self._v1.customers.delete(customer_id)
        )

    def archive(self, product_id: str, prices: tuple[str, ...]) -> None:
        """Prices first, then the product: a rerun after a crash finds what is left active."""
        price: stripe.params.PriceUpdateParams = {"active": False}
        for price_id in prices:
            self._keyed(
                UPDATE_PRICE,
                "undo-archive",
                price_id,
                "archive price",
                partial(self._v1.prices.update, price_id, price),
            )
        product: stripe.params.ProductUpdateParams = {"active": False}
        self._keyed(
            UPDATE_PRODUCT,
            "undo-archive",
            product_id,
            "archive product",
            lambda options: self._v1.products.update(product_id, product, options),
        )

    def _keyed(
        self, endpoint: Endpoint, action: str, object_id: str, what: str, send: Callable[[RequestOptions], object]
    ) -> None:
        """One write on an object that exists, under its action's key (the shared builder's `action_key`)."""
        key = action_key(KEY_NAMESPACE, action, object_id)
        self._gateway.call(endpoint, f"{what} {object_id}", lambda: send({"idempotency_key": key}), key=key)


def _prices(product_id: str, after: str | None) -> stripe.params.PriceListParams:
    params: stripe.params.PriceListParams = {"product": product_id, "active": True, "limit": PAGE}
    if after:
        params["starting_after"] = after
    return params
