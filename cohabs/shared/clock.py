"""Time in the one form both jobs use (naive UTC, as MySQL's DATETIME columns hold it), and Stripe's.

Stripe speaks Unix seconds; the database, naive UTC datetimes. Every conversion between the two is here.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_unix(moment: datetime) -> int:
    """Unix seconds of a moment: a naive one is UTC (as the database holds it), an aware one is converted."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def from_unix(seconds: int | float) -> datetime:
    """A Stripe timestamp as a naive UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def unix_date(seconds: int | float) -> str:
    """A Stripe timestamp's UTC day, as reports write it (2026-03-01)."""
    return f"{from_unix(seconds):%Y-%m-%d}"
