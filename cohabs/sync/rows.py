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


def room_label(room: Room) -> str:
    """What people call a room: its number and where it is in the house."""
    base = f"room {room.number}" if room.number is not None else f"room {room.id}"
    return f"{base}, {room.location}" if room.location else base


def room_labels(rooms: list[Room]) -> dict[str, str]:
    """A label per room id that no other room shares: where number and place repeat, the id's start is added."""
    bases = {room.id: room_label(room) for room in rooms}
    groups: dict[str, list[str]] = {}
    for rid, label in bases.items():
        groups.setdefault(label, []).append(rid)
    labels = dict(bases)
    for label, ids in groups.items():
        if len(ids) > 1:
            longest = max(map(len, ids))
            size = next((n for n in range(6, longest) if len({i[:n] for i in ids}) == len(ids)), longest)
            labels.update({rid: f"{label} #{rid[:size]}" for rid in ids})
    return labels
