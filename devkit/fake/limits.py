"""Stripe's rate limiters: the account's requests per second, each endpoint's, and requests in flight.

A refused request is answered 429 with the limiter's name in
`Stripe-Rate-Limited-Reason`: global-rate, endpoint-rate or global-concurrency.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

NAMED_ACTIONS = frozenset({"create_preview", "search"})  # `POST /v1/invoices/create_preview` is its own endpoint


def route_of(method: str, path: str) -> str:
    """The endpoint Stripe limits a request under: `POST /v1/subscriptions/{id}` for any id."""
    parts = path.strip("/").split("/")
    if len(parts) > 2 and parts[2] not in NAMED_ACTIONS:
        parts[2] = "{id}"
    return f"{method} /{'/'.join(parts)}"


class Window:
    """Requests admitted over the last second, to refuse the one too many."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def full(self, moment: float, limit: float) -> bool:
        while self._times and moment - self._times[0] >= 1.0:
            self._times.popleft()
        return len(self._times) >= limit

    def add(self, moment: float) -> None:
        self._times.append(moment)


class Limits:
    """Counts requests in as they arrive (sliding seconds) and out as they finish, for any limits asked."""

    def __init__(self) -> None:
        self.throttled = 0
        self.throttled_by: Counter[str] = Counter()  # 429s per Stripe-Rate-Limited-Reason
        self.admitted: Counter[str] = Counter()  # requests past the limiters, per endpoint
        self._lock = threading.Lock()
        self._account = Window()
        self._endpoints: dict[str, Window] = {}
        self._in_flight = 0

    def admit(
        self, endpoint: str, rate: float | None, endpoint_rate: float | None, concurrency: int | None
    ) -> str | None:
        """Count the request in, or name the limiter that refuses it (None: no limit)."""
        with self._lock:
            moment = time.monotonic()
            window = self._endpoints.setdefault(endpoint, Window())
            if concurrency is not None and self._in_flight >= concurrency:
                refused: str | None = "global-concurrency"
            elif endpoint_rate is not None and window.full(moment, endpoint_rate):
                refused = "endpoint-rate"
            elif rate is not None and self._account.full(moment, rate):
                refused = "global-rate"
            else:
                refused = None
                window.add(moment)
                self._account.add(moment)
                self._in_flight += 1
                self.admitted[endpoint] += 1
            if refused:
                self.throttled += 1
                self.throttled_by[refused] += 1
            return refused

    def done(self) -> None:
        """An admitted request finished: room for another in flight."""
        with self._lock:
            self._in_flight -= 1
