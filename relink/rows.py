"""The rows the sync reads: only the columns it needs, never passwords or salts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Kind(StrEnum):
    USER = "users"
    ROOM = "rooms"
    LEASE = "leases"

    @property
    def singular(self) -> str:
        return self.value[:-1]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    address: str | None
    stripe_id: str | None


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    number: int | None
    location: str | None
    description: str | None
    base_rent: Decimal | None
    rent: Decimal | None
    stripe_id: str | None


@dataclass(frozen=True, slots=True)
class Lease:
    id: str
    name: str | None
    user_id: str | None
    room_id: str | None
    hub_id: str | None
    status: str | None
    rent_amount: Decimal | None
    start: datetime | None
    end: datetime | None
    stripe_id: str | None


@dataclass(frozen=True, slots=True)
class Rows:
    users: list[User]
    rooms: list[Room]
    leases: list[Lease]
