"""Stripe's limits on text, applied before any call: what is cut or left out is said on the row.

Amounts have their own limit, in money.py.
"""

from __future__ import annotations

import re

from stripe.params import CustomerCreateParams, CustomerCreateParamsAddress

from cohabs.sync.kinds import LINK_KEYS
from cohabs.sync.rows import Kind, User

# What Stripe accepts as an email, closely enough that it will not reject one
# we let through: one @, no spaces, a dot in the domain, 512 characters at most.
_EMAIL = re.compile(
    r"^[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
# Stripe's length limits: customer email 512, customer and product names 256
# and 250 (250 for both keeps it simple), product descriptions 40,000,
# subscription descriptions 500, phone numbers 20. Address lines are kept to
# 200, well inside what Stripe takes, so an invoice can print them.
MAX_EMAIL = 512
MAX_NAME = 250
MAX_PHONE = 20
MAX_ADDRESS_LINE = 200
MAX_PRODUCT_DESCRIPTION = 40_000
MAX_SUBSCRIPTION_DESCRIPTION = 500


def email_problem(email: str | None) -> str | None:
    if not email:
        return "email is empty"
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        return f"email {email!r} would be rejected by Stripe"
    return None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clipped(what: str, text: str, limit: int, notes: list[str]) -> str:
    """`text` cut to `limit`, with a note saying so when it was."""
    if len(text) > limit:
        notes.append(f"{what} over {limit} characters: cut to {limit}")
    return clip(text, limit)


def customer_params(user: User) -> tuple[CustomerCreateParams, tuple[str, ...]]:
    """The billing minimum Stripe gets for a user, and a note for each field changed to fit.

    Name, email, phone, address and the link; never password, salt, birthdate,
    gender, socials or bio (they are not even read).
    """
    notes: list[str] = []
    params: CustomerCreateParams = {"metadata": {LINK_KEYS[Kind.USER]: user.id}}
    if user.email:
        params["email"] = user.email
    name = " ".join(filter(None, [user.first_name, user.last_name]))
    if name:
        params["name"] = clipped("name", name, MAX_NAME, notes)
    if user.phone:
        if len(user.phone) <= MAX_PHONE:
            params["phone"] = user.phone
        else:
            # A phone number cut short is someone else's number: better none.
            notes.append(f"phoneNumber over {MAX_PHONE} characters (Stripe's limit): not sent")
    if user.address:
        lines = [line.strip() for line in user.address.splitlines() if line.strip()]
        if len(lines) > 1:
            notes.append("address has line breaks: first line sent as line1, the rest as line2")
        address: CustomerCreateParamsAddress = {"line1": clipped("address line", lines[0], MAX_ADDRESS_LINE, notes)}
        if len(lines) > 1:
            address["line2"] = clipped("address line", ", ".join(lines[1:]), MAX_ADDRESS_LINE, notes)
        params["address"] = address
    return params, tuple(dict.fromkeys(notes))
