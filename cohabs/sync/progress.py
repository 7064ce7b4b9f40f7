"""A one-line progress bar per kind on a terminal; silence in a pipe."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from cohabs.sync.rows import Kind


class Progress:
    def __init__(self, stream: TextIO, totals: dict[Kind, int], clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._totals = totals
        self._done = dict.fromkeys(totals, 0)
        self._clock = clock
        self._started: dict[Kind, float] = {}
        self._last = 0.0

    def tick(self, kind: Kind) -> None:
        now = self._clock()
        self._started.setdefault(kind, now)
        self._done[kind] += 1
        finished = self._done[kind] == self._totals[kind]
        if finished or now - self._last >= 0.1:
            self._last = now
            self._draw(kind, now, finished)

    def _draw(self, kind: Kind, now: float, finished: bool) -> None:
        done, total = self._done[kind], self._totals[kind]
        elapsed = now - self._started[kind]
        rate = (done - 1) / elapsed if elapsed > 0 else 0.0  # the clock starts at the first row
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        self._stream.write(f"\r{kind.value:7} [{bar}] {done}/{total} {rate:5.1f} rows/s ETA {eta:4.0f}s")
        if finished:
            self._stream.write("\n")
        self._stream.flush()
