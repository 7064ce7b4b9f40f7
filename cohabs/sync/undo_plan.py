"""Undo, planned: from what a run created and what the account and database hold now, the steps left to do.

Pure (no Stripe, no MySQL), and built from the state as it is, so a rerun
after a crash plans only what is left and an undo already done plans nothing.
Per object the run created:

- a subscription is cancelled, with no invoice and no proration;
- a customer is deleted, unless money is on it (a payment method, a paid
  invoice, a charge, a cash balance) or another run's live subscription bills
  through it: then it is left, with its row, for a person;
- a product is archived with its prices (Stripe deletes neither a product that
  has prices nor a price), unless another run's live subscription uses it;
- the row's id is cleared only while the row still holds exactly that id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from cohabs.sync.rows import Kind
from cohabs.sync.undo_record import Made, RunRecord

ENDED = frozenset({"canceled", "incomplete_expired"})  # a subscription that can no longer bill


class Act(StrEnum):
    """What undo does with one object; the order is the report's."""

    CANCEL = "cancel"  # the subscription
    DELETE = "delete"  # the customer
    ARCHIVE = "archive"  # the product and its prices
    CLEAR = "clear_row"  # the object is gone already: only the row's id
    LEAVE = "left_for_a_person"  # money or another run's objects on it: untouched, named
    DONE = "already_undone"  # nothing left to do


WRITES = frozenset({Act.CANCEL, Act.DELETE, Act.ARCHIVE, Act.CLEAR})


@dataclass(frozen=True, slots=True)
class CustomerNow:
    money: tuple[str, ...] = ()  # what holds money or a tenant's data: "a payment method (pm_…)", …


@dataclass(frozen=True, slots=True)
class ProductNow:
    active: bool
    default_price: str | None = None
    active_prices: tuple[str, ...] = ()  # every active price but the default one, which Stripe will not archive


@dataclass(frozen=True)
class Now:
    """What the account and the database hold now, for the objects the run made."""

    subscriptions: Mapping[str, str] = field(default_factory=dict)  # id -> status; absent: not in the account
    customers: Mapping[str, CustomerNow] = field(default_factory=dict)  # absent: deleted
    products: Mapping[str, ProductNow] = field(default_factory=dict)  # absent: deleted
    rows: Mapping[tuple[Kind, str], str | None] = field(default_factory=dict)  # the id a row holds now
    # Customer or product id -> live subscriptions using it that this run did not make.
    others: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)  # subscription id -> its customer's id


@dataclass(frozen=True, slots=True)
class UndoStep:
    made: Made
    act: Act
    clear_row: bool  # the row still holds exactly this id: it is cleared once the object is undone
    why: str = ""
    prices: tuple[str, ...] = ()  # ARCHIVE: the prices archived with the product
    after: tuple[str, ...] = ()  # DELETE: the run's subscriptions on the customer, cancelled first
    # CANCEL: the customer whose other open invoices get automatic collection back (Stripe's cancel stops it for
    # every finalized invoice of the customer), None when this undo deletes the customer too.
    resume: str | None = None

    @property
    def writes(self) -> bool:
        return self.act in WRITES


@dataclass(frozen=True)
class UndoPlan:
    steps: tuple[UndoStep, ...]

    @property
    def writes(self) -> bool:
        return any(s.writes for s in self.steps)


def plan_undo(record: RunRecord, now: Now) -> UndoPlan:
    """Subscriptions first (they bill), then customers and products: the run's objects newest first."""
    steps = [_subscription(m, now) for m in record.of_kind(Kind.LEASE)]
    cancels: dict[str, list[str]] = {}
    for step in steps:
        if step.act is Act.CANCEL and (owner := now.owners.get(step.made.stripe_id)):
            cancels.setdefault(owner, []).append(step.made.stripe_id)
    steps += [_customer(m, now, tuple(cancels.get(m.stripe_id, ()))) for m in record.of_kind(Kind.USER)]
    steps += [_product(m, now) for m in record.of_kind(Kind.ROOM)]
    # A customer that stays (another run's, or one left for a person) keeps its other rent collected.
    deleted = {s.made.stripe_id for s in steps if s.act is Act.DELETE}
    return UndoPlan(tuple(replace(s, resume=None) if s.resume in deleted else s for s in steps))


def _holds(made: Made, now: Now) -> bool:
    return now.rows.get((made.kind, made.row_id)) == made.stripe_id


def _gone(made: Made, now: Now, why: str) -> UndoStep:
    """The object is undone already: only the row may still name it."""
    if _holds(made, now):
        return UndoStep(made, Act.CLEAR, True, why)
    return UndoStep(made, Act.DONE, False, why)


def _subscription(made: Made, now: Now) -> UndoStep:
    status = now.subscriptions.get(made.stripe_id)
    if status is None:
        return _gone(made, now, "not in the account")
    if status in ENDED:
        return _gone(made, now, f"already {status}")
    why = f"{status}: cancelled, no invoice, no proration"
    return UndoStep(made, Act.CANCEL, _holds(made, now), why, resume=now.owners.get(made.stripe_id))


def _others(made: Made, now: Now) -> str:
    others = now.others.get(made.stripe_id, ())
    if not others:
        return ""
    listed = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return f"live subscriptions this run did not make use it ({listed}): deleting or archiving it would reach them"


def _customer(made: Made, now: Now, after: tuple[str, ...]) -> UndoStep:
    customer = now.customers.get(made.stripe_id)
    if customer is None:
        return _gone(made, now, "already deleted")
    if customer.money:
        why = "money or a tenant's data on it: " + "; ".join(customer.money)
        return UndoStep(made, Act.LEAVE, False, why)
    if others := _others(made, now):
        return UndoStep(made, Act.LEAVE, False, others)
    # Deleting a customer cancels its subscriptions at once, in Stripe's way: the run's own go first, in ours.
    return UndoStep(made, Act.DELETE, _holds(made, now), "no money on it: deleted", after=after)


def _product(made: Made, now: Now) -> UndoStep:
    product = now.products.get(made.stripe_id)
    if product is None:
        return _gone(made, now, "already deleted")
    if others := _others(made, now):
        return UndoStep(made, Act.LEAVE, False, others)
    if not product.active and not product.active_prices:
        return _gone(made, now, "already archived")
    why = f"archived with {len(product.active_prices)} price(s)"
    if product.default_price:
        why += f"; its default price {product.default_price} stays active (Stripe keeps it; the product cannot sell)"
    return UndoStep(made, Act.ARCHIVE, _holds(made, now), why, product.active_prices)
