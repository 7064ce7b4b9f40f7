"""Charges: what a PaymentIntent's payment made, the money that reached the balance, and refunds."""

from __future__ import annotations

from ..routing import Route
from ..store import Obj, Params, Store, matching, new_id
from .balance import Balance


class Charges:
    def __init__(self, store: Store, balance: Balance) -> None:
        self._store = store
        self._balance = balance

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/charges", "ChargeListParams", self._list),
            Route("GET", "/v1/charges/{id}", "ChargeRetrieveParams", self._retrieve),
        ]

    def make(self, intent: Obj, ident: str, status: str, method: str, created: int, move: bool) -> Obj:
        """The charge of `intent`'s payment; a succeeded one books its amount (moving the balance if `move`)."""
        succeeded, failed = status == "succeeded", status == "failed"
        charge = self._store.add(
            "charges",
            ident.partition("_")[0],
            {
                "object": "charge",
                "created": created,
                "amount": intent["amount"],
                "amount_captured": intent["amount"] if succeeded else 0,
                "amount_refunded": 0,
                "balance_transaction": None,
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "captured": succeeded,
                "currency": intent["currency"],
                "customer": intent["customer"],
                "description": intent["description"],
                "disputed": False,
                "failure_code": "insufficient_funds" if failed else None,
                "failure_message": "The payment failed: insufficient funds." if failed else None,
                "metadata": dict(intent["metadata"]),
                "on_behalf_of": None,
                "outcome": {"type": "issuer_declined" if failed else "authorized"},
                "paid": succeeded,
                "payment_intent": intent["id"],
                "payment_method": intent["payment_method"] or new_id("pm"),
                "payment_method_details": {"type": method, method: {}},
                "receipt_email": None,
                "refunded": False,
                "source_transfer": None,
                "statement_descriptor": None,
                "status": status,
                "transfer_data": None,
                "transfer_group": intent["transfer_group"],
            },
            ident,
        )
        if succeeded:
            # The balance moves in the currency the platform settles the charge's currency in.
            charge["balance_transaction"] = self._balance.book_settled(
                intent["currency"], intent["amount"], "charge", ident, move=move
            )["id"]
        return charge

    def refund(self, charge_id: str, amount: int | None = None) -> Obj:
        """Refund (part of) a charge, as the dashboard would."""
        with self._store.lock:
            charge = self._store.get("charges", charge_id)
            left = charge["amount"] - charge["amount_refunded"]
            amount = left if amount is None else amount
            if not 0 < amount <= left:
                raise ValueError(f"{charge_id} has {left} left to refund, not {amount}")
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self._balance.book_settled(charge["currency"], -amount, "refund", charge_id)
            return charge

    def _list(self, params: Params) -> Obj:
        return self._store.page("charges", params, matching(params, "customer", "payment_intent", "transfer_group"))

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("charges", ident)
