"""Stripe's own invoice preview as the judge of what each linked subscription bills next.

The plan reads a subscription's fields and says what Stripe should do with them;
`--verify` also asks Stripe what it will do (POST /v1/invoices/create_preview
with the subscription), so a rule Stripe applies and our model misses still
shows. One request per subscription that bills, paced like every other call.

The preview is compared with the lease:
- its date must be one of the lease's rent dates, and not later than the next
  one (a date in between is another billing day; a later one, a month missed);
- its line's service period must end on the following rent date, or on the
  lease's end when the lease ends before it;
- its amount and currency must be the rent, prorated for the lease's own last
  partial month;
- its collection method must be the one the sync would leave.
A subscription with no upcoming invoice (`invoice_upcoming_none`) is right only
when the lease bills nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cohabs.shared.money import format_minor
from cohabs.sync.billing import add_months, contract_price, rent_dates
from cohabs.sync.problems import Drift
from cohabs.sync.rows import Lease

UPCOMING_NONE = "invoice_upcoming_none"  # Stripe's error code: the subscription has no next invoice
ROUNDING = 1  # minor units a prorated amount may differ by: Stripe's rounding is not ours to copy


@dataclass(frozen=True, slots=True)
class Preview:
    """The few fields of Stripe's preview invoice that a lease can be held to."""

    date: datetime  # naive UTC, when Stripe makes the invoice
    amount: int  # minor units due
    currency: str
    period_end: datetime  # the first line's service period end, naive UTC
    collection_method: str | None

    @classmethod
    def of(cls, invoice: Mapping[str, Any]) -> Preview:
        lines = (invoice.get("lines") or {}).get("data") or [{}]
        period = lines[0].get("period") or {}
        return cls(
            _naive(int(invoice["created"])),
            int(invoice.get("amount_due") or 0),
            str(invoice.get("currency") or ""),
            _naive(int(period.get("end") or 0)),
            invoice.get("collection_method"),
        )


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the preview disagrees with the lease, with both figures."""

    drift: Drift
    text: str


# What a run reads: the subscription's preview, or None for `invoice_upcoming_none`.
Previewer = Callable[[str], Preview | None]


def preview_all(subscriptions: Iterable[str], previewer: Previewer, workers: int) -> dict[str, Preview | None]:
    """One preview per subscription, side by side; the shared pacer keeps them within Stripe's limits."""
    wanted = list(dict.fromkeys(subscriptions))
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted) or 1))) as pool:
        return dict(zip(wanted, pool.map(previewer, wanted), strict=True))


def judge(
    lease: Lease, preview: Preview | None, hubs: Mapping[str, str], method: str | None, now: datetime
) -> list[Difference]:
    """How Stripe's next invoice differs from what the lease says; [] when it is right."""
    price = contract_price(lease, hubs)
    if lease.start is None or lease.end is None or price is None:
        return []  # the plan already reports a lease the money rules cannot bill
    amount, currency = price
    upcoming = next(rent_dates(lease.start, now))
    if preview is None:
        if upcoming >= lease.end:
            return []  # the lease bills nothing more: Stripe has nothing to preview, rightly
        text = f"Stripe has no upcoming invoice, but the lease owes rent on {upcoming:%Y-%m-%d}"
        return [Difference(Drift.WRONG_END, text)]
    date = _rent_date(lease.start, preview.date)
    if date is None or date >= lease.end or date.date() > upcoming.date():
        expected = f"{upcoming:%Y-%m-%d}" if upcoming < lease.end else f"none (the lease ends {lease.end:%Y-%m-%d})"
        text = f"Stripe's next invoice is dated {preview.date:%Y-%m-%d}; the lease's next rent date is {expected}"
        return [Difference(Drift.WRONG_DAY, text)]
    return _period(lease, date, preview, amount, currency, method)


def _period(
    lease: Lease, date: datetime, preview: Preview, amount: int, currency: str, method: str | None
) -> list[Difference]:
    assert lease.start is not None and lease.end is not None
    following = _next_after(lease.start, date)
    end = min(following, lease.end)
    due = amount if end == following else round(amount * (end - date) / (following - date))
    found = []
    if preview.period_end.date() != end.date():
        why = "the following rent date" if end == following else "the lease's end"
        text = f"Stripe's invoice of {date:%Y-%m-%d} covers rent until {preview.period_end:%Y-%m-%d}, not {why} {end:%Y-%m-%d}"
        found.append(Difference(Drift.WRONG_DAY, text))
    if preview.currency != currency:
        text = f"Stripe's next invoice is in {preview.currency.upper()}, the lease's hub bills in {currency.upper()}"
        found.append(Difference(Drift.WRONG_CURRENCY, text))
    elif abs(preview.amount - due) > ROUNDING and preview.period_end.date() == end.date():
        text = (
            f"Stripe's invoice of {date:%Y-%m-%d} is {format_minor(preview.amount, currency)}, "
            f"the lease says {format_minor(due, currency)}"
        )
        found.append(Difference(Drift.WRONG_AMOUNT, text))
    if method is not None and preview.collection_method not in (None, method):
        text = f"Stripe's next invoice is collected by {preview.collection_method}, not {method}"
        found.append(Difference(Drift.COLLECTION, text))
    return found


def _rent_date(start: datetime, moment: datetime) -> datetime | None:
    """The lease's rent date on `moment`'s day, or None when that day is not a rent date."""
    months = (moment.year - start.year) * 12 + moment.month - start.month
    candidate = add_months(start, months)
    return candidate if months >= 0 and candidate.date() == moment.date() else None


def _next_after(start: datetime, date: datetime) -> datetime:
    months = (date.year - start.year) * 12 + date.month - start.month
    return add_months(start, months + 1)


def _naive(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
