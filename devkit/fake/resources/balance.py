"""The platform's balance and the balance transactions that move it."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

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
        # Presentment currency -> (the currency the platform settles it in, the exchange rate). A currency not
        # named settles as it is, as for a platform with a bank account in that currency.
        self.settlement: dict[str, tuple[str, Decimal]] = {}

    def settle_in(self, currency: str, into: str, rate: Decimal) -> None:
        """Charges in `currency` reach the balance converted into `into` (a platform without a `currency` account)."""
        self.settlement[currency] = (into, rate)

    def settled(self, amount: int, currency: str) -> tuple[int, str, Decimal | None]:
        """`amount` of `currency` as it reaches the balance: amount, currency and the rate (None when not converted)."""
        into, rate = self.settlement.get(currency, (currency, Decimal(1)))
        if into == currency:
            return amount, currency, None
        return int((Decimal(amount) * rate).to_integral_value(rounding=ROUND_HALF_EVEN)), into, rate

    def book_settled(
        self, currency: str, amount: int, kind: str, source: str, *, category: str | None = None, move: bool = True
    ) -> Obj:
        """A balance transaction for money presented in `currency`, converted as the platform settles it (no fee)."""
        moved, into, rate = self.settled(abs(amount), currency)
        signed = moved if amount >= 0 else -moved
        return self.book(into, signed, kind, source, category=category, move=move, exchange_rate=rate)

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
        exchange_rate: Decimal | None = None,
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
                "exchange_rate": float(exchange_rate) if exchange_rate is not None else None,
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
