"""Errors that stop a run (exit code 1), or only one row."""

from __future__ import annotations


class CannotRun(Exception):
    """The run cannot start or go on: configuration, connection, authentication."""


class SchemaError(CannotRun):
    """Tables or columns the sync needs are missing, ambiguous or cannot take the ids."""


class LockedError(CannotRun):
    """Another sync holds the database lock."""


class WriteRefused(Exception):
    """MySQL refused one row's id (the connection is fine): that row fails, the run goes on."""


class AccountUnreadable(CannotRun):
    """Stripe could not be read before any change: a stop like Stripe going away mid-run, reported the same way."""
