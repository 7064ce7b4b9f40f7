"""Paying by bank transfer (`customer_balance`): the transfer type per currency and the address to pay."""

from __future__ import annotations

from typing import Any

from ..checks import as_list
from ..errors import fail
from ..store import Obj, digits

# The bank transfer type Stripe offers per currency, the address type it shows for it, and its networks.
BANK_TRANSFERS = {
    "eur": ("eu_bank_transfer", "iban", ["sepa"]),
    "gbp": ("gb_bank_transfer", "sort_code", ["bacs", "fps"]),
    "jpy": ("jp_bank_transfer", "zengin", ["zengin"]),
    "mxn": ("mx_bank_transfer", "spei", ["spei"]),
    "usd": ("us_bank_transfer", "aba", ["ach", "domestic_wire_us"]),
}
EU_BANK_COUNTRIES = ("BE", "DE", "ES", "FR", "IE", "NL")


def transfer_type(currency: str) -> str:
    return BANK_TRANSFERS[currency][0]


def options(given: dict[str, Any], currency: str) -> Obj:
    """`payment_method_options[customer_balance]` as Stripe keeps them, once checked against the currency."""
    transfer = given.get("bank_transfer")
    if given.get("funding_type") != "bank_transfer" or not transfer:
        raise fail(
            "payment_method_options[customer_balance] needs funding_type=bank_transfer and bank_transfer[type].",
            "parameter_missing",
        )
    expected = BANK_TRANSFERS.get(currency, ("", "", []))[0]
    if transfer["type"] != expected:
        raise fail(
            f"Invalid payment_method_options[customer_balance][bank_transfer][type]: {transfer['type']} cannot "
            f"take {currency} (it needs {expected or 'a currency Stripe takes bank transfers in'}).",
            "parameter_invalid",
        )
    shaped: Obj = {"type": expected, "requested_address_types": as_list(transfer.get("requested_address_types"))}
    if expected == "eu_bank_transfer":
        shaped["eu_bank_transfer"] = {"country": _eu_country(transfer)}
    return {"funding_type": "bank_transfer", "bank_transfer": shaped}


def _eu_country(transfer: dict[str, Any]) -> str:
    country = (transfer.get("eu_bank_transfer") or {}).get("country")
    if not country:
        raise fail(
            "Missing required param: payment_method_options[customer_balance][bank_transfer][eu_bank_transfer][country].",
            "parameter_missing",
        )
    if country not in EU_BANK_COUNTRIES:
        raise fail(f"Invalid country {country}: must be one of {', '.join(EU_BANK_COUNTRIES)}.", "parameter_invalid")
    return str(country)


def _postal(country: str) -> Obj:
    """An address as financial addresses carry them (every field present, most of them empty)."""
    return {"city": None, "country": country or None, "line1": None, "line2": None, "postal_code": None, "state": None}


def address(customer: str, currency: str, chosen: Obj) -> Obj:
    """The customer's virtual bank account: the same one for every payment of that customer.

    Shaped as the pinned SDK's FinancialAddress for its type (iban, sort_code, aba, zengin, spei).
    """
    _, kind, networks = BANK_TRANSFERS[currency]
    number = digits(customer + currency, 12)
    holder = "Fake Stripe Payments"
    country = chosen["bank_transfer"].get("eu_bank_transfer", {}).get("country", "")
    home = {"iban": country, "sort_code": "GB", "aba": "US", "zengin": "JP", "spei": "MX"}[kind]
    places = {"account_holder_address": _postal(home), "bank_address": _postal(home)}
    details = {
        "iban": {
            "account_holder_name": holder,
            "bic": "FAKEBEBBXXX",
            "country": country,
            "iban": f"{country}00{number}",
        },
        "sort_code": {"account_holder_name": holder, "account_number": number[:8], "sort_code": "000000"},
        "aba": {
            "account_holder_name": holder,
            "account_number": number,
            "account_type": "checking",
            "bank_name": "Fake Bank",
            "routing_number": "000000000",
        },
        "zengin": {
            "account_holder_name": holder,
            "account_number": number[:7],
            "account_type": "futsu",
            "bank_code": "0000",
            "bank_name": "Fake Bank",
            "branch_code": "000",
            "branch_name": "Main",
        },
        "spei": {
            "account_holder_name": holder,
            "bank_code": "000",
            "bank_name": "Fake Bank",
            "clabe": number + "000000",
        },
    }[kind]
    return {"type": kind, kind: {**places, **details}, "supported_networks": networks}
