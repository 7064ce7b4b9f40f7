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


Present = dict[str, tuple[str, int | None]]  # column (lower case) -> (its name, its character width)


def index_columns(columns: Iterable[tuple[str, str, int | None]]) -> tuple[dict[str, str], dict[str, Present]]:
    """(table, column, max length) rows from information_schema → table names and columns, by lower-case name."""
    table_names: dict[str, str] = {}
    found: dict[str, Present] = {}
    for table, column, width in columns:
        table_names[table.lower()] = table
        found.setdefault(table.lower(), {})[column.lower()] = (column, width)
    return table_names, found


def pick(
    present: Present, table: str, required: dict[str, tuple[str, ...]], optional: dict[str, tuple[str, ...]]
) -> tuple[Present, list[str]]:
    """field -> (column, width) for the fields a table has, and a line for each required one it lacks."""
    mapping: Present = {}
    problems: list[str] = []
    for field, names in (required | optional).items():
        hit = next((present[n.lower()] for n in names if n.lower() in present), None)
        if hit is not None:
            mapping[field] = hit
        elif field in required:
            problems.append(f"column `{table}`.`{' or '.join(names)}` is missing")
    return mapping, problems


def resolve(columns: Iterable[tuple[str, str, int | None]]) -> Schema:
    """Build the schema from (table, column, max length) rows, or say what is missing."""
    table_names, found = index_columns(columns)
    problems: list[str] = []
    tables: dict[Kind, Table] = {}
    for kind in Kind:
        present = found.get(kind.value)
        if present is None:
            problems.append(f"table `{kind.value}` is missing")
            continue
        picked, missing = pick(present, kind.value, REQUIRED[kind], OPTIONAL[kind])
        problems += missing
        mapping = {field: column for field, (column, _) in picked.items()}
        if kind is Kind.ROOM and "base_rent" not in mapping and "rent" not in mapping:
            problems.append("column `rooms`.`baseRent` or `rent` is missing (a room needs a price)")
        id_width = picked["stripe_id"][1] if "stripe_id" in picked else None
        tables[kind] = Table(table_names[kind.value], mapping, id_width)
    if problems:
        raise SchemaError("the database does not have the expected schema: " + "; ".join(problems))
    return Schema(tables)
