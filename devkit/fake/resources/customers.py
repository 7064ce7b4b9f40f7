"""Customers: the sync makes one per user; payments name them."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .. import checks
from ..errors import StripeFailure, fail
from ..routing import Route
from ..store import Obj, Params, Store, new_id
from .payment_methods import PaymentMethods

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Customers:
    def __init__(self, store: Store, payment_methods: PaymentMethods) -> None:
        self._store = store
        self._payment_methods = payment_methods

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/customers", "CustomerListParams", self._list),
            Route("POST", "/v1/customers", "CustomerCreateParams", self._create),
            Route("GET", "/v1/customers/{id}", "CustomerRetrieveParams", self._retrieve),
            Route("POST", "/v1/customers/{id}", "CustomerUpdateParams", self._update),
            Route("DELETE", "/v1/customers/{id}", None, self._delete),
        ]

    def add(
        self,
        name: str | None,
        metadata: Mapping[str, str],
        currency: str | None = None,
        *,
        email: str | None = None,
        ident: str | None = None,
        created: int | None = None,
    ) -> Obj:
        """A customer put straight into the account, as seeding (or Stripe's copy between accounts) makes them."""
        fields = _shape(name=name, email=email, metadata=dict(metadata), currency=currency)
        if created is not None:
            fields["created"] = created
        return self._store.add("customers", "cus", fields, ident)

    def give_payment_method(self, ident: str, *, as_source: bool = False) -> str:
        """A tenant adds a way to pay (a test's move): a card made its invoice default, or a legacy default source."""
        customer = self.named(ident)
        if as_source:
            method = new_id("card")
            customer.setdefault("_sources", []).append(method)
            customer["default_source"] = method
        else:
            method = self._payment_methods.add_card(ident)["id"]
            customer["invoice_settings"]["default_payment_method"] = method
        return method

    def can_pay(self, ident: str) -> bool:
        """Whether Stripe has something to charge for this customer: its invoice default or its default source."""
        customer = self._store.objects["customers"].get(ident) or {}
        settings = customer.get("invoice_settings") or {}
        return bool(settings.get("default_payment_method") or customer.get("default_source"))

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
        default = (params.get("invoice_settings") or {}).get("default_payment_method")
        if default is not None:
            owned = self._owned(customer, default, "PaymentMethod")
            customer.setdefault("invoice_settings", {})["default_payment_method"] = owned
        if "default_source" in params:
            customer["default_source"] = self._owned(customer, params["default_source"], "source")
        return customer

    def _owned(self, customer: Obj, ident: str, noun: str) -> str:
        """A payment method named in an update: it must be attached to this customer (a legacy source counts)."""
        if ident in customer.get("_sources", ()) or self._payment_methods.is_attached(ident, customer["id"]):
            return str(ident)
        if noun == "PaymentMethod" and ident in self._store.objects["payment_methods"]:
            raise fail(
                f"The customer does not have a payment method with the ID {ident}. "
                "The payment method must be attached to the customer.",
                "resource_missing",
            )
        raise fail(f"No such {noun}: '{ident}'", "resource_missing")

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
        # What Stripe charges a charge_automatically invoice to, in this order after the subscription's own.
        "invoice_settings": {"default_payment_method": None, "custom_fields": None, "footer": None},
        "default_source": None,
        "deleted": False,
        "_sources": [],  # legacy card sources a test gave (give_payment_method): an update may name them too
    }
