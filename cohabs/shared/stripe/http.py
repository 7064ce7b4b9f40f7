"""The SDK's HTTP client, watched: every attempt, the SDK's own retries included, is seen here.

Two things are learnt only at this depth: whose stored error a keyed request met
(idempotency.KeyHistory), and whether Stripe still answers at all
(Reachability), since the SDK retries connection errors out of the gateway's
sight.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import stripe

from cohabs.shared.stopping import StopFlag, StopReason
from cohabs.shared.stripe.idempotency import KeyHistory

UNANSWERED = 3  # requests in a row that got no answer, after which the run stops sending


class Reachability:
    """Stops the run when Stripe no longer answers, so that a dead server costs seconds, not hours.

    Two signs, either enough: requests that failed to connect after all of the
    SDK's retries, several in a row (a server that refuses connections); or
    attempts that timed out on several workers at once (a server that hangs:
    waiting out every retry of every request would take five timeouts each).
    Any answer in between, even an error, starts both counts again, so one
    slow or failing request never stops a run on its own.
    """

    def __init__(self, stop: StopFlag, where: str, limit: int = UNANSWERED) -> None:
        self._stop = stop
        self._where = where
        self._limit = limit
        self._failed = 0
        self._timing_out: set[int] = set()  # worker threads: the SDK retries a request in the thread that sent it
        self._lock = threading.Lock()

    def gave_up(self) -> bool:
        return self._stop.reason is StopReason.UNREACHABLE

    def answered(self) -> None:
        with self._lock:
            self._failed = 0
            self._timing_out.clear()

    def attempt_failed(self, reason: str) -> None:
        """One attempt got no answer; only a timeout counts here (a lost answer is retried and often lands)."""
        if "timed out" not in reason.lower():
            return
        with self._lock:
            self._timing_out.add(threading.get_ident())
            over = len(self._timing_out) >= self._limit
        if over:
            self._give_up(f"{self._limit} requests timed out together ({reason})")

    def request_failed(self, reason: str) -> None:
        """A request got no answer after all of the SDK's retries."""
        with self._lock:
            self._failed += 1
            over = self._failed >= self._limit
        if over:
            self._give_up(f"{self._limit} requests in a row got no answer after their retries ({reason})")

    def _give_up(self, why: str) -> None:
        self._stop.stop(
            StopReason.UNREACHABLE, f"{self._where} stopped answering: {why}; run again once it answers to finish"
        )


class ObservingClient(stripe.RequestsClient):
    """The SDK's HTTP client, telling the key history and the reachability about every attempt."""

    def __init__(self, history: KeyHistory, reachability: Reachability | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._history = history
        self._reachability = reachability

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        key = (headers or {}).get("Idempotency-Key")
        if self._reachability is not None and self._reachability.gave_up():
            # The SDK is about to retry against a Stripe the run gave up on: not sent, not retried.
            raise stripe.APIConnectionError("not sent: the run stopped sending to Stripe", should_retry=False)  # type: ignore[no-untyped-call]
        try:
            content, status, answer = super().request(method, url, headers, post_data)
        except stripe.APIConnectionError as exc:
            if key:
                self._history.answered(key, None, False)
            if self._reachability is not None:
                self._reachability.attempt_failed(network_reason(exc))
            raise
        if self._reachability is not None:
            self._reachability.answered()
        if key:
            replayed = str(answer.get("Idempotent-Replayed", "")).lower() == "true"
            self._history.answered(key, status, replayed)
        return content, status, answer


def network_reason(exc: stripe.APIConnectionError) -> str:
    """The cause in a few words ("Connection refused", "Read timed out"), not the SDK's paragraph."""
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"(Read timed out|Connection aborted|timed out)"):
        found = re.search(pattern, text)
        if found:
            return found.group(1).strip().rstrip(".")
    return "no connection"
