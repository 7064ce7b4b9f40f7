"""Errors that stop a run (exit code 1), and the words for what MySQL said."""

from __future__ import annotations

import pymysql


class CannotRun(Exception):
    """The run cannot start or go on: configuration, connection, authentication."""


class SchemaError(CannotRun):
    """Tables or columns the sync needs are missing, ambiguous or cannot take the ids."""


class LockedError(CannotRun):
    """Another sync holds the database lock."""


class WriteRefused(Exception):
    """MySQL refused one row's id (the connection is fine): that row fails, the run goes on."""


# Client and server codes that mean the connection itself went away (gone, lost, killed,
# server shutting down, idle timeout); any other error is MySQL answering.
_LOST = frozenset({2003, 2006, 2013, 2055, 1053, 1927, 4031})

# What to do next, by MySQL error number, for the errors a restored database produces.
_ADVICE = {
    1054: "a column the sync reads or writes is not there: check the table against the dump's schema, then rerun",
    1142: "the MySQL user may not do this on that table: GRANT SELECT, UPDATE on it to DB_USER, then rerun",
    1143: "the MySQL user may not update that column: GRANT UPDATE on it to DB_USER, then rerun",
    1146: "a table is missing: restore the dump (./restore_dump.sh), then rerun",
    1288: "the table is a view MySQL cannot update: point DB_NAME at the database holding the real tables, then rerun",
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
