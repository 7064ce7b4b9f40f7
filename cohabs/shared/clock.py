"""The wall clock, in the one form both jobs use: naive UTC, as MySQL's DATETIME columns hold it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
