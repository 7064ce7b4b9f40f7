"""Disputes: a cardholder's bank takes a charge back; the money leaves the balance, with a fee.

An inquiry (the `warning_…` statuses) takes nothing until it becomes a
chargeback; a won dispute returns the amount but not the fee. A `prevented`
dispute may or may not have taken the money (`open(..., withdraw=...)`): only
its balance transactions tell, as at Stripe. The money moves in the currency
the platform settles the charge in. Answering or
closing one is modelled because the SDK has the routes: the tool must never
send them, and the request log lets a test prove it.
"""

from __future__ import annotations

from .. import checks
from ..errors import fail
from ..routing import Route
from ..store import Obj, Params, Store, matching, public
from .balance import Balance

DISPUTE_FEES = {"eur": 2000, "gbp": 2000, "usd": 1500}  # what a chargeback costs the platform
INQUIRY = ("warning_needs_response", "warning_under_review", "warning_closed")
DISPUTE_STATUSES = (*INQUIRY, "needs_response", "under_review", "won", "lost", "prevented")
OPEN = ("needs_response", "warning_needs_response")  # the statuses an answer or a close is taken in


class Disputes:
    def __init__(self, store: Store, balance: Balance) -> None:
        self._store = store
        self._balance = balance

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/disputes", "DisputeListParams", self._list),
            Route("GET", "/v1/disputes/{id}", "DisputeRetrieveParams", self._retrieve),
            Route("POST", "/v1/disputes/{id}", "DisputeUpdateParams", self._update),
            Route("POST", "/v1/disputes/{id}/close", "DisputeCloseParams", self._close),
        ]

    def open(
        self,
        charge_id: str,
        status: str = "needs_response",
        reason: str = "fraudulent",
        created: int | None = None,
        withdraw: bool | None = None,
    ) -> Obj:
        """The cardholder's bank disputes a charge: a chargeback takes amount + fee from the balance.

        `withdraw` says whether the money left for a status that does not say it (prevented); by default a
        prevented dispute took nothing.
        """
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"dispute status {status!r}")
        with self._store.lock:
            charge = self._store.get("charges", charge_id)
            if charge["status"] != "succeeded" or charge["disputed"]:
                raise ValueError(
                    f"{charge_id} cannot be disputed (status {charge['status']}, disputed {charge['disputed']})"
                )
            charge["disputed"] = True
            when = self._store.now() if created is None else created
            dispute = self._store.add("disputes", "dp", _shape(charge, status, reason, when))
            if status not in INQUIRY and (withdraw if status == "prevented" else True):
                self._withdraw(dispute)
            if status == "won":
                self._reinstate(dispute)
            return dispute

    def set_status(self, dispute_id: str, status: str) -> Obj:
        """Move a dispute on, as the card network would, with the money Stripe moves for it."""
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"dispute status {status!r}")
        with self._store.lock:
            dispute = self._store.get("disputes", dispute_id)
            if dispute["status"] in INQUIRY and status not in INQUIRY:
                self._withdraw(dispute)  # an inquiry that became a chargeback: now the money leaves
            if status == "won" and dispute["status"] != "won":
                self._reinstate(dispute)
            dispute["status"] = status
            return dispute

    def _withdraw(self, dispute: Obj) -> None:
        amount, currency, rate = self._balance.settled(dispute["amount"], dispute["currency"])
        fee = DISPUTE_FEES.get(currency, 1500)
        txn = self._balance.book(currency, -amount, "adjustment", dispute["id"], fee, "dispute", exchange_rate=rate)
        dispute["balance_transactions"].append(public(txn))

    def _reinstate(self, dispute: Obj) -> None:
        # A won dispute returns what was withdrawn; the fee stays with Stripe. Nothing withdrawn, nothing back.
        taken = -sum(t["amount"] for t in dispute["balance_transactions"])
        if taken <= 0:
            return
        currency = dispute["balance_transactions"][0]["currency"]
        txn = self._balance.book(currency, taken, "adjustment", dispute["id"], 0, "dispute_reversal")
        dispute["balance_transactions"].append(public(txn))

    def _list(self, params: Params) -> Obj:
        return self._store.page("disputes", params, matching(params, "charge", "payment_intent"))

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("disputes", ident)

    def _update(self, ident: str, params: Params) -> Obj:
        dispute = self._store.get("disputes", ident)
        if dispute["status"] not in OPEN:
            raise fail(f"This dispute is {dispute['status']} and can no longer be updated.")
        dispute["evidence"] = {**dispute["evidence"], **(params.get("evidence") or {})}
        dispute["metadata"] = {**dispute["metadata"], **checks.metadata(params)}
        if params.get("submit", "true") == "true" and "evidence" in params:
            dispute["evidence_details"]["submission_count"] += 1
            dispute["status"] = "warning_under_review" if dispute["status"] in INQUIRY else "under_review"
        return dispute

    def _close(self, ident: str, params: Params) -> Obj:
        # Closing accepts the loss.
        dispute = self._store.get("disputes", ident)
        if dispute["status"] not in OPEN:
            raise fail(f"This dispute is already {dispute['status']}.")
        dispute["status"] = "warning_closed" if dispute["status"] in INQUIRY else "lost"
        return dispute


def _shape(charge: Obj, status: str, reason: str, when: int) -> Obj:
    return {
        "object": "dispute",
        "created": when,
        "amount": charge["amount"] - charge["amount_refunded"],
        "balance_transactions": [],
        "charge": charge["id"],
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {"customer_name": None, "product_description": None, "uncategorized_text": None},
        "evidence_details": {
            "due_by": when + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "type": "card",
            "card": {"brand": "visa", "case_type": "inquiry" if status in INQUIRY else "chargeback"},
        },
        "reason": reason,
        "status": status,
    }
