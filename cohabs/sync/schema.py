"""The sync's tables: which columns hold what, read from information_schema, never assumed."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from cohabs.shared.errors import SchemaError
from cohabs.shared.schema import Table, case_twins, index_columns, pick
from cohabs.sync.kinds import KINDS
from cohabs.sync.rows import Kind


@dataclass(frozen=True)
class Schema:
    tables: dict[Kind, Table]

    def __getitem__(self, kind: Kind) -> Table:
        return self.tables[kind]


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
