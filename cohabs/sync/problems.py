"""Why a row was not synced, as a code: the report's advice is built from these, never from wording."""

from __future__ import annotations

from enum import StrEnum


class Problem(StrEnum):
    BAD_EMAIL = "bad_email"  # Stripe would reject the user's email
    NO_PRICE = "no_price"  # a room with neither baseRent nor rent
    BAD_AMOUNT = "bad_amount"  # NULL, zero, negative, too many decimals or over Stripe's ceiling
    BAD_LEASE = "bad_lease"  # dates or status the money rules cannot bill
    MISSING_REFERENCE = "missing_reference"  # userId or roomId matches no row
    UNKNOWN_HUB = "unknown_hub"  # no currency mapped for the lease's hub
    DEPENDENCY = "dependency"  # the lease's user or room is not synced
    CURRENCY_CONFLICT = "currency_conflict"  # one customer, two currencies
    DUPLICATE = "duplicate"  # the same tenant, room and dates as another lease
    NEEDS_FULL_RUN = "needs_full_run"  # --only: its user or room has no Stripe object yet
    STRIPE = "stripe"  # Stripe refused or did not answer
    NOT_FINISHED = "not_finished"  # the run stopped (Ctrl-C, SIGTERM, Stripe gone) before this row was done
    NOT_STORED = "not_stored"  # the object exists but its id could not be written
    LINK_CHANGED = "link_changed"  # a linked lease's user or room is gone, or is not the one its subscription bills
    CANCELLED_IN_STRIPE = "cancelled_in_stripe"  # an ongoing lease whose subscription was cancelled in Stripe
    BILLING_DRIFT = "billing_drift"  # a live subscription bills another amount, currency or end than its lease
    STRAY = "stray"  # a Stripe object carrying cohabs metadata that no row stores
    COPIED = "copied_customer"  # which customer Stripe's copy brought is the user's: a person decides


class Drift(StrEnum):
    """What --verify finds wrong with a stored link or its subscription: its advice is keyed by these."""

    NOT_LINKED = "not_linked"  # no Stripe id stored
    MISSING = "missing"  # the stored id is not in the account
    WRONG_KIND = "wrong_kind"  # the stored id is another kind of object
    LINKED_ELSEWHERE = "linked_elsewhere"  # the object's metadata names another row, or none
    WRONG_CUSTOMER = "wrong_customer"
    WRONG_PRODUCT = "wrong_product"
    WRONG_CURRENCY = "wrong_currency"
    WRONG_AMOUNT = "wrong_amount"
    NOT_CANCELLED = "not_cancelled"  # the lease is over, its subscription is not cancelled
    CANCELLED_EARLY = "cancelled_early"  # the lease is ongoing, its subscription is cancelled
    UNCLAIMED = "unclaimed"  # an object carries cohabs metadata but no row stores it
    WRONG_END = "wrong_end"  # the subscription is set to stop on another date than the lease's end
    WRONG_DAY = "wrong_day"  # it bills on another day of the month than the lease's rent day
    BILLED_TWICE = "billed_twice"  # a duplicated lease has a second live subscription
    ROW_INVALID = "row_invalid"  # the linked row cannot be billed as it stands (amount, hub, dates)
    DETAILS = "details"  # a customer's name, email or phone differ from the row
    COLLECTION = "collection"  # a subscription that still bills collects otherwise than the method chosen
    NO_DEFAULT = "no_default"  # a customer charged automatically has one usable card, not yet its default
    # A tenant who cannot pay yet (readiness.State): linked as it should be, waiting for a person.
    NO_PAYMENT_METHOD = "no_payment_method"  # charged automatically with nothing to charge
    STOPS_AT_TRIAL_END = "stops_at_trial_end"  # and the trial's end pauses or cancels the subscription
    NO_EMAIL = "no_email"  # invoiced by email, no email to send to
