"""A client-side token bucket that paces every Stripe request across threads."""

from __future__ import annotations

import threading
from collections.abc import Callable


class TokenBucket:
    """Hands out `rate` requests per second, one at a time, to any number of threads.

    Each caller reserves the next free slot under the lock and sleeps outside
    it, so waiters never queue on the lock itself. A 429 lowers the rate
    (multiplicative decrease); each success wins a little back (additive
    increase) up to the configured ceiling.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        floor: float = 1.0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.ceiling = rate
        self.rate = rate
        self.floor = min(floor, rate)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()  # the moment the next request may go

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
        if slot > now:
            self._sleep(slot - now)

    def throttled(self) -> None:
        with self._lock:
            self.rate = max(self.floor, self.rate * 0.7)

    def succeeded(self) -> None:
        if self.rate < self.ceiling:
            with self._lock:
                self.rate = min(self.ceiling, self.rate + 0.05 * self.ceiling / 10)
