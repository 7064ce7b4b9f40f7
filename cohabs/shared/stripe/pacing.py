"""Client-side pacing modelled on Stripe's limiters: one budget for the account, one per endpoint, and a cap
on requests in flight.

Stripe counts every request against the account's global limit and against
the limit of its endpoint (each named operation, `POST /v1/customers` or
`DELETE /v1/subscriptions/{id}`, is one). A 429 names the limiter that
refused it in `Stripe-Rate-Limited-Reason`, so only that budget slows down.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

# After a 429 a budget runs at this fraction of its pace; each success wins back
# this fraction of its ceiling, so about twenty successes undo one 429.
SLOWER = 0.8
FASTER = 0.01


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation Stripe rate-limits on its own: a method and a route (`POST /v1/customers`)."""

    method: str
    route: str

    def __str__(self) -> str:
        return f"{self.method} {self.route}"


class Limiter(StrEnum):
    """The limiter a 429 names in its `Stripe-Rate-Limited-Reason` header."""

    GLOBAL_RATE = "global-rate"
    ENDPOINT_RATE = "endpoint-rate"
    GLOBAL_CONCURRENCY = "global-concurrency"
    ENDPOINT_CONCURRENCY = "endpoint-concurrency"
    RESOURCE = "resource-specific"

    @classmethod
    def named(cls, header: str | None) -> Limiter:
        """A 429 that names no limiter we know is read as the account's rate: the cautious reading."""
        try:
            return cls((header or "").strip().lower())
        except ValueError:
            return cls.GLOBAL_RATE


class Rate:
    """Requests per second that drop on a 429 and climb back with each success, never above the ceiling."""

    def __init__(self, ceiling: float, floor: float = 1.0) -> None:
        if ceiling <= 0:
            raise ValueError("a rate must be positive")
        self.ceiling = ceiling
        self.per_second = ceiling
        self.floor = min(floor, ceiling)

    def slower(self) -> None:
        self.per_second = max(self.floor, self.per_second * SLOWER)

    def faster(self) -> None:
        self.per_second = min(self.ceiling, self.per_second + FASTER * self.ceiling)


class InFlight:
    """How many requests may be under way at once: no cap until a concurrency 429, then one that adapts."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.limit = math.inf
        self.active = 0

    def enter(self) -> None:
        with self._changed:
            while self.active >= self.limit:
                self._changed.wait()
            self.active += 1

    def leave(self) -> None:
        with self._changed:
            self.active -= 1
            self._changed.notify()

    def shrink(self) -> None:
        with self._changed:
            self.limit = max(1.0, min(self.limit, float(self.active)) * SLOWER)

    def grow(self) -> None:
        if self.limit == math.inf:
            return
        with self._changed:
            self.limit += 0.1  # ten successes for one more request in flight
            self._changed.notify()


@dataclass
class Budget:
    """One endpoint's share: its own rate, its own cap in flight, and when its next request may leave."""

    rate: Rate
    in_flight: InFlight = field(default_factory=InFlight)
    next: float = 0.0


class Pacer:
    """Spaces requests so that neither the account's budget nor any endpoint's is exceeded.

    Each endpoint's requests leave evenly spaced at its rate. Across endpoints,
    the global budget keeps every two requests at least 1/rate apart; a request
    takes the earliest moment that fits both, so a busy endpoint never holds
    back a quiet one. Budgets exist for any endpoint on demand. Callers reserve
    their moment under the lock and sleep outside it.
    """

    def __init__(
        self,
        global_rate: float,
        endpoint_rate: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if endpoint_rate <= 0:
            raise ValueError("a rate must be positive")
        self.rate = Rate(global_rate)
        self.endpoint_rate = endpoint_rate
        self.in_flight = InFlight()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._budgets: dict[Endpoint, Budget] = {}
        self._taken: list[float] = []  # moments given out, ascending: the last second and the reserved future

    def budget(self, endpoint: Endpoint) -> Budget:
        with self._lock:
            return self._budget(endpoint)

    def _budget(self, endpoint: Endpoint) -> Budget:
        found = self._budgets.get(endpoint)
        if found is None:
            found = self._budgets[endpoint] = Budget(Rate(self.endpoint_rate))
        return found

    @contextlib.contextmanager
    def turn(self, endpoint: Endpoint) -> Iterator[None]:
        """Wait for a place in flight and a moment within every budget; the request runs inside."""
        budget = self.budget(endpoint)
        self.in_flight.enter()
        try:
            budget.in_flight.enter()
            try:
                self._wait_for_moment(budget)
                yield
            finally:
                budget.in_flight.leave()
        finally:
            self.in_flight.leave()

    def _wait_for_moment(self, budget: Budget) -> None:
        with self._lock:
            now = self._clock()
            gap = 1.0 / self.rate.per_second
            taken = self._taken
            del taken[: bisect.bisect_left(taken, now - 1.0)]
            moment = max(now, budget.next)
            index = bisect.bisect_left(taken, moment - gap)
            while index < len(taken) and taken[index] < moment + gap:
                moment = max(moment, taken[index] + gap)
                index += 1
            taken.insert(index, moment)
            budget.next = moment + 1.0 / budget.rate.per_second
        if moment > now:
            self._sleep(moment - now)

    def succeeded(self, endpoint: Endpoint) -> None:
        with self._lock:
            budget = self._budget(endpoint)
            budget.rate.faster()
            self.rate.faster()
        budget.in_flight.grow()
        self.in_flight.grow()

    def throttled(self, endpoint: Endpoint, limiter: Limiter) -> None:
        """Slow down only what the 429 named; a resource-specific one slows nothing but its own retry."""
        with self._lock:
            budget = self._budget(endpoint)
            if limiter is Limiter.ENDPOINT_RATE:
                budget.rate.slower()
            elif limiter is Limiter.GLOBAL_RATE:
                self.rate.slower()
        if limiter is Limiter.ENDPOINT_CONCURRENCY:
            budget.in_flight.shrink()
        elif limiter is Limiter.GLOBAL_CONCURRENCY:
            self.in_flight.shrink()
