"""The payment tables in MySQL: their columns from information_schema, their rows, the one row support adds.

Every value travels as a query parameter; table and column names come only
from information_schema and are quoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from cohabs.shared.errors import SchemaError
from cohabs.shared.mysql import Connection, columns, decimal, quote, select, text, when
from cohabs.shared.schema import Present, Table, case_twins, index_columns, pick
from cohabs.support.rows import House, Lease, NewPayment, Payment, PaymentRows, stripe_id

REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "houses": {"id": ("id",), "name": ("name",), "account_id": ("stripeAccountId",)},
    "leases": {"id": ("id",), "start": ("startDate",), "end": ("endDate",), "house_id": ("houseId",)},
    "payments": {
        "id": ("id",),
        "amount": ("amount",),
        "paid": ("paid",),
        "pending": ("pending",),
        "disputed": ("disputed",),
        "due": ("dueDate",),
        "charge_id": ("stripeChargeId",),
        "lease_id": ("leaseId",),
        "comment": ("comment",),
    },
}
OPTIONAL: dict[str, dict[str, tuple[str, ...]]] = {
    "houses": {"active": ("active",), "deleted": ("deleted",)},
    "leases": {"rent_amount": ("rentAmount",), "status": ("status",)},
    "payments": {
        "invoice_id": ("stripeInvoiceId",),
        "payment_date": ("paymentDate",),
        "retries": ("retries",),
        "created": ("createdAt",),
        "updated": ("updatedAt",),
    },
}
# A derived payments.id shorter than this could meet another row's id by chance.
MIN_ID_WIDTH = 16
MIN_INTENT_WIDTH = 27  # pi_ and 24 characters: the ids Stripe issues for PaymentIntents


@dataclass(frozen=True)
class Tables:
    names: dict[str, str]  # houses/leases/payments -> the table's name in this database
    fields: dict[str, Present]  # table -> field -> (column, width)
    payment_columns: tuple[str, ...]  # every column of payments, copied as is into a new row

    def column(self, table: str, field: str) -> str | None:
        hit = self.fields[table].get(field)
        return hit[0] if hit else None

    def width(self, table: str, field: str) -> int | None:
        hit = self.fields[table].get(field)
        return hit[1] if hit else None

    def table(self, table: str) -> Table:
        return Table(self.names[table], {f: c for f, (c, _) in self.fields[table].items()}, None)


def read_tables(conn: Connection) -> Tables:
    """The three tables' columns, or a SchemaError naming every problem at once, before any Stripe call."""
    found = index_columns(columns(conn))
    problems: list[str] = []
    names: dict[str, str] = {}
    fields: dict[str, Present] = {}
    every: dict[str, Present] = {}
    for table in REQUIRED:
        candidates = found.get(table)
        twins = case_twins(table, candidates or {})
        if not candidates or twins:
            problems.append(twins or f"table `{table}` is missing")
            continue
        ((names[table], every[table]),) = candidates.items()
        fields[table], missing = pick(every[table], names[table], REQUIRED[table], OPTIONAL[table])
        problems += missing
    if not problems:
        problems += _narrow(fields["payments"])
    if problems:
        raise SchemaError("the database does not have the payment tables support needs: " + "; ".join(problems))
    payment_columns = tuple(column for column, _ in every["payments"].values())
    return Tables(names, fields, payment_columns)


def _narrow(payments: Present) -> list[str]:
    """Columns the new row could not fill: checked before a request exists that no row could record."""
    problems = []
    (id_column, id_width), (charge_column, charge_width) = payments["id"], payments["charge_id"]
    if id_width is not None and id_width < MIN_ID_WIDTH:
        problems.append(f"`payments`.`{id_column}` holds {id_width} characters: too few for a derived payment id")
    if charge_width is None or charge_width < MIN_INTENT_WIDTH:
        held = "is not a text column" if charge_width is None else f"holds {charge_width} characters"
        problems.append(
            f"`payments`.`{charge_column}` {held}, but a PaymentIntent id needs {MIN_INTENT_WIDTH}: "
            "widen it (for example varchar(255)), then rerun"
        )
    return problems


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


def load(conn: Connection, tables: Tables) -> PaymentRows:
    houses = [
        House(
            id=str(r["id"]),
            name=text(r["name"]) or str(r["id"]),
            active=_flag(r.get("active"), True),
            deleted=_flag(r.get("deleted"), False),
            account_id=stripe_id(text(r["account_id"])),
        )
        for r in select(conn, tables.table("houses"))
    ]
    leases = [
        Lease(
            id=str(r["id"]),
            start=when(r["start"]),
            end=when(r["end"]),
            rent_amount=decimal(r.get("rent_amount")),
            house_id=text(r["house_id"]),
            status=text(r.get("status")),
        )
        for r in select(conn, tables.table("leases"))
    ]
    payments = [
        Payment(
            id=str(r["id"]),
            amount=decimal(r["amount"]),
            paid=decimal(r["paid"]),
            pending=_flag(r["pending"], False),
            disputed=_flag(r["disputed"], False),
            due=when(r["due"]),
            charge_id=stripe_id(text(r["charge_id"])),
            invoice_id=stripe_id(text(r.get("invoice_id"))),
            lease_id=text(r["lease_id"]),
            comment=text(r["comment"]),
        )
        for r in select(conn, tables.table("payments"))
    ]
    return PaymentRows(houses, leases, payments)


def _values(new: NewPayment, charge_id: str, due: datetime, now: datetime) -> dict[str, Any]:
    """field -> value; every other column is copied from the disputed row."""
    return {
        "id": new.id,
        "amount": new.amount,
        "paid": Decimal("0.00"),
        "pending": 1,
        "disputed": 0,
        "due": due,
        "charge_id": charge_id,
        "comment": new.comment,
        "payment_date": None,  # not paid yet
        "retries": 0,
        "created": now,
        "updated": now,
    }


class RowConflict(Exception):
    """The new row cannot be written as planned (its source vanished, or a value does not fit)."""


def insert_copy(
    conn: Connection, tables: Tables, new: NewPayment, *, charge_id: str, due: datetime, now: datetime
) -> bool:
    """Insert `new` as a copy of its source row, in one transaction; False if a row with its id exists already."""
    for field, value in (("id", new.id), ("charge_id", charge_id), ("comment", new.comment)):
        width = tables.width("payments", field)
        if width is not None and len(value) > width:
            raise RowConflict(
                f"{value} does not fit `payments`.`{tables.column('payments', field)}` (varchar({width}))"
            )
    overrides = {
        column: value
        for field, value in _values(new, charge_id, due, now).items()
        if (column := tables.column("payments", field)) is not None
    }
    copied = tables.payment_columns
    table = quote(tables.names["payments"])
    key = quote(tables.column("payments", "id") or "id")
    conn.begin()
    try:
        with conn.cursor() as cur:
            # The row lock (or gap lock) makes a concurrent copy wait here rather than race.
            cur.execute(f"SELECT 1 FROM {table} WHERE {key} = %s FOR UPDATE", [new.id])  # noqa: S608 (schema names)
            if cur.fetchone():
                conn.rollback()
                return False
            inserted = cur.execute(
                f"INSERT INTO {table} ({', '.join(quote(c) for c in copied)}) "  # noqa: S608 (schema names)
                f"SELECT {', '.join('%s' if c in overrides else quote(c) for c in copied)} FROM {table} WHERE {key} = %s",
                [overrides[c] for c in copied if c in overrides] + [new.source_id],
            )
            if inserted != 1:
                raise RowConflict(f"payment {new.source_id} is no longer in `payments`: nothing to copy")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return True
