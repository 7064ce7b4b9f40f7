"""Which columns hold what, read from information_schema, never assumed."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from cohabs.shared.errors import SchemaError
from cohabs.sync.kinds import KINDS
from cohabs.sync.rows import Kind


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # field -> column name
    id_width: int | None  # longest Stripe id the link column can hold; None when it is not a text column

    def column(self, field: str) -> str | None:
        return self.columns.get(field)


@dataclass(frozen=True)
class Schema:
    tables: dict[Kind, Table]

    def __getitem__(self, kind: Kind) -> Table:
        return self.tables[kind]


Present = dict[str, tuple[str, int | None]]  # column (lower case) -> (column as spelt, max length)


def index_columns(columns: Iterable[tuple[str, str, int | None]]) -> dict[str, dict[str, Present]]:
    """(table, column, max length) rows → table name (lower case) → table as spelt → its columns."""
    found: dict[str, dict[str, Present]] = {}
    for table, column, width in columns:
        found.setdefault(table.lower(), {}).setdefault(table, {})[column.lower()] = (column, width)
    return found


def case_twins(name: str, candidates: Mapping[str, Present]) -> str | None:
    """What is wrong when several tables answer to one name: their columns and rows are not one table's."""
    if len(candidates) <= 1:
        return None
    spelt = " and ".join(f"`{table}`" for table in sorted(candidates))
    return (
        f"tables {spelt} both answer to `{name}` (this server tells names apart by case), so which "
        "one holds the data is a guess: rename or drop the other one"
    )


def pick(
    present: Present, table: str, required: Mapping[str, tuple[str, ...]], optional: Mapping[str, tuple[str, ...]]
) -> tuple[Present, list[str]]:
    """field -> (column, max length) for the fields a table has, and a line for each required one it lacks."""
    mapping: Present = {}
    problems: list[str] = []
    for field, names in {**required, **optional}.items():
        hit = next((present[n.lower()] for n in names if n.lower() in present), None)
        if hit is not None:
            mapping[field] = hit
        elif field in required:
            problems.append(f"column `{table}`.`{' or '.join(names)}` is missing")
    return mapping, problems


def resolve(columns: Iterable[tuple[str, str, int | None]], tables: Iterable[str] = ()) -> Schema:
    """Build the schema from (table, column, max length) rows, or say what is missing.

    `tables` names every table and view there is, columns or not.
    """
    present_names = {name.lower(): name for name in tables}
    found = index_columns(columns)
    problems: list[str] = []
    schema: dict[Kind, Table] = {}
    for kind in Kind:
        candidates = found.get(kind.value)
        if not candidates and kind.value in present_names:
            problems.append(
                f"MySQL lists no columns for `{present_names[kind.value]}` (a view that refers to tables or columns "
                "that are gone?): recreate it, or restore the table"
            )
            continue
        if not candidates:
            problems.append(f"table `{kind.value}` is missing")
            continue
        twins = case_twins(kind.value, candidates)
        if twins:
            problems.append(twins)  # never merged: their columns and rows are not one table's
            continue
        ((name, present),) = candidates.items()
        description = KINDS[kind]
        required = {**description.columns, "stripe_id": description.id_columns}
        picked, missing = pick(present, name, required, description.optional)
        problems += missing
        mapping = {field: column for field, (column, _) in picked.items()}
        id_width = picked["stripe_id"][1] if "stripe_id" in picked else None
        if kind is Kind.ROOM and "base_rent" not in mapping and "rent" not in mapping:
            problems.append(f"column `{name}`.`baseRent` or `rent` is missing (a room needs a price)")
        schema[kind] = Table(name, mapping, id_width)
    if problems:
        raise SchemaError("the database does not have the expected schema: " + "; ".join(problems))
    return Schema(schema)


def check_id_columns(schema: Schema, kinds: Collection[Kind], issued: Mapping[Kind, Iterable[str]]) -> None:
    """Stop before any Stripe write when an id column cannot hold the ids the account issues for its kind."""
    problems = []
    for kind in Kind:
        if kind not in kinds:
            continue
        table = schema[kind]
        column = f"`{table.name}`.`{table.columns['stripe_id']}`"
        floor = KINDS[kind].id_length
        need = max([floor, *(len(i) for i in issued.get(kind, ()))])
        if table.id_width is None:
            problems.append(f"{column} is not a text column, so it cannot hold Stripe ids")
        elif table.id_width < need:
            problems.append(
                f"{column} holds {table.id_width} characters, but {kind.singular} ids need {need} "
                f"(Stripe issues {floor}; the longest in the account is taken into account too)"
            )
    if problems:
        raise SchemaError(
            "; ".join(problems) + ": widen it (for example varchar(255)), then rerun; nothing was sent to Stripe"
        )
