"""MySQL access both jobs share: connect, read what columns exist, lock a run, convert values.

Every value travels as a query parameter; table and column names come only
from information_schema and are quoted.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from cohabs.shared.errors import CannotRun, LockedError
from cohabs.shared.schema import Table
from cohabs.shared.settings import Settings

Connection = pymysql.connections.Connection
# Client-side codes for a server that never answered: refused, unknown host, gone, lost in the handshake.
UNREACHABLE = frozenset({2002, 2003, 2005, 2006, 2013})
BUSY = frozenset({1040, 1203, 1226})  # too many connections, per user, or over a resource limit


# Client and server codes that mean the connection itself went away (gone, lost, killed,
# server shutting down, idle timeout); any other error is MySQL answering.
_LOST = frozenset({2003, 2006, 2013, 2055, 1053, 1927, 4031})

# What to do next, by MySQL error number, for the errors a restored database produces.
_ADVICE = {
    1054: "a column the sync reads or writes is not there: check the table against the dump's schema, then rerun",
    1142: "the MySQL user may not do this on that table: GRANT SELECT, UPDATE on it to DB_USER, then rerun",
    1143: "the MySQL user may not update that column: GRANT UPDATE on it to DB_USER, then rerun",
    1146: "a table is missing: restore the dump (./restore_dump.sh), then rerun",
    1288: "the table is a view MySQL cannot update: use the database holding the real tables, then rerun",
    1348: "that column of the view is computed and cannot be updated: use the real table, then rerun",
    1356: "a view refers to tables or columns that no longer exist: recreate it or use the real tables, then rerun",
    1406: "an id is longer than its column: widen the column (varchar(255)), then rerun",
}


def connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.InterfaceError):
        return True  # PyMySQL's word for a connection that is already closed
    code = exc.args[0] if exc.args else None
    return isinstance(exc, pymysql.err.OperationalError) and code in _LOST


def mysql_said(exc: BaseException) -> str:
    """What MySQL answered and what to do about it: `error 1288: The target table ...; the table is a view ...`."""
    if len(exc.args) >= 2 and isinstance(exc.args[0], int):
        code, message = exc.args[0], exc.args[1]
        return f"error {code}: {message}; " + _ADVICE.get(code, "fix what MySQL says, then rerun")
    return (str(exc) or type(exc).__name__) + "; fix what MySQL says, then rerun"


def mysql_failed(exc: BaseException, where: str = "") -> CannotRun:
    """The message for a MySQL error that ends the run: a lost connection only when it was lost."""
    if connection_lost(exc):
        reason = exc.args[-1] if exc.args else exc
        return CannotRun(
            f"lost the MySQL connection{where} ({reason}); rerun once MySQL is back: "
            "objects already created are found and adopted, not created again"
        )
    return CannotRun(
        f"MySQL refused a query{where} ({mysql_said(exc)}); objects already created are found and adopted "
        "by the next run, not created again"
    )


def connect(settings: Settings, restore: str = "") -> Connection:
    """The run's first connection: a failure here is named for its cause (no server, no database, the login).

    `restore` is how this job's database is made, for when it does not exist: each job names its own dump.
    """
    where = f"{settings.db_host}:{settings.db_port}"
    try:
        conn = _open(settings)
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code == 1049:
            raise CannotRun(
                f"database `{settings.db_name}` does not exist on MySQL at {where} — "
                + (restore or "restore its dump first: ./restore_dump.sh --database NAME path/to/file.dump")
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


class Pool:
    """Connections for many threads at once: each use borrows one and gives it back.

    PyMySQL connections are not thread-safe. A write takes a millisecond where a
    Stripe call takes hundreds, so a few connections serve many workers; they
    open on first need. A connection that was lost is dropped, never lent again.
    """

    def __init__(self, connect: Callable[[], Connection], size: int = 8) -> None:
        self._connect = connect
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[Connection] = []
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Connection]:
        with self._slots:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
                with self._guard:
                    self._all.append(conn)
            try:
                yield conn
            except pymysql.err.Error as exc:
                if not connection_lost(exc):
                    self._idle.put(conn)  # MySQL answered: the connection is fine, only this query was refused
                raise
            except BaseException:
                self._idle.put(conn)
                raise
            self._idle.put(conn)

    def close(self) -> None:
        with self._guard:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(pymysql.err.Error):
                conn.close()


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


def select(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    """Every row of `table`, its fields named as the table maps them, in primary-key order, one at a time.

    An unbuffered cursor keeps 20,000 rows from sitting in memory twice.
    """
    chosen = ", ".join(f"{quote(column)} AS {quote(field)}" for field, column in table.columns.items())
    with conn.cursor(pymysql.cursors.SSDictCursor) as cur:
        # Identifiers come from information_schema, values never appear here.
        cur.execute(f"SELECT {chosen} FROM {quote(table.name)} ORDER BY {quote(table.columns['id'])}")  # noqa: S608
        yield from cur


def text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def decimal(value: Any) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def when(value: Any) -> datetime | None:
    # Zero dates ('0000-00-00') come back as strings: treat them as missing.
    return value if isinstance(value, datetime) else None


@contextlib.contextmanager
def session(settings: Settings, lock: str | None, what: str, restore: str = "") -> Iterator[Connection]:
    """A run's own connection, holding the lock `lock` names while inside (None: a read-only run takes none)."""
    conn = connect(settings, restore)
    try:
        with run_lock(conn, lock, settings.db_name, what) if lock else contextlib.nullcontext():
            yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def run_lock(conn: Connection, owner: str, db_name: str, what: str) -> Iterator[None]:
    """Hold a server-side lock while inside: a second `what` on the same database is refused, not raced.

    `owner` names the job that holds it (`cohabs-relink`, `cohabs-support`): the two never wait for each other.
    The lock is given back on the way out: the server frees it on disconnect only once it has seen the
    disconnect, which a run started right after this one could beat.
    """
    name = lock_name(owner, db_name)
    with conn.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", [name])
        row = cur.fetchone()
    if not row or row[0] != 1:
        raise LockedError(
            f"another {what} is running against database `{db_name}` (it holds the MySQL lock {name!r}); "
            "wait for it to finish, then run again"
        )
    try:
        yield
    finally:
        # A connection already gone has nothing left to free.
        with contextlib.suppress(pymysql.err.Error), conn.cursor() as cur:
            cur.execute("DO RELEASE_LOCK(%s)", [name])


def lock_name(owner: str, db_name: str) -> str:
    return f"{owner}:{db_name}"[:64]


@contextlib.contextmanager
def mysql_errors() -> Iterator[None]:
    """A database error after connecting ends the run cleanly (exit 1), never with a traceback."""
    try:
        yield
    except pymysql.err.Error as exc:
        raise mysql_failed(exc) from None
