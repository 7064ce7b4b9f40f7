"""The money of every lease and room as a reviewer checks it: amounts in major units with their currency, and dates.

Built with the same rules the plan and --verify use (billing.terms_for,
contract_price, plan.room_price), so what the report says is what the sync does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cohabs.shared.money import InvalidAmount, to_major, to_minor
from cohabs.sync.billing import InvalidLease, Method, Mode, contract_price, terms_for
from cohabs.sync.plan import room_currencies, room_price
from cohabs.sync.rows import Lease, Room, Rows, room_labels


class Schedule(StrEnum):
    """What a lease's subscription does with money."""

    MONTHLY = "billed monthly"  # free until its first charge, then monthly
    FREE_UNTIL_END = "free until it ends"  # ongoing, but over before its next rent date
    NEVER = "cancelled, never billed"  # the lease is over
    NOT_BILLED = "not billed"  # the row cannot be billed as it stands (see its line)


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else ""


@dataclass(frozen=True, slots=True)
class LeaseMoney:
    lease_id: str
    label: str
    status: str | None
    amount: Decimal | None  # major units
    currency: str | None  # ISO code, upper case
    schedule: Schedule
    start: datetime | None
    end: datetime | None
    free_until: datetime | None = None
    first_charge: datetime | None = None
    cancel_at: datetime | None = None
    why: str = ""

    @property
    def money(self) -> str:
        if self.amount is None:
            return "no amount"
        return f"{self.amount:,} {self.currency or '(no currency)'}"

    @property
    def dates(self) -> str:
        return f"lease {_day(self.start) or '?'} to {_day(self.end) or '?'}"

    def does(self) -> str:
        """What the subscription does, in words a manager signs off."""
        if self.schedule is Schedule.MONTHLY:
            until = f" until {_day(self.cancel_at)}" if self.cancel_at else ""
            return f"free until {_day(self.free_until)}, then billed monthly from {_day(self.first_charge)}{until}"
        if self.schedule is Schedule.FREE_UNTIL_END:
            return f"free until {_day(self.free_until)}, then cancelled: never billed"
        if self.schedule is Schedule.NEVER:
            return f"cancelled at once, never billed ({self.why})"
        return f"not billed: {self.why}"


@dataclass(frozen=True, slots=True)
class RoomPrice:
    room_id: str
    label: str
    amount: Decimal | None  # major units
    currency: str  # ISO code, upper case
    source: str | None  # "baseRent" or "rent"; None when both are empty

    @property
    def money(self) -> str:
        return f"{self.amount:,} {self.currency}" if self.amount is not None else "no price"


def lease_money(lease: Lease, hubs: Mapping[str, str], now: datetime) -> LeaseMoney:
    label = lease.name or lease.id
    price = contract_price(lease, hubs)
    currency = hubs.get(lease.hub_id or "")
    amount = to_major(*price) if price else lease.rent_amount
    base = LeaseMoney(
        lease.id,
        label,
        lease.status,
        amount,
        currency.upper() if currency else None,
        Schedule.NOT_BILLED,
        lease.start,
        lease.end,
    )
    if currency is None:
        return replace(base, why=f"unknown hub {lease.hub_id!r}")
    if price is None:
        return replace(base, why="the amount cannot be billed")
    try:
        terms = terms_for(lease, now)
    except InvalidLease as exc:
        return replace(base, why=str(exc))
    if terms.mode is Mode.ENDED:
        return replace(base, schedule=Schedule.NEVER, why=terms.why)
    schedule = Schedule.MONTHLY if terms.first_charge else Schedule.FREE_UNTIL_END
    return replace(
        base,
        schedule=schedule,
        free_until=terms.trial_end,
        first_charge=terms.first_charge,
        cancel_at=terms.cancel_at,
        why=terms.why,
    )


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str
    monthly: int  # leases billed monthly
    per_month: Decimal  # what they bill a month, together
    free_until_end: int
    never: int
    invoiced: int = 0  # of the monthly ones, invoiced by email (send_invoice); the others are charged automatically


@dataclass
class Ledger:
    leases: dict[str, LeaseMoney] = field(default_factory=dict)
    rooms: dict[str, RoomPrice] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Rows, hubs: Mapping[str, str], default_currency: str, now: datetime) -> Ledger:
        currencies, _ = room_currencies(rows.leases, hubs, default_currency)
        labels = room_labels(rows.rooms)
        return cls(
            leases={lease.id: lease_money(lease, hubs, now) for lease in rows.leases},
            rooms={
                room.id: _room(room, labels[room.id], currencies.get(room.id, default_currency)) for room in rows.rooms
            },
        )

    def totals(self, lease_ids: Iterable[str], methods: Mapping[str, Method] | None = None) -> list[CurrencyTotal]:
        """Per currency: how many leases bill monthly and for how much, and how many never bill.

        `methods`: how each lease's subscription collects, when known (readiness.py).
        """
        methods = methods or {}
        found: dict[str, list[LeaseMoney]] = {}
        for lease_id in lease_ids:
            money = self.leases.get(lease_id)
            if money is not None and money.currency and money.schedule is not Schedule.NOT_BILLED:
                found.setdefault(money.currency, []).append(money)
        return [
            CurrencyTotal(
                currency,
                monthly=sum(1 for m in items if m.schedule is Schedule.MONTHLY),
                per_month=sum(
                    (m.amount or Decimal(0) for m in items if m.schedule is Schedule.MONTHLY),
                    start=to_major(0, currency),
                ),
                free_until_end=sum(1 for m in items if m.schedule is Schedule.FREE_UNTIL_END),
                never=sum(1 for m in items if m.schedule is Schedule.NEVER),
                invoiced=sum(
                    1 for m in items if m.schedule is Schedule.MONTHLY and methods.get(m.lease_id) is Method.INVOICE
                ),
            )
            for currency, items in sorted(found.items())
        ]


def describe_total(total: CurrencyTotal) -> str:
    parts = []
    if total.monthly:
        how = f" ({total.monthly - total.invoiced} charged automatically, {total.invoiced} invoiced by email)"
        parts.append(
            f"{total.monthly} lease(s) billed monthly, {total.per_month:,} {total.currency} a month together{how}"
        )
    if total.free_until_end:
        parts.append(f"{total.free_until_end} free until they end, never billed")
    if total.never:
        parts.append(f"{total.never} cancelled at once, never billed")
    return f"{total.currency}: " + "; ".join(parts)


def _room(room: Room, label: str, currency: str) -> RoomPrice:
    price, source = room_price(room)
    if price is None:
        return RoomPrice(room.id, label, None, currency.upper(), None)
    try:
        amount = to_major(to_minor(price, currency), currency)
    except InvalidAmount:
        amount = price
    return RoomPrice(room.id, label, amount, currency.upper(), source)
