"""Subscriptions: the sync bills each lease as one, with a single item priced inline."""

from __future__ import annotations

from .. import checks
from ..errors import StripeFailure
from ..routing import Route
from ..store import Obj, Params, Store, new_id, public
from .invoices import Invoices
from .products import Products

MAX_TRIAL = 730 * 86400  # Stripe's furthest trial_end, in seconds from now
ENDED = ("canceled", "incomplete_expired")  # left out of lists unless a status is asked for


class Subscriptions:
    def __init__(self, store: Store, products: Products, invoices: Invoices) -> None:
        self._store = store
        self._products = products
        self._invoices = invoices

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/subscriptions", "SubscriptionListParams", self._list),
            Route("POST", "/v1/subscriptions", "SubscriptionCreateParams", self._create),
            Route("GET", "/v1/subscriptions/{id}", "SubscriptionRetrieveParams", self._retrieve),
            Route("POST", "/v1/subscriptions/{id}", "SubscriptionUpdateParams", self._update),
            Route("DELETE", "/v1/subscriptions/{id}", "SubscriptionCancelParams", self._cancel),
        ]

    def _list(self, params: Params) -> Obj:
        status, customer = params.get("status"), params.get("customer")

        def keep(subscription: Obj) -> bool:
            if status is None and subscription["status"] in ENDED:
                return False
            if status not in (None, "all") and subscription["status"] != status:
                return False
            return "customer" not in params or subscription["customer"] == customer

        return self._store.page("subscriptions", params, keep)

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("subscriptions", ident)

    def _create(self, params: Params) -> Obj:
        now = self._store.now()
        customer = self._store.get("customers", params.get("customer") or "")
        price = self._price(params)
        currency = price["currency"]
        if customer["currency"] and customer["currency"] != currency:
            raise StripeFailure(
                400,
                f"You cannot combine currencies on a single customer. This customer has had a subscription or "
                f"payment in {customer['currency']}, but you are trying to pay in {currency}.",
                code="currency_mismatch",
            )
        trial_end = _trial_end(params, now)
        cancel_at = int(params["cancel_at"]) if params.get("cancel_at") else None
        if cancel_at is not None and cancel_at <= now:
            raise StripeFailure(400, "Invalid cancel_at: must be in the future", code="parameter_invalid")
        checks.lengths(params, {"description": 500})
        collection = params.get("collection_method", "charge_automatically")
        customer["currency"] = currency
        if trial_end:
            status, due = "trialing", 0
        elif collection == "send_invoice":
            status, due = "active", price["unit_amount"]
        else:
            # No payment method on a fresh account: the first invoice cannot be paid.
            status, due = "incomplete", price["unit_amount"]
        subscription = self._store.add(
            "subscriptions",
            "sub",
            {
                "object": "subscription",
                "customer": customer["id"],
                "status": status,
                "currency": currency,
                "collection_method": collection,
                "description": params.get("description"),
                "metadata": checks.metadata(params),
                "start_date": now,
                "trial_start": now if trial_end else None,
                "trial_end": trial_end,
                "billing_cycle_anchor": trial_end or now,
                "cancel_at": cancel_at,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "backdate_start_date": params.get("backdate_start_date"),
                "proration_behavior": params.get("proration_behavior"),
                "items": {
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {"id": new_id("si"), "object": "subscription_item", "price": public(price), "quantity": 1}
                    ],
                },
            },
        )
        subscription["latest_invoice"] = self._invoices.first_of(subscription, due)["id"]
        return subscription

    def _price(self, params: Params) -> Obj:
        """The one item's recurring price: made from `price_data`, or an existing one."""
        items = list(params.get("items", {}).values()) if isinstance(params.get("items"), dict) else []
        if len(items) != 1:
            raise StripeFailure(400, "This fake bills exactly one item per subscription.")
        item = items[0]
        if "price_data" in item:
            product = self._store.get("products", item["price_data"]["product"])
            if not product["active"]:
                raise StripeFailure(400, f"The product {product['id']} is inactive.")
            price = self._products.price(item["price_data"], product["id"])
        elif "price" in item:
            price = self._store.get("prices", item["price"])
        else:
            raise StripeFailure(400, "Each item needs a price or price_data.")
        if price["type"] != "recurring":
            raise StripeFailure(400, "A subscription needs a recurring price.")
        return price

    def _update(self, ident: str, params: Params) -> Obj:
        subscription = self._store.get("subscriptions", ident)
        if "metadata" in params:
            subscription["metadata"] = checks.merged_metadata(subscription["metadata"], params)
        if "description" in params:
            subscription["description"] = params["description"] or None
        return subscription

    def _cancel(self, ident: str, params: Params) -> Obj:
        subscription = self._store.get("subscriptions", ident)
        if subscription["status"] == "canceled":
            raise StripeFailure(
                400, f"No such subscription: '{ident}' (it is already canceled)", code="resource_missing"
            )
        subscription.update(status="canceled", canceled_at=self._store.now())
        details = params.get("cancellation_details") or {}
        subscription["cancellation_details"] = {
            "comment": details.get("comment") or None,
            "feedback": details.get("feedback") or None,
            "reason": "cancellation_requested",
        }
        # Kept for tests: what the cancel asked beyond its details (invoice_now, prorate).
        subscription["_cancel_params"] = {k: v for k, v in params.items() if k != "cancellation_details"}
        return subscription


def _trial_end(params: Params, now: int) -> int | None:
    trial_end = params.get("trial_end")
    if trial_end is None or trial_end == "now":
        return None
    end = int(trial_end)
    if end <= now:
        raise StripeFailure(400, "Invalid timestamp: must be in the future", code="parameter_invalid")
    if end - now > MAX_TRIAL:
        raise StripeFailure(400, "trial_end can be at most 730 days in the future")
    return end
