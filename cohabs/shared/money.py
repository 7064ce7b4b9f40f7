"""Amounts: database decimals to Stripe's integer minor units, never through float."""

from __future__ import annotations

from decimal import Decimal

# Stripe's zero-decimal currencies; every other supported currency has two
# decimals (the three-decimal ones only accept amounts ending in 0, which the
# two-decimal rule below already guarantees for database decimal(10,2)).
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)


# Stripe takes at most eight digits of minor units for an amount or a price, in any currency
# (99,999,999: 999,999.99 EUR); it refuses more, so such an amount is never sent.
MAX_MINOR = 99_999_999


class InvalidAmount(ValueError):
    pass


def exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def to_minor(amount: Decimal | None, currency: str) -> int:
    """Convert a decimal amount to minor units; reject what cannot be billed."""
    if amount is None:
        raise InvalidAmount("amount is NULL")
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmount(f"amount {amount} is not positive")
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"amount {amount} has more decimals than {currency.upper()} allows")
    if scaled > MAX_MINOR:
        raise InvalidAmount(
            f"amount {amount} {currency.upper()} is over Stripe's limit of {format_minor(MAX_MINOR, currency)}"
        )
    return int(scaled)


def to_major(minor: int, currency: str) -> Decimal:
    """Stripe's integer minor units back to the decimal amount people read (68500 EUR → 685.00)."""
    exp = exponent(currency)
    return Decimal(minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp))


def format_minor(minor: int, currency: str) -> str:
    return f"{to_major(minor, currency):,} {currency.upper()}"
