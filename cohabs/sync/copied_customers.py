"""Customers that Stripe's copy of payment data brought: which user each one is, by email or by the copy's mapping.

Stripe's copy between accounts keeps each customer's id and cards but brings
none of our metadata, so the sync would not know them and would make each
tenant a second customer without a card. Before creating a customer for a
user, the plan links the user to the one customer in the account that:

- no user is linked to (no `cohabs_user_id`, and no row stores its id);
- has the user's email, compared case-insensitively;
- has the email of no other user.

Two such customers, or one that two users could claim, go to a person: nothing
is created for that user until a `--customer-map` row decides. A customer that
matches no user is never touched. Pure: rows, the account and the map in,
decisions out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from cohabs.shared.errors import CannotRun
from cohabs.sync.account import Account, Remote
from cohabs.sync.rows import Kind, User

T = TypeVar("T")
# Stripe's mapping file names the new customer `stripe_customer_id`; the other names are what people write.
CUSTOMER_COLUMNS = ("stripe_customer_id", "new_customer_id", "customer_id", "customer")


class Names(StrEnum):
    """What a map row names the user by."""

    OLD_CUSTOMER = "old_customer_id"  # the customer id the row stored in the old account
    USER = "user_id"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class MapRow:
    """One line of `--customer-map`: the user it names (by one or more columns), and the customer it gets."""

    line: int
    names: tuple[tuple[Names, str], ...]
    customer: str

    def says(self) -> str:
        named = ", ".join(f"{by.value} {value}" for by, value in self.names)
        return f"customer map line {self.line} ({named} -> {self.customer})"


def parse_customer_map(text: str, source: str) -> tuple[MapRow, ...]:
    """The map's rows. A file without a customer column or a column naming users cannot be read at all."""
    reader = csv.DictReader(io.StringIO(text))
    header = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    customer_column = next((header[c] for c in CUSTOMER_COLUMNS if c in header), None)
    keys = [(by, header[by.value]) for by in Names if by.value in header]
    if customer_column is None or not keys:
        raise CannotRun(
            f"{source}: the customer map needs a header with a customer column ({', '.join(CUSTOMER_COLUMNS)}) "
            f"and at least one of {', '.join(n.value for n in Names)}"
        )
    rows = []
    for line, record in enumerate(reader, start=2):
        names = tuple((by, value.strip()) for by, column in keys if (value := record.get(column) or "").strip())
        rows.append(MapRow(line, names, (record.get(customer_column) or "").strip()))
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class Decision:
    """A user without a customer: the copied customer to link, or (customer None) why a person decides."""

    customer: str | None
    reason: str


@dataclass(frozen=True)
class Copied:
    """For each user that has no customer yet, the decision about the customers the copy brought."""

    decisions: Mapping[str, Decision] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    contested: frozenset[str] = frozenset()  # emails (folded) a person must settle

    def decide(self, user_id: str, needs_one: bool) -> Decision | None:
        """What to do instead of creating a customer (`needs_one`) or linking a stored id; None: nothing else."""
        decision = self.decisions.get(user_id)
        if decision is None or (decision.customer is not None and not needs_one):
            return None
        return decision


NOTHING_COPIED = Copied()


def copied_customers(users: Sequence[User], account: Account, mapping: Sequence[MapRow] = ()) -> Copied:
    """Which unlinked customer each user without one gets, and which users wait for a person."""
    if not account.read:
        unread = ("the customer map was not applied: no Stripe account was read",) if mapping else ()
        return Copied(notes=unread)
    stored: dict[str, list[str]] = {}
    for user in users:
        if user.stripe_id:
            stored.setdefault(user.stripe_id, []).append(user.id)
    ids = {u.id for u in users}
    linked = {u.id for u in users if _has_customer(u, account, ids)}
    mapped, decisions, notes = _apply_map(users, account, mapping, stored, linked)
    decisions.update(_shared_ids(stored, account, ids))
    free = [
        c
        for c in account.by_id[Kind.USER].values()
        if not c.link and c.id not in stored and c.id not in mapped.values()
    ]
    candidates = _group(free, lambda c: _fold(_email(c)))
    by_email = _group(users, lambda u: _fold(u.email))
    contested = set()
    for user in users:
        email = _fold(user.email)
        if user.id in decisions or user.id in linked or email not in candidates:
            continue
        decisions[user.id] = decision = _by_email(user.id, candidates[email], by_email[email])
        if decision.customer is None:
            contested.add(email)
    return Copied(decisions, tuple(notes), frozenset(contested))


def _by_email(user_id: str, found: Sequence[Remote], claimants: Sequence[User]) -> Decision:
    """The one unlinked customer with the user's email, unless there are several or it is another user's too."""
    if len(found) > 1:
        ids = ", ".join(c.id for c in found)
        return Decision(None, f"copied customers {ids} all have this user's email: a person decides which")
    if len(claimants) > 1:
        others = ", ".join(u.id for u in claimants if u.id != user_id)
        return Decision(
            None, f"copied customer {found[0].id} has this email, which users {others} have too: a person decides whose"
        )
    return Decision(found[0].id, f"copied customer {found[0].id} has this user's email and no other user's")


