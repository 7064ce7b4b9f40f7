"""Which columns hold what, read from information_schema, never assumed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import SchemaError
from .rows import Kind

# field -> accepted column names. The lease column was misspelt in the brief
# users were given (stripeSubscritpionId); either spelling is accepted.
REQUIRED: dict[Kind, dict[str, tuple[str, ...]]] = {
    Kind.USER: {"id": ("id",), "email": ("email",), "stripe_id": ("stripeCustomerId",)},
    Kind.ROOM: {"id": ("id",), "stripe_id": ("stripeProductId",)},
    Kind.LEASE: {
        "id": ("id",),
        "user_id": ("userId",),
        "room_id": ("roomId",),
        "hub_id": ("hubId",),
        "status": ("status",),
        "rent_amount": ("rentAmount",),
        "start": ("startDate",),
        "end": ("endDate",),
        "stripe_id": ("stripeSubscriptionId", "stripeSubscritpionId"),
    },
}
OPTIONAL: dict[Kind, dict[str, tuple[str, ...]]] = {
    Kind.USER: {
        "first_name": ("firstName",),
        "last_name": ("lastName",),
        "phone": ("phoneNumber",),
        "address": ("address",),
    },
    Kind.ROOM: {
        "number": ("number",),
        "location": ("location",),
        "description": ("description",),
        "base_rent": ("baseRent",),
        "rent": ("rent",),
    },
    Kind.LEASE: {"name": ("name",)},
}


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # field -> column name
    id_width: int | None  # longest Stripe id the link column can hold

    def column(self, field: str) -> str | None:
        return self.columns.get(field)


@dataclass(frozen=True)
class Schema:
    tables: dict[Kind, Table]

    def __getitem__(self, kind: Kind) -> Table:
        return self.tables[kind]


def resolve(columns: Iterable[tuple[str, str, int | None]]) -> Schema:
    """Build the schema from (table, column, max length) rows, or say what is missing."""
    table_names: dict[str, str] = {}
    found: dict[str, dict[str, tuple[str, int | None]]] = {}
    for table, column, width in columns:
        table_names[table.lower()] = table
        found.setdefault(table.lower(), {})[column.lower()] = (column, width)
    problems: list[str] = []
    tables: dict[Kind, Table] = {}
    for kind in Kind:
        present = found.get(kind.value)
        if present is None:
            problems.append(f"table `{kind.value}` is missing")
            continue
        mapping: dict[str, str] = {}
        id_width: int | None = None
        for field, names in (REQUIRED[kind] | OPTIONAL[kind]).items():
            hit = next((present[n.lower()] for n in names if n.lower() in present), None)
            if hit is not None:
                mapping[field] = hit[0]
                if field == "stripe_id":
                    id_width = hit[1]
            elif field in REQUIRED[kind]:
                problems.append(f"column `{kind.value}`.`{' or '.join(names)}` is missing")
        if kind is Kind.ROOM and "base_rent" not in mapping and "rent" not in mapping:
            problems.append("column `rooms`.`baseRent` or `rent` is missing (a room needs a price)")
        tables[kind] = Table(table_names[kind.value], mapping, id_width)
    if problems:
        raise SchemaError("the database does not have the expected schema: " + "; ".join(problems))
    return Schema(tables)
