"""The sync's account read: customers, products and subscriptions, each list read in windows side by side."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from cohabs.shared.stripe import listing
from cohabs.sync.account import Remote
from cohabs.sync.calls import Calls
from cohabs.sync.rows import Kind


def read_all(calls: Calls, kinds: Collection[Kind], readers: int) -> list[Remote]:
    """Every object of `kinds`, each list read by up to `readers` windows at once (shared/stripe/listing.py)."""
    found = listing.read_all({kind: partial(calls.page, kind) for kind in kinds}, readers)
    return [remote for kind in kinds for remote in found[kind]]
