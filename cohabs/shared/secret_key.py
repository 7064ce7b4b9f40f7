"""What a run may do with the Stripe key it was given.

A live key writes only with --live. Reading is different: a dry run or an
audit of the live account changes nothing, so it is allowed, and said aloud.
"""

from __future__ import annotations

from cohabs.shared.errors import CannotRun
from cohabs.shared.settings import Settings, mask_key


def guard_key(settings: Settings, *, writes: bool, allow_live: bool) -> str | None:
    """Refuse what the key must not do; return what the operator must be told, if anything."""
    if not settings.live:
        return None
    masked = mask_key(settings.stripe_key)
    if writes and not allow_live:
        raise CannotRun(
            f"STRIPE_SECRET_KEY is a live key ({masked}): rerun with --live to write to the live account "
            "(--dry-run and --verify read it without --live)"
        )
    if writes:
        return f"Writing to the LIVE Stripe account with key {masked}."
    return f"Reading the LIVE Stripe account with key {masked}: this run writes nothing, to Stripe or the database."


def require_key(settings: Settings, why: str) -> None:
    if not settings.stripe_key:
        raise CannotRun(f"STRIPE_SECRET_KEY is not set (in the environment or .env): {why}")
