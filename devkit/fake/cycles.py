"""When a monthly subscription bills, and how much, by Stripe's documented rules.

- The billing cycle anchor fixes the day of month; in a month without that day
  the subscription bills on the month's last day, and goes back to the anchor's
  day afterwards ("an anchor of January 31 bills February 28, then March 31").
- `billing_cycle_anchor_config` sets the anchor to the next occurrence of its
  `day_of_month` (clamped the same way), and that day is the one kept.
- A trial's end resets the anchor to the trial end (`trial_settings.end_behavior.
  billing_cycle_anchor` = `now`, the default) unless the anchor lies after the
  trial end or the setting is `unchanged`.
- A trial followed by a later anchor gives a free period, then a prorated one up
  to the anchor; `cancel_at` inside a period prorates that period, and nothing
  is billed after it.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from .store import Obj

MONTHS_AHEAD = 240  # how far a schedule is followed: twenty years of rent


@dataclass(frozen=True, slots=True)
class Period:
    start: int
    end: int
    amount: int  # minor units, prorated when the period is shorter than its cycle


def shifted(moment: int, months: int, day: int) -> int:
    """`moment` moved by `months`, on `day` or the month's last day when it has fewer."""
    at = datetime.fromtimestamp(moment, UTC)
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    return int(at.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1])).timestamp())


def day_of(moment: int) -> int:
    return datetime.fromtimestamp(moment, UTC).day


def anchor_from_config(config: Obj, after: int) -> int:
    """The first occurrence of the config's day (clamped), at its hour, minute and second UTC, at or after `after`."""
    day = int(config["day_of_month"])
    at = datetime.fromtimestamp(after, UTC)
    for months in range(3):
        index = at.month - 1 + months
        year, month = at.year + index // 12, index % 12 + 1
        found = datetime(
            year,
            month,
            min(day, calendar.monthrange(year, month)[1]),
            int(config.get("hour") or 0),
            int(config.get("minute") or 0),
            int(config.get("second") or 0),
            tzinfo=UTC,
        )
        if found.timestamp() >= after:
            return int(found.timestamp())
    raise AssertionError("a day of month occurs within three months")


def anchor_day(subscription: Obj) -> int:
    """The day of month the subscription bills on: its anchor config's, else its anchor's."""
    config = subscription.get("billing_cycle_anchor_config")
    return int(config["day_of_month"]) if config else day_of(subscription["billing_cycle_anchor"])


def periods(subscription: Obj) -> Iterator[Period]:
    """Every period the subscription will bill, from its first paid one, in order."""
    unit = int(subscription["items"]["data"][0]["price"]["unit_amount"])
    anchor, day = subscription["billing_cycle_anchor"], anchor_day(subscription)
    first = subscription.get("trial_end") or subscription["start_date"]
    cancel_at = subscription.get("cancel_at")
    prorated = [first] if first < anchor else []
    starts = itertools.chain(prorated, (shifted(anchor, k, day) for k in range(MONTHS_AHEAD)))
    for start, end in itertools.pairwise(starts):
        if cancel_at is not None and cancel_at <= start:
            return
        cycle = end - shifted(end, -1, day)  # the full cycle this period belongs to
        stop = end if cancel_at is None else min(end, cancel_at)
        amount = unit if stop - start == cycle else round(unit * (stop - start) / cycle)
        yield Period(start, stop, amount)
