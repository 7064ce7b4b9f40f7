"""Stripe's idempotency keys: the first outcome of a POST is kept under its key and replayed.

Replays carry `Idempotent-Replayed: true`; errors are kept too once the
request began executing (500s included), a key reused with other parameters is
an `idempotency_error`, and a key whose first request still runs answers 409
`idempotency_key_in_use`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import StripeFailure
from .store import Obj


@dataclass(frozen=True)
class Outcome:
    """What a key's first request answered."""

    fingerprint: str
    status: int
    body: Obj
    headers: dict[str, str]


class Idempotency:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: dict[str, Outcome | None] = {}  # None while the key's first request runs

    def run(self, key: str, request: list[Any], work: Callable[[], tuple[int, Obj]]) -> tuple[int, Obj, dict[str, str]]:
        """Status, body and the headers of a replay; a kept error is raised again, marked as replayed."""
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        replayed = self._begin(key, fingerprint)
        if replayed is not None:
            return replayed
        try:
            status, body = work()
        except StripeFailure as failure:
            self._keep(key, Outcome(fingerprint, failure.status, failure.body(), failure.headers))
            raise
        except BaseException:
            with self._lock:
                del self._outcomes[key]
            raise
        self._keep(key, Outcome(fingerprint, status, body, {}))
        return status, body, {}

    def _begin(self, key: str, fingerprint: str) -> tuple[int, Obj, dict[str, str]] | None:
        """The replay of the key's first outcome, or None once the key is marked as running."""
        with self._lock:
            if key not in self._outcomes:
                self._outcomes[key] = None
                return None
            saved = self._outcomes[key]
        if saved is None:
            raise StripeFailure(
                409,
                "There is currently another in-progress request using this Idempotent Key.",
                "idempotency_error",
                "idempotency_key_in_use",
            )
        if saved.fingerprint != fingerprint:
            raise StripeFailure(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                "idempotency_error",
            )
        replay = {**saved.headers, "Idempotent-Replayed": "true"}
        if saved.status >= 400:
            error = saved.body["error"]
            raise StripeFailure(saved.status, error["message"], error["type"], error.get("code"), replay)
        return saved.status, saved.body, replay

    def _keep(self, key: str, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes[key] = outcome
