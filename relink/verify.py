"""A read-only audit: does every stored id name the right object, and does it bill right?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .account import LINK_KEYS, Account, Remote
from .billing import InvalidLease, Mode, contract_price, terms_for
from .money import format_minor
from .problems import Drift
from .rows import Kind, Lease, Rows, User, room_labels


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    row_id: str | None  # None for an object no row links to
    label: str
    problem: str
    drift: Drift


Issue = tuple[Drift, str]


def _link_problem(kind: Kind, row_id: str, stored: str | None, account: Account) -> tuple[Remote | None, Issue | None]:
    if not stored:
        return None, (Drift.NOT_LINKED, "not linked: no Stripe id stored")
    remote = account.find(kind, stored)
    if remote is None:
        other = next((k for k in Kind if k is not kind and account.find(k, stored)), None)
        if other is not None:
            return None, (
                Drift.WRONG_KIND,
                f"stored id {stored} is a {other.singular} object, not a {kind.singular} one",
            )
        return None, (Drift.MISSING, f"stored id {stored} is not in the account")
    if remote.link != row_id:
        owner = f"points back to {remote.link}" if remote.link else f"has no {LINK_KEYS[kind]} metadata"
        return None, (Drift.LINKED_ELSEWHERE, f"stored id {stored} {owner}")
    return remote, None


def _lease_problems(
    lease: Lease,
    remote: Remote,
    customers: Mapping[str, str | None],
    products: Mapping[str, str | None],
    hubs: Mapping[str, str],
    now: datetime,
) -> list[Issue]:
    problems = []
    if lease.user_id and customers.get(lease.user_id) and remote.customer != customers[lease.user_id]:
        problems.append(
            (
                Drift.WRONG_CUSTOMER,
                f"bills customer {remote.customer}, but user {lease.user_id} is {customers[lease.user_id]}",
            )
        )
    if lease.room_id and products.get(lease.room_id) and remote.product != products[lease.room_id]:
        problems.append(
            (
                Drift.WRONG_PRODUCT,
                f"is for product {remote.product}, but room {lease.room_id} is {products[lease.room_id]}",
            )
        )
    expected = contract_price(lease, hubs)
    if expected is not None:
        amount, currency = expected
        if remote.currency != currency:
            problems.append(
                (
                    Drift.WRONG_CURRENCY,
                    f"bills in {str(remote.currency).upper()}, the lease's hub in {currency.upper()}",
                )
            )
        if remote.amount != amount:
            billed = format_minor(remote.amount or 0, remote.currency or currency)
            problems.append((Drift.WRONG_AMOUNT, f"bills {billed} a month, the lease {format_minor(amount, currency)}"))
    try:
        ended = terms_for(lease, now).mode is Mode.ENDED
    except InvalidLease:
        ended = None
    if ended is True and remote.status != "canceled":
        problems.append((Drift.NOT_CANCELLED, f"the lease is over but its subscription is {remote.status}"))
    if ended is False and remote.status == "canceled":
        problems.append((Drift.CANCELLED_EARLY, "the lease is ongoing but its subscription is canceled"))
    return problems


def audit(rows: Rows, account: Account, hubs: Mapping[str, str], now: datetime) -> list[Finding]:
    findings: list[Finding] = []
    linked: set[str] = set()
    rooms = room_labels(rows.rooms)
    for kind, items in ((Kind.USER, rows.users), (Kind.ROOM, rows.rooms)):
        for row in items:
            remote, problem = _link_problem(kind, row.id, row.stripe_id, account)
            if problem:
                label = row.email if isinstance(row, User) else rooms[row.id]
                findings.append(Finding(kind, row.id, label or row.id, problem[1], problem[0]))
            elif remote:
                linked.add(remote.id)
    customers = {u.id: u.stripe_id for u in rows.users}
    products = {r.id: r.stripe_id for r in rows.rooms}
    for lease in rows.leases:
        remote, problem = _link_problem(Kind.LEASE, lease.id, lease.stripe_id, account)
        label = lease.name or lease.id
        if problem:
            findings.append(Finding(Kind.LEASE, lease.id, label, problem[1], problem[0]))
            continue
        assert remote is not None
        linked.add(remote.id)
        for drift, issue in _lease_problems(lease, remote, customers, products, hubs, now):
            findings.append(Finding(Kind.LEASE, lease.id, label, f"subscription {remote.id} {issue}", drift))
    for kind in Kind:
        for remote in account.by_id[kind].values():
            if remote.link and remote.id not in linked:
                findings.append(
                    Finding(
                        kind,
                        None,
                        remote.id,
                        f"{remote.id} carries {LINK_KEYS[kind]}={remote.link} but no row stores it",
                        Drift.UNCLAIMED,
                    )
                )
    return findings
