"""Why a row was not synced, as a code: the report's advice is built from these, never from wording."""

from __future__ import annotations

from enum import StrEnum


class Problem(StrEnum):
    BAD_EMAIL = "bad_email"  # Stripe would reject the user's email
    NO_PRICE = "no_price"  # a room with neither baseRent nor rent
    BAD_AMOUNT = "bad_amount"  # NULL, zero, negative or too many decimals
    BAD_LEASE = "bad_lease"  # dates or status the money rules cannot bill
    MISSING_REFERENCE = "missing_reference"  # userId or roomId matches no row
    UNKNOWN_HUB = "unknown_hub"  # no currency mapped for the lease's hub
    DEPENDENCY = "dependency"  # the lease's user or room is not synced
    CURRENCY_CONFLICT = "currency_conflict"  # one customer, two currencies
    DUPLICATE = "duplicate"  # the same tenant, room and dates as another lease
    NEEDS_FULL_RUN = "needs_full_run"  # --only: its user or room has no Stripe object yet
    STRIPE = "stripe"  # Stripe refused or did not answer
    NOT_STORED = "not_stored"  # the object exists but its id could not be written
