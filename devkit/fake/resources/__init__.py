"""The resources the fake serves, each a module on the one store.

The sync's: customers (with their payment methods), products (with prices),
subscriptions (with their first invoice). The payment side's: connected accounts, charges, PaymentIntents
(with the customer's cash balance), disputes, transfers, invoice payments and
the balance. A resource reads other kinds through the store and calls another
resource only through its public methods.
"""

from __future__ import annotations

from ..routing import Route
from ..store import Store
from .accounts import Accounts
from .balance import Balance
from .charges import Charges
from .customers import Customers
from .disputes import Disputes
from .invoices import Invoices
from .payment_intents import PaymentIntents
from .payment_methods import PaymentMethods
from .products import Products
from .subscriptions import Subscriptions
from .transfers import Transfers


class Resources:
    def __init__(self, store: Store) -> None:
        self.payment_methods = PaymentMethods(store)
        self.customers = Customers(store, self.payment_methods)
        self.products = Products(store)
        self.invoices = Invoices(store)
        self.subscriptions = Subscriptions(store, self.customers, self.products, self.invoices)
        self.balance = Balance(store)
        self.accounts = Accounts(store)
        self.charges = Charges(store, self.balance)
        self.payment_intents = PaymentIntents(store, self.customers, self.charges)
        self.disputes = Disputes(store, self.balance)
        self.transfers = Transfers(store, self.balance)

    def routes(self) -> list[Route]:
        return [
            *self.customers.routes(),
            *self.payment_methods.routes(),
            *self.products.routes(),
            *self.subscriptions.routes(),
            *self.invoices.routes(),
            *self.balance.routes(),
            *self.accounts.routes(),
            *self.charges.routes(),
            *self.payment_intents.routes(),
            *self.disputes.routes(),
            *self.transfers.routes(),
        ]
