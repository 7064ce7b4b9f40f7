"""An account built over time: objects put straight into the store, created at random past seconds.

What the sync's read of an existing account meets (a year of customers,
products and subscriptions), without the requests that made them.
"""

from __future__ import annotations

import random

from .store import ID_CHARS, Obj, Store

PREFIXES = {"customers": "cus", "products": "prod", "subscriptions": "sub"}


def backfill(
    store: Store, counts: dict[str, int], *, since: int | None = None, until: int | None = None, seed: int = 0
) -> dict[str, int]:
    """`counts` objects per kind, created in [since, until) (the past year by default). Returns the count per kind."""
    rng = random.Random(seed)
    until = store.now() if until is None else until
    since = until - 365 * 86400 if since is None else since
    with store.lock:
        made: dict[str, list[Obj]] = {kind: [] for kind in PREFIXES}
        for kind in PREFIXES:
            for index in range(counts.get(kind, 0)):
                obj = _shape(kind, index, made, rng)
                obj["id"] = f"{PREFIXES[kind]}_seed{index:06d}{''.join(rng.choices(ID_CHARS, k=6))}"
                obj["created"] = rng.randrange(since, until)
                made[kind].append(obj)
        for kind, objs in made.items():
            for obj in sorted(objs, key=lambda o: o["created"]):
                store.put(kind, obj)
    return {kind: len(objs) for kind, objs in made.items()}


def _shape(kind: str, index: int, made: dict[str, list[Obj]], rng: random.Random) -> Obj:
    obj: Obj = {"object": kind[:-1], "livemode": False, "metadata": {}}
    if kind == "customers":
        obj.update(email=f"seed{index}@example.com", name=f"Seed {index}", phone=None, deleted=False)
        obj["metadata"]["cohabs_user_id"] = f"seed-user-{index}"
    elif kind == "products":
        obj.update(name=f"Room {index}", active=True, default_price=None)
        obj["metadata"]["cohabs_room_id"] = f"seed-room-{index}"
    else:
        customer = rng.choice(made["customers"])["id"] if made["customers"] else None
        product = rng.choice(made["products"])["id"] if made["products"] else None
        price = {"object": "price", "product": product, "currency": "eur", "unit_amount": 50000}
        obj.update(status="trialing", customer=customer, items={"object": "list", "data": [{"price": price}]})
        obj["metadata"]["cohabs_lease_id"] = f"seed-lease-{index}"
    return obj
