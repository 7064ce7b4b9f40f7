"""Reading fields of Stripe objects, whether the SDK gave an object or a dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def value_at(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]…, through mappings or attributes; None as soon as a step is missing."""
    for step in path:
        if obj is None:
            return None
        obj = obj.get(step) if isinstance(obj, Mapping) else getattr(obj, step, None)
    return obj


def expandable_id(value: Any) -> str | None:
    # Expandable fields arrive as an id or as the object itself.
    return value if isinstance(value, str) or value is None else value_at(value, "id")
