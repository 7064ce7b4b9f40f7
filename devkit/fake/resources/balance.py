"""The platform's balance and the balance transactions that move it."""

from __future__ import annotations

from ..routing import Route
from ..store import Obj, Params, Store


class Balance:
    """Amounts are integers in minor units, per currency.

    Funds land available at once here (Stripe holds card funds pending for days): nothing support.py
    does depends on the wait, and one number per currency is easier to assert.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.available: dict[str, int] = {}

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/balance", "BalanceRetrieveParams", self._retrieve),
            Route(
                "GET", "/v1/balance_transactions/{id}", "BalanceTransactionRetrieveParams", self._retrieve_transaction
            ),
        ]

    def book(
        self,
        currency: str,
        amount: int,
        kind: str,
        source: str,
        fee: int = 0,
        category: str | None = None,
        move: bool = True,
    ) -> Obj:
        """A balance transaction: `amount` (signed) minus `fee` moves the available balance (unless past history)."""
        if move:
            self.available[currency] = self.available.get(currency, 0) + amount - fee
        return self._store.add(
            "balance_transactions",
            "txn",
            {
                "object": "balance_transaction",
                "amount": amount,
                "available_on": self._store.now(),
                "balance_type": "payments",
                "currency": currency,
                "description": None,
                "exchange_rate": None,
                "fee": fee,
                "fee_details": [{"amount": fee, "currency": currency, "type": "stripe_fee"}] if fee else [],
                "net": amount - fee,
                "reporting_category": category or kind,
                "source": source,
                "status": "available",
                "type": kind,
            },
        )

    def _retrieve(self, params: Params) -> Obj:
        currencies = sorted(self.available) or ["eur"]

        def funds(book: dict[str, int]) -> list[Obj]:
            return [
                {"amount": book.get(c, 0), "currency": c, "source_types": {"card": book.get(c, 0)}} for c in currencies
            ]

        return {
            "object": "balance",
            "livemode": False,
            "available": funds(self.available),
            "pending": funds({}),
            "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        }

    def _retrieve_transaction(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("balance_transactions", ident)
