"""Customers: the sync makes one per user; payments name them."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .. import checks
from ..errors import StripeFailure, fail
from ..routing import Route
from ..store import Obj, Params, Store

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Customers:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/customers", "CustomerListParams", self._list),
            Route("POST", "/v1/customers", "CustomerCreateParams", self._create),
            Route("GET", "/v1/customers/{id}", "CustomerRetrieveParams", self._retrieve),
            Route("POST", "/v1/customers/{id}", "CustomerUpdateParams", self._update),
            Route("DELETE", "/v1/customers/{id}", None, self._delete),
        ]

    def add(self, name: str, metadata: Mapping[str, str], currency: str | None = None) -> Obj:
        """A customer put straight into the account, as seeding makes them."""
        return self._store.add("customers", "cus", _shape(name=name, metadata=dict(metadata), currency=currency))

    def named(self, ident: str) -> Obj:
        """The customer a request's parameter names: Stripe refuses a missing or deleted one with a 400."""
        customer = self._store.objects["customers"].get(ident)
        if customer is None or customer.get("deleted"):
            raise fail(f"No such customer: '{ident}'", "resource_missing")
        return customer

    def _list(self, params: Params) -> Obj:
        return self._store.page("customers", params)

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("customers", ident)

    def _create(self, params: Params) -> Obj:
        checks.lengths(params, {"name": 256, "phone": 20, "description": 350})
        email = params.get("email")
        if email is not None and (len(email) > 512 or not EMAIL.match(email)):
            raise StripeFailure(400, "Invalid email address: " + email, code="email_invalid")
        fields = {key: params.get(key) for key in ("email", "name", "phone", "address", "description")}
        return self._store.add("customers", "cus", _shape(**fields, metadata=checks.metadata(params)))

    def _update(self, ident: str, params: Params) -> Obj:
        customer = self._store.get("customers", ident)
        for key in ("email", "name", "phone", "address", "description"):
            if key in params:
                customer[key] = params[key] or None
        if "metadata" in params:
            customer["metadata"] = checks.merged_metadata(customer["metadata"], params)
        return customer

    def _delete(self, ident: str, params: Params) -> Obj:
        customer = self._store.get("customers", ident)
        customer["deleted"] = True
        # Stripe cancels a deleted customer's subscriptions at once.
        for subscription in self._store.all("subscriptions", lambda s: s["customer"] == ident):
            if subscription["status"] != "canceled":
                subscription.update(status="canceled", canceled_at=self._store.now())
        return {"id": ident, "object": "customer", "deleted": True}


def _shape(
    *,
    email: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    address: Obj | None = None,
    description: str | None = None,
    metadata: dict[str, str],
    currency: str | None = None,
) -> Obj:
    return {
        "object": "customer",
        "email": email,
        "name": name,
        "phone": phone,
        "address": address,
        "description": description,
        "metadata": metadata,
        "currency": currency,  # set by the first subscription or payment: one currency per customer
        "deleted": False,
    }
