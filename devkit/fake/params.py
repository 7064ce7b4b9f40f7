"""Which parameters the official SDK declares, read from its own typed params.

The fake Stripe rejects anything else, the way Stripe answers
"Received unknown parameter". Reading the SDK's TypedDicts keeps the fake in
step with the SDK version the project pins.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

import stripe.params
from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject
from typing_extensions import is_typeddict

_NAMES = {"StripeContext": object, "Mapping": typing.Mapping}
_OPTIONS = frozenset(RequestOptions.__annotations__)
_INT = re.compile(r"^-?\d+$")


@functools.cache
def fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, localns=_NAMES)
    return {k: v for k, v in hints.items() if k not in _OPTIONS}


def params_class(name: str) -> type:
    return typing.cast(type, getattr(stripe.params, name))


def _empty_allowed(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_empty_allowed(a) for a in get_args(tp))
    return origin is Literal and "" in get_args(tp)


def check(value: Any, tp: Any, path: str, errors: list[str]) -> None:
    """Append to `errors` what Stripe would reject in `value` (form-decoded strings)."""
    origin, args = get_origin(tp), get_args(tp)
    if value == "" and not _empty_allowed(tp):
        errors.append(
            f"You passed an empty string for '{path}'. We assume empty values are an attempt to unset a "
            f"parameter; however '{path}' cannot be unset."
        )
        return
    if origin in (Union, types.UnionType):
        attempts = []
        for alternative in args:
            found: list[str] = []
            check(value, alternative, path, found)
            if not found:
                return
            attempts.append(found)
        # Report the alternative of the same shape as the value (a hash, a list, a scalar).
        shaped = [a for a, alt in zip(attempts, args, strict=True) if _shape(alt) == _shape_of(value)]
        errors.extend((shaped or attempts)[0])
        return
    if origin is Literal:
        if str(value) not in {str(a) for a in args}:
            errors.append(f"Invalid {path}: must be one of {', '.join(map(str, args))}")
        return
    if origin is list:
        items = _as_list(value)
        if items is None:
            errors.append(f"Invalid array: {path}")
            return
        for index, item in enumerate(items):
            check(item, args[0], f"{path}[{index}]", errors)
        return
    if origin is dict or tp is UntypedStripeObject or origin is UntypedStripeObject:
        if not isinstance(value, dict):
            errors.append(f"Invalid object: {path}")
            return
        value_type = args[1] if origin is dict else str
        for key, item in value.items():
            check(item, value_type, f"{path}[{key}]", errors)
        return
    if is_typeddict(tp):
        if not isinstance(value, dict):
            errors.append(f"Invalid object: {path}")
            return
        check_object(value, tp, errors, prefix=path)
        return
    if isinstance(value, dict):
        errors.append(f"Invalid {path}: expected a value, got a hash")
    elif tp is bool and value not in ("true", "false"):
        errors.append(f"Invalid boolean: {value}")
    elif tp is int and not _INT.match(str(value)):
        errors.append(f"Invalid integer: {value}")
    elif tp in (float, Decimal):
        try:
            float(value)
        except (TypeError, ValueError):
            errors.append(f"Invalid decimal: {value}")


def check_object(value: dict[str, Any], cls: type, errors: list[str], prefix: str = "") -> None:
    declared = fields(cls)
    for key, item in value.items():
        path = f"{prefix}[{key}]" if prefix else key
        if key not in declared:
            errors.append(f"Received unknown parameter: {path}")
            continue
        check(item, declared[key], path, errors)
    for key in getattr(cls, "__required_keys__", ()):
        if key not in _OPTIONS and key not in value:
            errors.append(f"Missing required param: {f'{prefix}[{key}]' if prefix else key}.")


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(k.isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    return None


def _shape(tp: Any) -> str:
    origin = get_origin(tp)
    if is_typeddict(tp) or origin is dict or tp is UntypedStripeObject:
        return "hash"
    return "list" if origin is list else "scalar"


def _shape_of(value: Any) -> str:
    if isinstance(value, dict):
        return "list" if value and all(k.isdigit() for k in value) else "hash"
    return "list" if isinstance(value, list) else "scalar"
