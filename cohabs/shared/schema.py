"""Which columns hold what: tables as information_schema spells them, picked by the names each job accepts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # field -> column name
    id_width: int | None  # longest Stripe id the link column can hold; None when it is not a text column

    def column(self, field: str) -> str | None:
        return self.columns.get(field)


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
