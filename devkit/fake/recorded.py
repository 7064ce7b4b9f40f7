"""Every request the fake received, kept for tests to inspect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    body: str
    status: int = 0  # what it was answered; 0 until then, or when the answer was lost
