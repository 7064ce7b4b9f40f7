"""Stopping a run cleanly: on Ctrl-C, on SIGTERM, or when Stripe stops answering.

A stop never cuts a request short. No request starts once the flag is set;
those already in flight finish and their ids are stored; the run then writes
its report (done, not finished) and exits with the stop's own code.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from enum import StrEnum
from types import FrameType


class StopReason(StrEnum):
    INTERRUPTED = "interrupted"  # SIGINT, Ctrl-C
    TERMINATED = "terminated"  # SIGTERM
    UNREACHABLE = "stripe_unreachable"  # several requests in a row got no answer


class Stopped(Exception):
    """Raised where a request would start once the run is stopping: that request was not sent."""

    def __init__(self, reason: StopReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class StopFlag:
    """Set once, by a signal handler or by the gateway; read by every worker before each request."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: StopReason | None = None
        self.detail = ""
        self.writing = False  # before the first write, a signal simply ends the run: nothing to finish

    def stop(self, reason: StopReason, detail: str) -> None:
        with self._lock:
            if self.reason is None:  # the first cause is the one the report names
                self.reason, self.detail = reason, detail
                self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Stopped when the run is stopping, so that no new request starts."""
        if self._event.is_set():
            assert self.reason is not None
            raise Stopped(self.reason, self.detail)


_SIGNALS = {
    signal.SIGINT: (StopReason.INTERRUPTED, "interrupted (Ctrl-C)"),
    signal.SIGTERM: (StopReason.TERMINATED, "terminated (SIGTERM)"),
}


@contextlib.contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[None]:
    """While inside: SIGINT and SIGTERM set `flag`; a second Ctrl-C quits at once, as a person expects."""

    def handle(number: int, frame: FrameType | None) -> None:
        reason, detail = _SIGNALS[signal.Signals(number)]
        if not flag.writing:
            raise Stopped(reason, f"{detail} before any change")
        if flag.is_set() and number == signal.SIGINT:
            raise KeyboardInterrupt
        flag.stop(reason, detail)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (a test calling in from a worker thread)
        return
    previous = {number: signal.signal(number, handle) for number in _SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
