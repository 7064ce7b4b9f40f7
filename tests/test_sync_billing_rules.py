"""The money rules: minor units, dates, what each lease status becomes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from cohabs.shared.money import InvalidAmount, format_minor, to_minor
from cohabs.sync.billing import InvalidLease, Mode, add_months, next_rent_date, terms_for
from cohabs.sync.rows import Lease

NOW = datetime(2026, 11, 26, 12, 0, 0)


def lease(status: str, start: datetime, end: datetime) -> Lease:
    return Lease("L1", "bru-x-1", "U1", "R1", "hub", status, Decimal("685.00"), start, end, None)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("685.00", "eur", 68500), ("1955.50", "usd", 195550), ("0.01", "eur", 1), ("1200", "jpy", 1200)],
)
def test_amounts_become_integer_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize("amount", [None, Decimal("0.00"), Decimal("-10.00"), Decimal("10.005")])
def test_amounts_stripe_cannot_bill_are_refused(amount: Decimal | None) -> None:
    with pytest.raises(InvalidAmount):
        to_minor(amount, "eur")


def test_a_yen_amount_with_cents_is_refused() -> None:
    with pytest.raises(InvalidAmount, match="JPY"):
        to_minor(Decimal("10.50"), "jpy")


def test_amounts_are_shown_with_their_currency() -> None:
    assert format_minor(195550, "usd") == "1,955.50 USD"


def test_months_are_added_as_stripe_does_clamping_to_the_month_end() -> None:
    assert add_months(datetime(2026, 1, 31), 1) == datetime(2026, 2, 28)
    assert add_months(datetime(2026, 11, 30), 3) == datetime(2027, 2, 28)
    assert add_months(datetime(2026, 12, 15), 1) == datetime(2027, 1, 15)


def test_the_next_rent_date_is_the_first_monthly_anniversary_after_now() -> None:
    assert next_rent_date(datetime(2026, 5, 1, 16), NOW) == datetime(2026, 12, 1, 16)
    assert next_rent_date(datetime(2026, 10, 26, 16), NOW) == datetime(2026, 11, 26, 16)
    assert next_rent_date(datetime(2026, 11, 26, 11), NOW) == datetime(2026, 12, 26, 11)
    assert next_rent_date(datetime(2026, 1, 31), datetime(2026, 3, 1)) == datetime(2026, 3, 31)


def test_an_ongoing_lease_is_free_until_its_next_rent_date_and_stops_at_its_end() -> None:
    terms = terms_for(lease("active", datetime(2026, 5, 1, 16), datetime(2027, 5, 1, 8)), NOW)
    assert terms.mode is Mode.ONGOING
    assert terms.trial_end == terms.first_charge == datetime(2026, 12, 1, 16)
    assert terms.cancel_at == datetime(2027, 5, 1, 8)


def test_a_lease_ending_before_its_next_rent_date_bills_nothing_more() -> None:
    terms = terms_for(lease("active", datetime(2026, 5, 1, 16), datetime(2026, 11, 30)), NOW)
    assert terms.mode is Mode.ONGOING
    assert terms.first_charge is None
    assert terms.trial_end == terms.cancel_at == datetime(2026, 11, 30)


def test_a_future_lease_bills_nothing_before_its_start() -> None:
    terms = terms_for(lease("signed", datetime(2027, 2, 1, 16), datetime(2027, 8, 1)), NOW)
    assert terms.mode is Mode.FUTURE
    assert terms.trial_end == terms.first_charge == datetime(2027, 2, 1, 16)
    assert terms.cancel_at == datetime(2027, 8, 1)


@pytest.mark.parametrize("status", ["finished", "cancelled", "void"])
def test_a_lease_that_is_over_becomes_a_cancelled_subscription(status: str) -> None:
    terms = terms_for(lease(status, datetime(2026, 5, 1), datetime(2027, 5, 1)), NOW)
    assert terms.mode is Mode.ENDED
    assert terms.first_charge is None
    assert terms.trial_end > NOW


def test_an_active_lease_whose_end_has_passed_is_over_and_says_so() -> None:
    terms = terms_for(lease("active", datetime(2022, 5, 1), datetime(2023, 5, 1)), NOW)
    assert terms.mode is Mode.ENDED
    assert "status active but ended 2023-05-01" in terms.why


@pytest.mark.parametrize(
    ("status", "start", "end", "message"),
    [
        ("active", datetime(2026, 5, 1), datetime(2026, 4, 1), "not after startDate"),
        ("active", None, datetime(2026, 4, 1), "missing"),
        ("pending", datetime(2026, 5, 1), datetime(2027, 5, 1), "unknown status"),
        ("signed", datetime(2029, 5, 1), datetime(2030, 5, 1), "730 days"),
    ],
)
def test_leases_that_cannot_be_billed_are_refused(
    status: str, start: datetime | None, end: datetime, message: str
) -> None:
    with pytest.raises(InvalidLease, match=message):
        terms_for(Lease("L1", None, "U1", "R1", "hub", status, Decimal(1), start, end, None), NOW)
