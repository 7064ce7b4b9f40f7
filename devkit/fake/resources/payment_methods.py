"""Payment methods: the cards a customer saved, or that Stripe's copy of payment data brought with new ids.

Listed per customer (`GET /v1/customers/{id}/payment_methods`, or
`GET /v1/payment_methods?customer=…`), newest first like every list, with the
`type` filter. Attaching and detaching move a payment method between
customers; Stripe refuses to attach one that was detached (it may not be used
again), and detaching the customer's invoice default clears that default.
"""

from __future__ import annotations

from typing import Any

from ..errors import fail
from ..routing import Route
from ..store import Obj, Params, Store, digits, new_id

KIND = "payment_methods"


class PaymentMethods:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/payment_methods", "PaymentMethodListParams", self._list),
            Route("GET", "/v1/payment_methods/{id}", "PaymentMethodRetrieveParams", self._retrieve),
            Route("POST", "/v1/payment_methods/{id}/attach", "PaymentMethodAttachParams", self._attach),
            Route("POST", "/v1/payment_methods/{id}/detach", "PaymentMethodDetachParams", self._detach),
            Route("GET", "/v1/customers/{id}/payment_methods", "CustomerPaymentMethodListParams", self._of_customer),
            Route(
                "GET",
                "/v1/customers/{id}/payment_methods/{id}",
                "CustomerPaymentMethodRetrieveParams",
                self._retrieve_of_customer,
            ),
        ]

    def add_card(
        self,
        customer: str | None,
        *,
        exp_month: int = 12,
        exp_year: int = 2099,
        brand: str = "visa",
        created: int | None = None,
        ident: str | None = None,
    ) -> Obj:
        """A card put straight into the account, attached to `customer` (None: not attached to anyone)."""
        with self._store.lock:
            if customer is not None:
                self._customer(customer)
            ident = ident or new_id("pm")
            fields: Obj = {
                "object": "payment_method",
                "type": "card",
                "customer": customer,
                "card": _card(brand, exp_month, exp_year, last4=digits(ident, 4)),
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "allow_redisplay": "unspecified",
                "metadata": {},
                "_detached": False,
            }
            if created is not None:
                fields["created"] = created
            return self._store.add(KIND, "pm", fields, ident)

    def attached(self, customer: str) -> list[Obj]:
        """The customer's payment methods, oldest first."""
        return self._store.all(KIND, lambda pm: pm["customer"] == customer)

    def is_attached(self, ident: str, customer: str) -> bool:
        found = self._store.objects[KIND].get(ident)
        return found is not None and found["customer"] == customer

    # ----- requests --------------------------------------------------------------

    def _list(self, params: Params) -> Obj:
        customer = params.get("customer")
        if customer:
            self._customer(customer)
        # Without a customer Stripe lists the account's payment methods attached to no customer.
        page = self._store.page(KIND, params, lambda pm: pm["customer"] == (customer or None) and _typed(pm, params))
        return {**page, "url": "/v1/payment_methods"}

    def _of_customer(self, customer: str, params: Params) -> Obj:
        self._customer(customer)
        page = self._store.page(KIND, params, lambda pm: pm["customer"] == customer and _typed(pm, params))
        return {**page, "url": f"/v1/customers/{customer}/payment_methods"}

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.get(KIND, ident)

    def _retrieve_of_customer(self, customer: str, ident: str, params: Params) -> Obj:
        self._customer(customer)
        found = self._store.get(KIND, ident)
        if found["customer"] != customer:
            raise fail(f"No such PaymentMethod: '{ident}'", "resource_missing", status=404)
        return found

    def _attach(self, ident: str, params: Params) -> Obj:
        found = self._store.get(KIND, ident)
        customer = params.get("customer")
        if not customer:
            raise fail("Missing required param: customer.", "parameter_missing")
        self._customer(customer)
        if found["_detached"]:
            raise fail(
                "This PaymentMethod was previously used without being attached to a Customer or was detached "
                "from a Customer, and may not be used again.",
                "payment_method_unexpected_state",
            )
        if found["customer"] not in (None, customer):
            raise fail("The payment method you provided has already been attached to a customer.")
        found["customer"] = customer
        return found

    def _detach(self, ident: str, params: Params) -> Obj:
        found = self._store.get(KIND, ident)
        customer = found["customer"]
        if customer is None:
            raise fail("The payment method you provided is not attached to a customer so detachment is impossible.")
        found.update(customer=None, _detached=True)
        # Stripe clears an invoice default that named the detached payment method.
        settings = self._store.objects["customers"][customer].get("invoice_settings") or {}
        if settings.get("default_payment_method") == ident:
            settings["default_payment_method"] = None
        return found

    def _customer(self, ident: str) -> Obj:
        customer = self._store.objects["customers"].get(ident)
        if customer is None or customer.get("deleted"):
            raise fail(f"No such customer: '{ident}'", "resource_missing", status=404)
        return customer


def _typed(pm: Obj, params: Params) -> bool:
    return not params.get("type") or pm["type"] == params["type"]


def _card(brand: str, exp_month: int, exp_year: int, *, last4: str) -> dict[str, Any]:
    """The card fields the sync reads, shaped as the API reference documents them."""
    return {
        "brand": brand,
        "display_brand": brand,
        "country": "BE",
        "exp_month": exp_month,
        "exp_year": exp_year,
        "funding": "credit",
        "last4": last4.rjust(4, "0"),
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
        "wallet": None,
    }
