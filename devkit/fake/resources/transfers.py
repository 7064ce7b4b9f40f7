"""Transfers to connected accounts: paid from the platform's balance, or funded by a charge.

Without `source_transaction` a transfer needs the platform's available
balance; with one, a succeeded charge with enough left untransferred, in the
currency of the charge's balance transaction (the currency it settled in, not
the one the customer paid in). Such a transfer joins the charge's transfer
group: the charge's own, or `group_<PaymentIntent id>`, which Stripe then
gives the charge too (the fake keeps that group whatever the request names;
support.py sends none). Either way the destination needs its `transfers`
capability active. A reversal takes (part of) a transfer back: `reversed`
turns true only once all of it is back.
"""

from __future__ import annotations

from .. import checks
from ..errors import fail
from ..routing import Route
from ..store import Obj, Params, Store, matching, new_id, public
from .balance import Balance


class Transfers:
    def __init__(self, store: Store, balance: Balance) -> None:
        self._store = store
        self._balance = balance

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/v1/transfers", "TransferCreateParams", self.create),
            Route("GET", "/v1/transfers", "TransferListParams", self._list),
            Route("GET", "/v1/transfers/{id}", "TransferRetrieveParams", self._retrieve),
            Route("POST", "/v1/transfers/{id}/reversals", "TransferReversalCreateParams", self.reverse),
        ]

    def of_charge(self, charge: str) -> list[Obj]:
        """The transfers `charge` funded, oldest first."""
        return self._store.all("transfers", lambda t: t["source_transaction"] == charge)

    def create(self, params: Params, *, created: int | None = None) -> Obj:
        """POST /v1/transfers; seeding calls it too, with the date of a past transfer."""
        with self._store.lock:
            if "amount" not in params:
                raise fail("Missing required param: amount.", "parameter_missing")
            currency = checks.currency(params["currency"])
            amount = checks.amount(params["amount"], 1)
            destination = params["destination"]
            account = self._store.objects["accounts"].get(destination)
            if account is None:
                raise fail(f"No such destination: '{destination}'", "resource_missing")
            if (account.get("capabilities") or {}).get("transfers") != "active":
                raise fail(
                    "Your destination account needs to have at least one of the following capabilities enabled: "
                    "transfers, crypto_transfers, legacy_payments",
                    "insufficient_capabilities_for_transfer",
                )
            source = params.get("source_transaction")
            group = params.get("transfer_group")
            if source:
                group = self._check_source(source, currency, amount)
            elif self._balance.available.get(currency, 0) < amount:
                raise fail(
                    "You have insufficient funds in your Stripe account for this transfer. Your available "
                    f"{currency} balance is {self._balance.available.get(currency, 0)}; a transfer with "
                    "source_transaction is funded by its charge instead.",
                    "balance_insufficient",
                )
            return self._make(params, currency, amount, created, group)

    def _check_source(self, source: str, currency: str, amount: int) -> str | None:
        """A transfer funded by a charge: a succeeded one, in the currency it settled in, with `amount` left to
        transfer. Returns the transfer group the transfer joins (see the module's docstring)."""
        charge = self._store.objects["charges"].get(source)
        if charge is None:
            raise fail(f"No such charge: '{source}'", "resource_missing")
        if charge["status"] != "succeeded":
            raise fail(
                f"The source_transaction {source} has status {charge['status']}: only a succeeded charge can "
                "fund a transfer.",
                "parameter_invalid",
            )
        settled = self._store.objects["balance_transactions"][charge["balance_transaction"]]
        if settled["currency"] != currency:
            raise fail(
                f"The currency of source_transaction {source}'s balance transaction ({settled['currency']}) must "
                f"be the same as the transfer currency ({currency}).",
                "parameter_invalid",
            )
        refunded, _, _ = self._balance.settled(charge["amount_refunded"], charge["currency"])
        taken = sum(t["amount"] - t["amount_reversed"] for t in self.of_charge(source))
        left = settled["amount"] - refunded - taken
        if amount > left:
            raise fail(
                f"The transfer amount ({amount}) exceeds what source_transaction {source} has left to "
                f"transfer ({left}).",
                "parameter_invalid",
            )
        if not charge["transfer_group"] and charge["payment_intent"]:
            charge["transfer_group"] = f"group_{charge['payment_intent']}"
        return str(charge["transfer_group"]) if charge["transfer_group"] else None

    def _make(self, params: Params, currency: str, amount: int, created: int | None, group: str | None) -> Obj:
        ident = new_id("tr")
        return self._store.add(
            "transfers",
            "tr",
            {
                "object": "transfer",
                "created": self._store.now() if created is None else created,
                "amount": amount,
                "amount_reversed": 0,
                # A transfer funded by its charge is taken from that charge's funds, so it moves the
                # balance too; only the checks differ.
                "balance_transaction": self._balance.book(currency, -amount, "transfer", ident)["id"],
                "currency": currency,
                "description": params.get("description"),
                "destination": params["destination"],
                "destination_payment": new_id("py"),
                "metadata": checks.metadata(params),
                "reversals": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "total_count": 0,
                    "url": f"/v1/transfers/{ident}/reversals",
                },
                "reversed": False,
                "source_transaction": params.get("source_transaction"),
                "source_type": "card",
                "transfer_group": group,
            },
            ident,
        )

    def reverse(self, ident: str, params: Params) -> Obj:
        """POST /v1/transfers/{id}/reversals: all that is left of it by default, or `amount`."""
        with self._store.lock:
            transfer = self._store.get("transfers", ident)
            left = transfer["amount"] - transfer["amount_reversed"]
            amount = checks.amount(params["amount"], 1) if "amount" in params else left
            if left <= 0:
                raise fail(f"Transfer {ident} is already fully reversed.", "transfer_already_reversed")
            if amount > left:
                raise fail(
                    f"Reversal amount ({amount}) is greater than the amount left on the transfer ({left}).",
                    "amount_too_large",
                )
            reversal = self._store.add(
                "transfer_reversals",
                "trr",
                {
                    "object": "transfer_reversal",
                    "amount": amount,
                    "balance_transaction": self._balance.book(transfer["currency"], amount, "transfer_cancel", ident)[
                        "id"
                    ],
                    "currency": transfer["currency"],
                    "destination_payment_refund": new_id("pyr"),
                    "metadata": checks.metadata(params),
                    "source_refund": None,
                    "transfer": ident,
                },
            )
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
            reversals = transfer["reversals"]
            reversals["data"].insert(0, public(reversal))
            reversals["total_count"] += 1
            return reversal

    def _list(self, params: Params) -> Obj:
        return self._store.page("transfers", params, matching(params, "destination", "transfer_group"))

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("transfers", ident)
