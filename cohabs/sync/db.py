"""The sync's rows in MySQL: its tables' schema, the rows it links, and the ids it writes back.

Connecting, locking and converting values are shared (cohabs.shared.mysql);
table and column names come only from information_schema (see schema.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import pymysql

from cohabs.shared.errors import SchemaError, WriteRefused
from cohabs.shared.mysql import (
    Connection,
    Pool,
    columns,
    connection_lost,
    decimal,
    mysql_said,
    quote,
    select,
    text,
    when,
)
from cohabs.sync.rows import Kind, Lease, Room, Rows, User
from cohabs.sync.schema import Schema, resolve

LOCK = "cohabs-relink"  # the MySQL lock a sync holds on its database (its name predates the split)
# How the sync's database is made when it does not exist (shared/mysql.connect says it).
RESTORE = "restore the dump first: ./restore_dump.sh path/to/cohabs_onboarding.dump (into DB_NAME)"


def read_schema(conn: Connection) -> Schema:
    ours = {k.value for k in Kind}
    found = [c for c in columns(conn) if c[0].lower() in ours]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) IN (%s, %s, %s)",
            [k.value for k in Kind],
        )
        return resolve(found, [name for (name,) in cur.fetchall()])


def check_writable(conn: Connection, schema: Schema, kinds: Collection[Kind]) -> None:
    """Stop before any Stripe write when a table the sync writes refuses its ids.

    A no-op UPDATE (`WHERE 1 = 0`) meets every check MySQL makes before it
    changes a row (a view that cannot be updated, a computed column, a missing
    UPDATE privilege on the table or the column) and changes nothing.
    """
    problems = []
    for kind in Kind:
        if kind not in kinds:
            continue
        table = schema[kind]
        column = quote(table.columns["stripe_id"])
        try:
            with conn.cursor() as cur:
                cur.execute(f"UPDATE {quote(table.name)} SET {column} = {column} WHERE 1 = 0")  # noqa: S608
        except pymysql.err.Error as exc:
            if connection_lost(exc):
                raise
            problems.append(f"`{table.name}`.`{table.columns['stripe_id']}` cannot be written ({mysql_said(exc)})")
    if problems:
        raise SchemaError("; ".join(problems) + " (nothing was sent to Stripe)")


def load_rows(conn: Connection, schema: Schema) -> Rows:
    users = [
        User(
            id=str(r["id"]),
            email=text(r["email"]),
            first_name=text(r.get("first_name")),
            last_name=text(r.get("last_name")),
            phone=text(r.get("phone")),
            address=text(r.get("address")),
            stripe_id=text(r["stripe_id"]),
        )
        for r in select(conn, schema[Kind.USER])
    ]
    rooms = [
        Room(
            id=str(r["id"]),
            number=r.get("number"),
            location=text(r.get("location")),
            description=text(r.get("description")),
            base_rent=decimal(r.get("base_rent")),
            rent=decimal(r.get("rent")),
            stripe_id=text(r["stripe_id"]),
        )
        for r in select(conn, schema[Kind.ROOM])
    ]
    leases = [
        Lease(
            id=str(r["id"]),
            name=text(r.get("name")),
            user_id=text(r["user_id"]),
            room_id=text(r["room_id"]),
            hub_id=text(r["hub_id"]),
            status=text(r["status"]),
            rent_amount=decimal(r["rent_amount"]),
            start=when(r["start"]),
            end=when(r["end"]),
            stripe_id=text(r["stripe_id"]),
        )
        for r in select(conn, schema[Kind.LEASE])
    ]
    return Rows(users, rooms, leases)


class IdWriter:
    """Writes Stripe ids into their rows from any thread, each write on a connection of a shared pool."""

    def __init__(self, connect: Callable[[], Connection], schema: Schema, size: int = 8) -> None:
        self._pool = Pool(connect, size)
        self._schema = schema

    def write(self, kind: Kind, row_id: str, stripe_id: str) -> None:
        """Store one id; WriteRefused when MySQL refuses this row, pymysql's error when the connection is gone."""
        table = self._schema[kind]
        if table.id_width is not None and len(stripe_id) > table.id_width:
            raise WriteRefused(
                f"{stripe_id} is longer than `{table.name}`.`{table.columns['stripe_id']}` "
                f"(varchar({table.id_width})); widen the column and rerun"
            )
        sql = (
            f"UPDATE {quote(table.name)} SET {quote(table.columns['stripe_id'])} = %s "  # noqa: S608 (schema names)
            f"WHERE {quote(table.columns['id'])} = %s"
        )
        with self._pool.borrow() as conn:
            try:
                with conn.cursor() as cur:
                    matched = cur.execute(sql, [stripe_id, row_id])
            except pymysql.err.Error as exc:
                if connection_lost(exc):
                    raise
                raise WriteRefused(f"MySQL refused the write: {mysql_said(exc)}") from None
        if matched == 0:
            raise WriteRefused(f"row {row_id} is no longer in `{table.name}`")

    def close(self) -> None:
        self._pool.close()


def diagnose(conn: Connection, schema: Schema, kind: Kind, values: set[str]) -> dict[tuple[Kind, str], str]:
    """Say what a dangling reference matches in the target table's other unique columns.

    Only says; never acts: which row was meant is the operator's call.
    """
    table = schema[kind]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND NON_UNIQUE = 0",
            [table.name],
        )
        indexes: dict[str, list[str]] = {}
        for index, column in cur.fetchall():
            indexes.setdefault(index, []).append(column)
    columns = [cols[0] for cols in indexes.values() if len(cols) == 1 and cols[0] != table.columns["id"]]
    hints: dict[tuple[Kind, str], str] = {}
    for value in sorted(values):
        checked = ", ".join(f"{table.name}.{c}" for c in columns)
        hint = (
            f"no match in {checked} either"
            if columns
            else f"no other column of {table.name} is unique, so nothing suggests which {kind.singular} was meant"
        )
        for column in columns:
            with conn.cursor() as cur:
                cur.execute(
                    f"SELECT {quote(table.columns['id'])} FROM {quote(table.name)} "  # noqa: S608 (schema names)
                    f"WHERE {quote(column)} = %s LIMIT 1",
                    [value],
                )
                row = cur.fetchone()
            if row:
                hint = f"matches {table.name}.{column} of {kind.singular} {row[0]}"
                break
        hints[(kind, value)] = hint
    return hints