def _has_customer(user: User, account: Account, ids: Collection[str]) -> bool:
    """What plan._link keeps or adopts: its stored id names it or no user row, or a customer links back to it."""
    remote = account.find(Kind.USER, user.stripe_id or "")
    kept = remote is not None and (remote.link == user.id or remote.link not in ids)
    return kept or bool(account.linked_to(Kind.USER, user.id))


def _shared_ids(
    stored: Mapping[str, list[str]], account: Account, ids: Collection[str]
) -> Iterable[tuple[str, Decision]]:
    """Users whose rows store one customer that names none of them (nor any row): never linked to two users."""
    for stripe_id, owners in stored.items():
        remote = account.find(Kind.USER, stripe_id)
        if len(owners) > 1 and remote is not None and remote.link not in ids:
            for owner in owners:
                others = ", ".join(o for o in owners if o != owner)
                why = f"users {others} store {stripe_id} too: a customer is never linked to two users, a person decides"
                yield owner, Decision(None, why)


def _apply_map(
    users: Sequence[User],
    account: Account,
    mapping: Sequence[MapRow],
    stored: Mapping[str, list[str]],
    linked: set[str],
) -> tuple[dict[str, str], dict[str, Decision], list[str]]:
    """The map's links (user -> customer), the users it leaves to a person, and the rows it could not use."""
    uses: list[tuple[MapRow, str]] = []  # (row, the user it names)
    notes: list[str] = []
    decisions: dict[str, Decision] = {}
    for row in mapping:
        user_id, why = _user_of(row, users)
        problem = why or _customer_problem(row, account, user_id)
        if problem or user_id is None:
            notes.append(f"{row.says()}: {problem}; not used")
            if user_id is not None and user_id not in linked:  # the map meant to decide: email does not
                decisions[user_id] = Decision(None, f"{row.says()}: {problem}; a person corrects the map")
        elif user_id not in linked:
            uses.append((row, user_id))
        elif (found := account.find(Kind.USER, row.customer)) is None or found.link != user_id:
            notes.append(f"{row.says()}: user {user_id} is already linked to another customer; not used")
    mapped: dict[str, str] = {}
    for user_id in dict.fromkeys(user for _, user in uses if user not in decisions):
        mine = [row for row, user in uses if user == user_id]
        customers = {row.customer for row in mine}
        rivals = [(row, user) for row, user in uses if row.customer in customers and user != user_id]
        holders = [o for c in sorted(customers) for o in stored.get(c, []) if o != user_id]
        if len(customers) == 1 and not rivals and not holders:
            (customer,) = customers
            mapped[user_id] = customer
            decisions[user_id] = Decision(customer, mine[0].says())
            continue
        lines = sorted({row.line for row in mine} | {row.line for row, _ in rivals})
        who = sorted(customers) + sorted({user for _, user in rivals}) + [f"stored by user {o}" for o in holders]
        why = (
            f"the customer map contradicts itself or the database (lines {', '.join(map(str, lines))}: "
            f"{', '.join(who)}): nothing guessed, a person corrects it"
        )
        decisions[user_id] = Decision(None, why)
        notes.append(f"user {user_id}: {why}")
    return mapped, decisions, notes


def _user_of(row: MapRow, users: Sequence[User]) -> tuple[str | None, str]:
    """The one user a row names, or why it names none (or several)."""
    if not row.names:
        return None, "names no user"
    found: set[str] = set()
    for by, value in row.names:
        if by is Names.USER:
            matches = [u.id for u in users if u.id == value]
        elif by is Names.EMAIL:
            matches = [u.id for u in users if u.email and _fold(u.email) == _fold(value)]
        else:
            matches = [u.id for u in users if u.stripe_id == value]
        if not matches:
            return None, f"no user has {by.value} {value}"
        if len(matches) > 1:
            return None, f"{by.value} {value} is several users' ({', '.join(matches)}): name one by user_id"
        found.update(matches)
    if len(found) > 1:
        return None, f"its columns name different users ({', '.join(sorted(found))})"
    return found.pop(), ""


def _customer_problem(row: MapRow, account: Account, user_id: str | None) -> str:
    if not row.customer:
        return "no customer id"
    customer = account.find(Kind.USER, row.customer)
    if customer is None:
        return f"customer {row.customer} is not in this Stripe account"
    if customer.link and customer.link != user_id:
        return f"customer {row.customer} is linked to user {customer.link} in Stripe"
    return ""


def _email(customer: Remote) -> str | None:
    return dict(customer.details).get("email")


def _fold(email: str | None) -> str:
    return (email or "").strip().casefold()


def _group(items: Iterable[T], key: Callable[[T], str | None]) -> dict[str, list[T]]:
    """Items by a key; those without one are left out."""
    grouped: dict[str, list[T]] = {}
    for item in items:
        found = key(item)
        if found:
            grouped.setdefault(found, []).append(item)
    return grouped
