"""The sync's account read: customers, products and subscriptions, each list read in windows side by side;
then the payment methods of the customers that need a default."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from cohabs.shared.stripe import listing
from cohabs.sync.account import PaymentMethod, Remote
from cohabs.sync.calls import Calls
from cohabs.sync.rows import Kind


def read_all(calls: Calls, kinds: Collection[Kind], readers: int) -> list[Remote]:
    """Every object of `kinds`, each list read by up to `readers` windows at once (shared/stripe/listing.py)."""
    found = listing.read_all({kind: partial(calls.page, kind) for kind in kinds}, readers)
    return [remote for kind in kinds for remote in found[kind]]


def read_payment_methods(calls: Calls, customers: Sequence[str], readers: int) -> dict[str, list[PaymentMethod]]:
    """Each customer's payment methods, up to `readers` customers at once (the gateway paces the endpoint)."""
    if not customers:
        return {}
    with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="reader") as pool:
        return dict(zip(customers, pool.map(calls.payment_methods, customers), strict=True))
