"""Errors that stop a run before or during its work (exit code 1)."""


class CannotRun(Exception):
    """The run cannot start or go on: configuration, connection, authentication."""


class SchemaError(CannotRun):
    """Tables or columns the sync needs are missing."""


class LockedError(CannotRun):
    """Another sync holds the database lock."""


def lost_mysql(exc: BaseException, where: str = "") -> CannotRun:
    """The one message for a database that went away mid-run, with what to do next."""
    reason = exc.args[-1] if exc.args else exc
    return CannotRun(
        f"lost the MySQL connection{where} ({reason}); rerun once MySQL is back: "
        "objects already created are found and adopted, not created again"
    )
