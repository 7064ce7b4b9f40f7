"""Errors that stop a run before or during its work (exit code 1)."""


class CannotRun(Exception):
    """The run cannot start or go on: configuration, connection, authentication."""


class SchemaError(CannotRun):
    """Tables or columns the sync needs are missing."""


class LockedError(CannotRun):
    """Another sync holds the database lock."""
