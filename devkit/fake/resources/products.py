"""Products and their prices: the sync makes a product per room, priced at its rent."""

from __future__ import annotations

from typing import Any

from .. import checks
from ..errors import StripeFailure, fail
from ..routing import Route
from ..store import Obj, Params, Store, matching


class Products:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/products", "ProductListParams", self._list),
            Route("POST", "/v1/products", "ProductCreateParams", self._create),
            Route("GET", "/v1/products/{id}", "ProductRetrieveParams", self._retrieve),
            Route("POST", "/v1/products/{id}", "ProductUpdateParams", self._update),
            Route("DELETE", "/v1/products/{id}", None, self._delete),
            Route("GET", "/v1/prices", "PriceListParams", self._list_prices),
            Route("GET", "/v1/prices/{id}", "PriceRetrieveParams", self._retrieve_price),
            Route("POST", "/v1/prices/{id}", "PriceUpdateParams", self._update_price),
        ]

    def price(self, data: Params, product: str) -> Obj:
        """A price made with the object that names it (`default_price_data`, an item's `price_data`)."""
        currency = checks.currency(data["currency"])
        amount = int(data["unit_amount"]) if "unit_amount" in data else None
        if amount is None or amount < 0:
            raise StripeFailure(400, "Invalid unit_amount: must be a non-negative integer")
        if amount > checks.MAX_AMOUNT:
            raise StripeFailure(
                400,
                f"Invalid unit_amount: must be at most {checks.MAX_AMOUNT} (eight digits of the currency's smallest "
                "unit)",
                code="parameter_invalid_integer",
            )
        recurring = data.get("recurring")
        return self._store.add(
            "prices",
            "price",
            {
                "object": "price",
                "active": True,
                "product": product,
                "currency": currency,
                "unit_amount": amount,
                "type": "recurring" if recurring else "one_time",
                "recurring": _recurring(recurring),
                "metadata": checks.metadata(data),
            },
        )

    def _list(self, params: Params) -> Obj:
        wanted = params.get("active")
        return self._store.page("products", params, lambda p: wanted is None or p["active"] == (wanted == "true"))

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("products", ident)

    def _create(self, params: Params) -> Obj:
        checks.lengths(params, {"name": 250, "description": 40_000})
        product = self._store.add(
            "products",
            "prod",
            {
                "object": "product",
                "active": True,
                "name": params["name"],
                "description": params.get("description"),
                "metadata": checks.metadata(params),
                "default_price": None,
            },
        )
        if "default_price_data" in params:
            product["default_price"] = self.price(params["default_price_data"], product["id"])["id"]
        return product

    def _update(self, ident: str, params: Params) -> Obj:
        product = self._store.get("products", ident)
        for key in ("name", "description"):
            if key in params:
                product[key] = params[key] or None
        if "metadata" in params:
            product["metadata"] = checks.merged_metadata(product["metadata"], params)
        if "active" in params:
            product["active"] = params["active"] == "true"  # archived: no new purchase, existing ones go on
        return product

    def _delete(self, ident: str, params: Params) -> Obj:
        self._store.get("products", ident)["deleted"] = True
        return {"id": ident, "object": "product", "deleted": True}

    def _list_prices(self, params: Params) -> Obj:
        wanted = params.get("active")
        by_product = matching(params, "product")
        return self._store.page(
            "prices", params, lambda p: by_product(p) and (wanted is None or p["active"] == (wanted == "true"))
        )

    def _update_price(self, ident: str, params: Params) -> Obj:
        """A price is never deleted, only archived; Stripe refuses to archive its product's default price."""
        price = self._store.get("prices", ident)
        if "metadata" in params:
            price["metadata"] = checks.merged_metadata(price["metadata"], params)
        if "active" in params:
            active = params["active"] == "true"
            product = self._store.objects["products"].get(price["product"]) or {}
            if not active and product.get("default_price") == ident:
                raise fail("This price cannot be archived because it is the default price of its product.")
            price["active"] = active
        return price

    def _retrieve_price(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("prices", ident)


def _recurring(recurring: Any) -> Obj | None:
    if not recurring:
        return None
    return {"interval": recurring["interval"], "interval_count": int(recurring.get("interval_count", 1))}
