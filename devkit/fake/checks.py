"""What Stripe refuses in the values of a request, whatever the resource."""

from __future__ import annotations

import re
from typing import Any

from .errors import fail
from .store import Params

MAX_AMOUNT = 99_999_999  # Stripe's ceiling for an amount in minor units, any currency: eight digits


def metadata(params: Params) -> dict[str, str]:
    """The request's metadata, within Stripe's limits: 50 keys, keys up to 40 characters, values up to 500."""
    given = params.get("metadata") or {}
    if len(given) > 50:
        raise fail("Invalid metadata: at most 50 keys")
    for key, value in given.items():
        if len(key) > 40 or len(str(value)) > 500:
            raise fail(f"Invalid metadata[{key}]: keys up to 40 characters, values up to 500")
    return dict(given)


def merged_metadata(current: dict[str, str], params: Params) -> dict[str, str]:
    """An update's metadata: keys given replace, an empty value removes its key."""
    merged = {**current, **metadata(params)}
    return {k: v for k, v in merged.items() if v != ""}


def lengths(params: Params, limits: dict[str, int]) -> None:
    for key, limit in limits.items():
        if len(str(params.get(key) or "")) > limit:
            raise fail(f"Invalid {key}: must be at most {limit} characters", "parameter_invalid")


def currency(value: str) -> str:
    lowered = value.lower()
    if not re.fullmatch(r"[a-z]{3}", lowered):
        raise fail(f"Invalid currency: {value}.", "parameter_invalid")
    return lowered


def amount(value: Any, minimum: int) -> int:
    """An `amount` in minor units, between `minimum` and Stripe's ceiling."""
    number = int(value)
    if number < minimum:
        raise fail(f"Amount must be at least {minimum} in minor units.", "amount_too_small")
    if number > MAX_AMOUNT:
        raise fail(f"Amount must be no more than {MAX_AMOUNT} in minor units.", "amount_too_large")
    return number


def as_list(value: Any) -> list[Any]:
    """The SDK sends lists as `name[0]=…&name[1]=…`, which decode to digit-keyed dicts."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=int)]
    return list(value) if isinstance(value, list) else [value]
