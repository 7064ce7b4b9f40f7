"""The fake account's objects, in one store every resource reads and writes through these methods.

Objects are plain dicts shaped as Stripe answers them; keys starting with `_`
are the fake's own bookkeeping (`_seq`, the order of creation) and never leave
it. Ids are as long as Stripe's, lists page newest first with cursors and
filter on `created`, and deleted objects leave the lists but still answer a
retrieve with `deleted: true`.
"""

from __future__ import annotations

import hashlib
import operator
import secrets
import string
import threading
from collections.abc import Callable
from typing import Any

from .errors import StripeFailure, fail

Obj = dict[str, Any]
Params = dict[str, Any]

KINDS = (
    "customers",
    "payment_methods",
    "products",
    "prices",
    "subscriptions",
    "invoices",
    "accounts",
    "charges",
    "payment_intents",
    "disputes",
    "transfers",
    "transfer_reversals",
    "invoice_payments",
    "balance_transactions",
    "cash_balance_transactions",
)
ID_CHARS = string.ascii_letters + string.digits
# Characters after the prefix, as Stripe issues them today (cus_NffrFeUfNV2Hib, sub_1MowQVLkdIwHu7ixeRlqHVzs):
# 24 unless listed. An id column sized on shorter ones would fail late.
ID_LENGTHS = {"cus": 14, "prod": 14, "si": 14}
# How "No such …" names a kind; else the kind less its s.
NOUNS = {"balance_transactions": "balance transaction", "payment_methods": "PaymentMethod"}
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(ID_CHARS) for _ in range(ID_LENGTHS.get(prefix, 24)))}"


def digits(seed: str, count: int) -> str:
    """`count` digits that always follow from `seed`."""
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:count]


def sibling(ident: str, prefix: str) -> str:
    """An id sharing the start of `ident`'s, as a PaymentIntent's first charge shares the PaymentIntent's."""
    return f"{prefix}_{ident.partition('_')[2][:17]}{digits(ident, 7)}"


def noun(kind: str) -> str:
    return NOUNS.get(kind, kind[:-1])


def public(obj: Obj) -> Obj:
    """The object as Stripe shows it: without the fake's bookkeeping."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def created_matches(created: int, wanted: Any) -> bool:
    """`created` as the list endpoints take it: one timestamp, or bounds keyed gt, gte, lt and lte."""
    if wanted is None:
        return True
    if not isinstance(wanted, dict):
        return created == int(wanted)
    return all(_COMPARE[op](created, int(bound)) for op, bound in wanted.items())


def everything(obj: Obj) -> bool:
    return True


def matching(params: Params, *names: str) -> Callable[[Obj], bool]:
    """A list filter: the objects whose fields equal the values the request gives for `names`."""
    wanted = {name: params[name] for name in names if params.get(name)}
    return lambda o: all(o.get(name) == value for name, value in wanted.items())


class Store:
    """Every object of the account by kind and id. Hold `lock` across a read-then-write."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.objects: dict[str, dict[str, Obj]] = {kind: {} for kind in KINDS}
        self.lock = threading.RLock()
        self._clock = clock
        self._seq = 0

    def now(self) -> int:
        return int(self._clock())

    # ----- writing ---------------------------------------------------------------

    def add(self, kind: str, prefix: str, fields: Obj, ident: str | None = None) -> Obj:
        """A new object under `ident` (a fresh id by default), created now unless `fields` says when."""
        with self.lock:
            ident = ident or new_id(prefix)
            if ident in self.objects[kind]:
                raise ValueError(f"{ident} already exists")
            obj = {"id": ident, **fields}
            obj.setdefault("created", self.now())
            obj.setdefault("livemode", False)
            return self.put(kind, obj)

    def put(self, kind: str, obj: Obj) -> Obj:
        """An object made whole elsewhere (id and date included), as the newest of the account."""
        with self.lock:
            self._seq += 1
            obj["_seq"] = self._seq
            self.objects[kind][obj["id"]] = obj
            return obj

    # ----- reading ---------------------------------------------------------------

    def get(self, kind: str, ident: str) -> Obj:
        """The live object, or Stripe's 404."""
        obj = self.objects[kind].get(ident)
        if obj is None or obj.get("deleted"):
            raise StripeFailure(404, f"No such {noun(kind)}: '{ident}'", code="resource_missing")
        return obj

    def retrieve(self, kind: str, ident: str) -> Obj:
        """GET /v1/{kind}/{id}: Stripe answers a deleted customer or product with a stub, not a 404."""
        obj = self.objects[kind].get(ident)
        if obj is not None and obj.get("deleted"):
            return {"id": ident, "object": obj["object"], "deleted": True}
        return self.get(kind, ident)

    def find(self, ident: str) -> Obj | None:
        """The object of any kind with this id (what `expand` follows)."""
        for objects in self.objects.values():
            if ident in objects:
                return objects[ident]
        return None

    def all(self, kind: str, keep: Callable[[Obj], bool] = everything) -> list[Obj]:
        """The objects of a kind (deleted ones too) in the order they were made."""
        with self.lock:
            return sorted((o for o in self.objects[kind].values() if keep(o)), key=lambda o: o["_seq"])

    def page(self, kind: str, params: Params, keep: Callable[[Obj], bool] = everything) -> Obj:
        """GET /v1/{kind}: live objects newest first, filtered on `created`, a page after or before a cursor."""
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise fail("Invalid limit: must be between 1 and 100", "parameter_invalid")
        created = params.get("created")
        found = [
            o
            for o in self.objects[kind].values()
            if not o.get("deleted") and keep(o) and created_matches(o["created"], created)
        ]
        found.sort(key=lambda o: (o["created"], o["_seq"]), reverse=True)
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise fail("You may only specify one of these parameters: ending_before, starting_after.")
        cursor = after or before
        index = next((i for i, o in enumerate(found) if o["id"] == cursor), None) if cursor else None
        if cursor and index is None:
            raise fail(f"No such {noun(kind)}: '{cursor}'", "resource_missing")
        if after:
            found = found[index + 1 :] if index is not None else found
            page = found[:limit]
        elif before:
            found = found[:index]
            page = found[-limit:]
        else:
            page = found[:limit]
        return {
            "object": "list",
            "url": f"/v1/{kind}",
            "has_more": len(found) > limit,
            "data": [public(o) for o in page],
        }
