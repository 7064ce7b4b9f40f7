"""Invoices and invoice payments: a subscription's first invoice, and paid invoices tied to their payment."""

from __future__ import annotations

import hashlib

from ..errors import fail
from ..routing import Route
from ..store import Obj, Params, Store, matching


class Invoices:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/invoices", "InvoiceListParams", self._list),
            Route("GET", "/v1/invoices/{id}", "InvoiceRetrieveParams", self._retrieve),
            Route("POST", "/v1/invoices/{id}", "InvoiceUpdateParams", self._update),
            Route("GET", "/v1/invoice_payments", "InvoicePaymentListParams", self._list_payments),
            Route("GET", "/v1/invoice_payments/{id}", "InvoicePaymentRetrieveParams", self._retrieve_payment),
        ]

    def first_of(self, subscription: Obj, due: int) -> Obj:
        """A new subscription's first invoice: paid when nothing is due (a trial), open otherwise."""
        return self._store.add(
            "invoices",
            "in",
            {
                "object": "invoice",
                "subscription": subscription["id"],
                "customer": subscription["customer"],
                "currency": subscription["currency"],
                "amount_due": due,
                "status": "paid" if due == 0 else "open",
                "billing_reason": "subscription_create",
                "auto_advance": due != 0,
                "parent": _parent(subscription),
            },
        )

    def at_trial_end(self, subscription: Obj, amount: int, *, paid: bool, due: int | None = None) -> Obj:
        """The invoice a trial's end makes: paid when charged, else open (emailed when `due` is given)."""
        send = subscription["collection_method"] == "send_invoice"
        return self._store.add(
            "invoices",
            "in",
            {
                "object": "invoice",
                "subscription": subscription["id"],
                "customer": subscription["customer"],
                "currency": subscription["currency"],
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "amount_remaining": 0 if paid else amount,
                "status": "paid" if paid else "open",
                "collection_method": subscription["collection_method"],
                "due_date": due,
                "attempted": not send,  # charge_automatically tries the payment method; send_invoice emails
                "attempt_count": 0 if send else 1,
                "hosted_invoice_url": f"https://invoice.stripe.test/{subscription['id']}" if send else None,
                "billing_reason": "subscription_cycle",
                "created": subscription["trial_end"],
                "auto_advance": not paid,  # Stripe keeps collecting an open invoice (retries, reminders)
                "parent": _parent(subscription),
            },
        )

    def stop_collecting(self, customer: str) -> None:
        """A subscription of `customer` was cancelled: Stripe stops automatic collection of all its finalized
        invoices (API reference, cancel a subscription), whichever subscription they bill."""
        for invoice in self._store.all("invoices", lambda i: i.get("customer") == customer and i["status"] == "open"):
            invoice["auto_advance"] = False

    def collect(self) -> list[Obj]:
        """Stripe's automatic collection run: each open invoice still collected is paid when its customer can pay."""
        paid = []
        with self._store.lock:
            for invoice in self._store.all("invoices", lambda i: i["status"] == "open" and bool(i.get("auto_advance"))):
                customer = self._store.get("customers", invoice["customer"])
                method = (customer.get("invoice_settings") or {}).get("default_payment_method")
                if method or customer.get("default_source"):
                    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
                    paid.append(invoice)
        return paid

    def _update(self, ident: str, params: Params) -> Obj:
        invoice = self._store.get("invoices", ident)
        if "auto_advance" in params:
            if invoice["status"] not in ("draft", "open"):
                raise fail(f"auto_advance cannot be changed on a {invoice['status']} invoice.", "invoice_not_editable")
            invoice["auto_advance"] = params["auto_advance"] in (True, "true")
        if "metadata" in params:
            invoice["metadata"] = {**(invoice.get("metadata") or {}), **params["metadata"]}
        return invoice

    def add_paid(
        self, payment_intent: str, number: str | None = None, description: str | None = None, created: int | None = None
    ) -> Obj:
        """A paid invoice and the invoice payment that ties it to `payment_intent`."""
        with self._store.lock:
            intent = self._store.get("payment_intents", payment_intent)
            customer = intent["customer"] or ""
            when = intent["created"] if created is None else created
            count = 1 + len(self._store.all("invoices", lambda i: i.get("customer") == customer))
            invoice = self._store.add(
                "invoices",
                "in",
                {
                    "object": "invoice",
                    "created": when,
                    "number": number or f"{hashlib.sha256(customer.encode()).hexdigest()[:8].upper()}-{count:04d}",
                    "status": "paid",
                    "customer": customer,
                    "currency": intent["currency"],
                    "amount_due": intent["amount"],
                    "amount_paid": intent["amount"],
                    "amount_remaining": 0,
                    "total": intent["amount"],
                    "collection_method": "charge_automatically",
                    "description": description,
                    "metadata": {},
                    "parent": None,
                    "status_transitions": {"paid_at": when, "finalized_at": when},
                },
            )
            self._store.add(
                "invoice_payments",
                "inpay",
                {
                    "object": "invoice_payment",
                    "created": when,
                    "amount_paid": intent["amount"],
                    "amount_requested": intent["amount"],
                    "currency": intent["currency"],
                    "invoice": invoice["id"],
                    "is_default": True,
                    "payment": {"type": "payment_intent", "payment_intent": payment_intent},
                    "status": "paid",
                    "status_transitions": {"canceled_at": None, "paid_at": when},
                },
            )
            return invoice

    def _list(self, params: Params) -> Obj:
        return self._store.page(
            "invoices", params, matching(params, "customer", "status", "subscription", "collection_method")
        )

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("invoices", ident)

    def _list_payments(self, params: Params) -> Obj:
        payment = params.get("payment") or {}
        kind = payment.get("type")
        if kind and not payment.get(kind):
            raise fail(f"Missing required param: payment[{kind}].", "parameter_missing")

        def keep(o: Obj) -> bool:
            return (
                (not params.get("invoice") or o["invoice"] == params["invoice"])
                and (not params.get("status") or o["status"] == params["status"])
                and (not kind or o["payment"].get(kind) == payment[kind])
            )

        return self._store.page("invoice_payments", params, keep)

    def _retrieve_payment(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("invoice_payments", ident)


def _parent(subscription: Obj) -> Obj:
    """Where recent API versions say which subscription an invoice bills (`subscription` is kept too)."""
    return {"type": "subscription_details", "subscription_details": {"subscription": subscription["id"]}}
