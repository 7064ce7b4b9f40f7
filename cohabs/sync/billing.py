"""What a lease's subscription bills, and when: the money rules in one place.

Every migrated subscription starts in a free period (a Stripe trial) that ends
on the first date the tenant owes rent in the new account. Stripe creates a
0.00 invoice at creation and needs no payment method, so nobody is charged
when the sync runs nor for any period the old system already billed.

Stripe bills a monthly subscription on its billing cycle anchor's day of month,
clamped in shorter months. The anchor defaults to the trial end, so a trial
ending on a clamped rent date (28 February for a lease from the 31st) would
bill on the 28th for good. The anchor is therefore set by its day instead
(`billing_cycle_anchor_config.day_of_month` = the lease's start day): its next
occurrence is the trial end itself, Stripe keeps that day and clamps it, and
`trial_settings.end_behavior.billing_cycle_anchor=unchanged` keeps the trial's
end from resetting it. No period is prorated, so no stub, and `cancel_at` at
the lease end closes the last period on the lease's own last day.

How the tenant pays from that date is the collection choice (CollectionChoice):
Stripe charges a saved payment method, or emails an invoice to pay.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from stripe.params import SubscriptionCreateParamsBillingCycleAnchorConfig

from cohabs.shared.errors import CannotRun
from cohabs.shared.money import InvalidAmount, to_minor
from cohabs.sync.rows import Lease

ENDED_STATUSES = frozenset({"finished", "cancelled", "void"})
OPEN_STATUSES = frozenset({"signed", "active"})
MAX_TRIAL = timedelta(days=730)  # Stripe's longest trial


class Mode(StrEnum):
    ONGOING = "ongoing"
    FUTURE = "future"
    ENDED = "ended"


class InvalidLease(ValueError):
    pass


class Method(StrEnum):
    """Stripe's collection methods: how a subscription's invoices are paid."""

    AUTOMATIC = "charge_automatically"  # Stripe charges the saved payment method on each rent date
    INVOICE = "send_invoice"  # Stripe emails each invoice, payable on its hosted page

    def says(self, days: int | None = None) -> str:
        """In words, for a plan: "charged automatically", "invoiced by email, due in 10 days"."""
        if self is Method.AUTOMATIC:
            return "charged automatically"
        return f"invoiced by email, due in {days} days" if days else "invoiced by email"


# What a trial's end does when the customer has no payment method (trial_settings.end_behavior.missing_payment_method).
# The sync sets create_invoice: the rent stays owed as an open invoice. pause and cancel would stop rent silently.
CREATE_INVOICE = "create_invoice"
STOPPING_END_BEHAVIORS = frozenset({"pause", "cancel"})


@dataclass(frozen=True, slots=True)
class CollectionChoice:
    """How the subscriptions the sync creates collect, and whether linked ones are switched to it.

    `chosen` is False when neither flag nor setting named a method: new
    subscriptions then charge automatically (Stripe's default) and linked
    ones keep whatever method they have, so a rerun never switches anyone back.
    """

    method: Method = Method.AUTOMATIC
    days_until_due: int | None = None  # send_invoice only: days the tenant has to pay each invoice
    chosen: bool = False

    @classmethod
    def of(cls, method: str | None, days_until_due: int | None) -> CollectionChoice:
        """From the settings; send_invoice needs its days (Stripe's rule), which only it reads."""
        if method is None:
            return cls()
        chosen = Method(method)
        if chosen is Method.AUTOMATIC:
            return cls(chosen, None, True)
        if days_until_due is None:
            raise CannotRun(
                "send_invoice needs the days a tenant has to pay each invoice: --days-until-due N (or DAYS_UNTIL_DUE)"
            )
        return cls(chosen, days_until_due, True)

    def fields(self) -> dict[str, str | int]:
        """What a subscription is set to: the method, and its days for send_invoice."""
        fields: dict[str, str | int] = {"collection_method": self.method.value}
        if self.method is Method.INVOICE and self.days_until_due is not None:
            fields["days_until_due"] = self.days_until_due
        return fields

    def says(self) -> str:
        return self.method.says(self.days_until_due)


UNCHOSEN = CollectionChoice()  # no method named: new subscriptions charge automatically, linked ones keep theirs


# What the trial's end does to the anchor: `unchanged` keeps the configured rent day (Stripe's default, `now`,
# would reset the anchor to the trial end, whose day is the clamped one).
ANCHOR_KEPT = "unchanged"
# Kept by Stripe as the cancellation's comment of a subscription the sync replaced because it billed on another
# day than the rent day, still in its free period: a run that stopped before the new one was stored finds it so.
REPLACED_FOR_RENT_DAY = "cohabs-relink: replaced by a subscription that bills on the rent day"


@dataclass(frozen=True, slots=True)
class Terms:
    mode: Mode
    trial_end: datetime
    first_charge: datetime | None
    cancel_at: datetime | None
    why: str
    rent_day: int | None = None  # the day of month it bills on (clamped in shorter months); None: it never bills

    def anchor_config(self) -> SubscriptionCreateParamsBillingCycleAnchorConfig | None:
        """Stripe's billing_cycle_anchor_config: the rent day, at the trial end's time, so the two coincide."""
        if self.rent_day is None or self.first_charge is None:
            return None
        at = self.first_charge
        return {"day_of_month": self.rent_day, "hour": at.hour, "minute": at.minute, "second": at.second}


def contract_price(lease: Lease, hubs: Mapping[str, str]) -> tuple[int, str] | None:
    """What the lease should bill a month, (minor units, currency), or None if it cannot say."""
    currency = hubs.get(lease.hub_id or "")
    if currency is None:
        return None
    try:
        return to_minor(lease.rent_amount, currency), currency
    except InvalidAmount:
        return None


def add_months(moment: datetime, months: int) -> datetime:
    """Same day of month `months` later, clamped to the month's end as Stripe does."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def rent_dates(start: datetime, after: datetime) -> Iterator[datetime]:
    """The lease's rent dates (monthly anniversaries of `start`, clamped) strictly after `after`."""
    rent = next_rent_date(start, after) if after >= start else start
    months = (rent.year - start.year) * 12 + rent.month - start.month
    while True:
        yield add_months(start, months)
        months += 1


def next_rent_date(start: datetime, now: datetime) -> datetime:
    """The first monthly anniversary of `start` strictly after `now`."""
    months = max(1, (now.year - start.year) * 12 + now.month - start.month)
    while add_months(start, months) <= now:
        months += 1
    while months > 1 and add_months(start, months - 1) > now:
        months -= 1
    return add_months(start, months)


def cancel_window(now: datetime) -> datetime:
    """Trial end for an ended lease's subscription, cancelled right after creation.

    Midnight UTC at least a day ahead: in the future whatever the network delay,
    and the same all day long so the request (and its idempotency key) is stable.
    """
    return (now + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)


def terms_for(lease: Lease, now: datetime) -> Terms:
    """Decide what the lease's subscription bills. `now` is naive UTC."""
    if lease.start is None or lease.end is None:
        raise InvalidLease("startDate or endDate is missing")
    if lease.end <= lease.start:
        raise InvalidLease(f"endDate {lease.end:%Y-%m-%d} is not after startDate {lease.start:%Y-%m-%d}")
    status = lease.status or ""
    if status in ENDED_STATUSES:
        return Terms(Mode.ENDED, cancel_window(now), None, None, f"status {status}")
    if status not in OPEN_STATUSES:
        raise InvalidLease(f"unknown status {status!r}")
    if lease.end <= now:
        return Terms(
            Mode.ENDED,
            cancel_window(now),
            None,
            None,
            f"status {status} but ended {lease.end:%Y-%m-%d}",
        )
    if lease.start > now:
        if lease.start - now > MAX_TRIAL:
            raise InvalidLease(f"starts {lease.start:%Y-%m-%d}, more than 730 days ahead (Stripe's longest trial)")
        return Terms(
            Mode.FUTURE,
            lease.start,
            lease.start,
            lease.end,
            f"starts {lease.start:%Y-%m-%d}: nothing billed before, monthly from then",
            lease.start.day,
        )
    rent_day = next_rent_date(lease.start, now)
    if rent_day >= lease.end:
        return Terms(
            Mode.ONGOING,
            lease.end,
            None,
            lease.end,
            f"ends {lease.end:%Y-%m-%d} before its next rent date: nothing left to bill",
        )
    return Terms(
        Mode.ONGOING,
        rent_day,
        rent_day,
        lease.end,
        f"ongoing: monthly from next rent date {rent_day:%Y-%m-%d}, on day {lease.start.day}{_clamped(lease.start)}",
        lease.start.day,
    )


def _clamped(start: datetime) -> str:
    return " (the month's last day in shorter months)" if start.day > 28 else ""
