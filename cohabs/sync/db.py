"""MySQL access: connect, introspect, read rows, lock the run, write ids back.

Every value travels as a query parameter; table and column names come only
from information_schema (see schema.py) and are quoted.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from cohabs.shared.errors import CannotRun, LockedError, SchemaError, WriteRefused, connection_lost, mysql_said
from cohabs.shared.settings import Settings
from cohabs.sync.rows import Kind, Lease, Room, Rows, User
from cohabs.sync.schema import Schema, Table, resolve

Connection = pymysql.connections.Connection
# Client-side codes for a server that never answered: refused, unknown host, gone, lost in the handshake.
UNREACHABLE = frozenset({2002, 2003, 2005, 2006, 2013})
BUSY = frozenset({1040, 1203, 1226})  # too many connections, per user, or over a resource limit


def connect(settings: Settings) -> Connection:
    """The run's first connection: a failure here is named for its cause (no server, no database, the login)."""
    where = f"{settings.db_host}:{settings.db_port}"
    try:
        conn = _open(settings)
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code == 1049:
            raise CannotRun(
                f"database `{settings.db_name}` does not exist on MySQL at {where} — "
                "restore the dump first: ./restore_dump.sh path/to/cohabs_onboarding.dump"
            ) from None
        if code in UNREACHABLE:
            raise CannotRun(
                f"cannot connect to MySQL at {where} ({exc.args[-1]}) — is the server up? "
                "with docker: docker compose --env-file ./.env up -d"
            ) from None
        if code in BUSY:
            raise CannotRun(f"MySQL at {where} turned the connection away ({exc.args[-1]}); try again later") from None
        # The server answered and said no: whatever its code (1044, 1045, 1698, an auth plugin…), it is the login.
        raise _refused(settings, where, exc.args[-1] if exc.args else exc) from None
    except RuntimeError as exc:
        # PyMySQL raises this when the account's auth plugin needs a package it does not have.
        raise _refused(settings, where, exc) from None
    return _strict(conn)


def connect_again(settings: Settings) -> Connection:
    """One more connection once the run is connected; its errors stay MySQL's.

    The login worked a moment ago, so a failure now is a connection lost
    (errors.connection_lost tells it), not a server that was never up.
    """
    return _strict(_open(settings))


def _open(settings: Settings) -> Connection:
    return pymysql.connect(
        host=settings.db_host,
        port=settings.db_port,
        user=settings.db_user,
        password=settings.db_password,
        database=settings.db_name,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=10,
        # rowcount then counts matched rows, so a vanished row is noticed.
        client_flag=CLIENT.FOUND_ROWS,
    )


def _strict(conn: Connection) -> Connection:
    with conn.cursor() as cur:
        # Fail instead of silently truncating an id that does not fit its column.
        cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
    return conn


def _refused(settings: Settings, where: str, reason: object) -> CannotRun:
    return CannotRun(
        f"MySQL at {where} refused to log in user `{settings.db_user}` to `{settings.db_name}` ({reason}) — "
        "check DB_USER and DB_PASSWORD in .env (an empty DB_PASSWORD= means no password)"
    )


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def columns(conn: Connection) -> list[tuple[str, str, int | None]]:
    """(table, column, max length) of every column in the current database; each job picks its tables."""
    with conn.cursor() as cur:
        # A width only for text columns: a number or an enum column cannot hold an id whatever its size.
        cur.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, CASE WHEN DATA_TYPE IN "
            "('char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext') THEN CHARACTER_MAXIMUM_LENGTH END "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
        )
        return list(cur.fetchall())


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


def _select(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    """Rows one at a time: an unbuffered cursor keeps 20,000 rows from sitting in memory twice."""
    fields = ", ".join(f"{quote(col)} AS {quote(field)}" for field, col in table.columns.items())
    with conn.cursor(pymysql.cursors.SSDictCursor) as cur:
        # Identifiers come from information_schema (schema.py), values never appear here.
        cur.execute(f"SELECT {fields} FROM {quote(table.name)} ORDER BY {quote(table.columns['id'])}")  # noqa: S608
        yield from cur


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: Any) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def _when(value: Any) -> datetime | None:
    # Zero dates ('0000-00-00') come back as strings: treat them as missing.
    return value if isinstance(value, datetime) else None


def load_rows(conn: Connection, schema: Schema) -> Rows:
    users = [
        User(
            id=str(r["id"]),
            email=_text(r["email"]),
            first_name=_text(r.get("first_name")),
            last_name=_text(r.get("last_name")),
            phone=_text(r.get("phone")),
            address=_text(r.get("address")),
            stripe_id=_text(r["stripe_id"]),
        )
        for r in _select(conn, schema[Kind.USER])
    ]
    rooms = [
        Room(
            id=str(r["id"]),
            number=r.get("number"),
            location=_text(r.get("location")),
            description=_text(r.get("description")),
            base_rent=_decimal(r.get("base_rent")),
            rent=_decimal(r.get("rent")),
            stripe_id=_text(r["stripe_id"]),
        )
        for r in _select(conn, schema[Kind.ROOM])
    ]
    leases = [
        Lease(
            id=str(r["id"]),
            name=_text(r.get("name")),
            user_id=_text(r["user_id"]),
            room_id=_text(r["room_id"]),
            hub_id=_text(r["hub_id"]),
            status=_text(r["status"]),
            rent_amount=_decimal(r["rent_amount"]),
            start=_when(r["start"]),
            end=_when(r["end"]),
            stripe_id=_text(r["stripe_id"]),
        )
        for r in _select(conn, schema[Kind.LEASE])
    ]
    return Rows(users, rooms, leases)


def acquire_lock(conn: Connection, db_name: str, job: str = "sync") -> None:
    """Hold a server-side lock for the life of `conn`: a second run of the same job is refused, not raced."""
    name = (f"cohabs-relink:{db_name}" if job == "sync" else f"cohabs-{job}:{db_name}")[:64]
    what = "sync" if job == "sync" else f"{job} run"
    with conn.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", [name])
        row = cur.fetchone()
    if not row or row[0] != 1:
        raise LockedError(
            f"another {what} is running against database `{db_name}` (it holds the MySQL lock {name!r}); "
            "wait for it to finish, then run again"
        )


class IdWriter:
    """Writes Stripe ids into their rows from any thread.

    PyMySQL connections are not thread-safe, so each write borrows a
    connection from a small pool and gives it back; a write takes a millisecond
    where a Stripe call takes hundreds, so a few connections serve many workers.
    """

    def __init__(self, connect: Callable[[], Connection], schema: Schema, size: int = 8) -> None:
        self._connect = connect
        self._schema = schema
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[Connection] = []
        self._guard = threading.Lock()

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
        with self._slots:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
                with self._guard:
                    self._all.append(conn)
            try:
                with conn.cursor() as cur:
                    matched = cur.execute(sql, [stripe_id, row_id])
            except pymysql.err.Error as exc:
                if connection_lost(exc):
                    raise
                self._idle.put(conn)  # MySQL answered: the connection is fine, only this write was refused
                raise WriteRefused(f"MySQL refused the write: {mysql_said(exc)}") from None
            self._idle.put(conn)
        if matched == 0:
            raise WriteRefused(f"row {row_id} is no longer in `{table.name}`")

    def close(self) -> None:
        with self._guard:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(pymysql.err.Error):
                conn.close()


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
        hint = f"no match in {checked} either" if columns else f"{table.name} has no other unique column to check"
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
