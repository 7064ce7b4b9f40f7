"""The account read at Stripe's limits: each list cut into `created` windows that are read side by side.

A list read page after page waits one round trip per page. Stripe lets a list
be filtered to a range of creation times (`created[gte]`, `created[lt]`, whole
seconds), so disjoint windows can each be paged with their own cursor at the
same time. Where the objects lie is learnt as pages arrive: every full page
tells how densely its window is filled, and what is left below it is cut into
new windows for idle readers. Windows never overlap and always cover
everything older than where the read began, so the result is the set a serial
read returns: objects sharing one second stay with one cursor, and an object
created during the read is newer than every window's cursor (found by neither).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol, TypeVar

from cohabs.shared.settings import Settings
from cohabs.shared.stripe.gateway import Window

GUESSES = 3  # windows cut back in time from the first page, before the open-ended rest


class Listed(Protocol):
    """What the windowed read needs of a listed object: its id (the cursor) and when it was created."""

    @property
    def id(self) -> str: ...
    @property
    def created(self) -> int: ...


T = TypeVar("T", bound=Listed)
K = TypeVar("K", bound=Hashable)
ReadPage = Callable[[Window], tuple[Sequence[T], bool]]  # one page of a window, newest first, and whether more follow


def readers(settings: Settings) -> int:
    """Windows of one list read at once: about half a second of its endpoint's budget."""
    return max(2, min(16, math.ceil(settings.endpoint_rate / 2)))


def next_windows(window: Window, page: Sequence[Listed], more: bool, idle: int) -> list[Window]:
    """What to read after one page of `window`: the rest of it, cut into at most `idle` windows.

    The first window returned goes on from the page's cursor. When readers are
    idle and enough is left, the rest is cut by creation time: in equal parts
    when the window has a lower end, at the density this page showed; in parts
    four times longer each step back in time when it has none (how far back
    the objects go is not known yet), then one window for all that is older.
    A part is cut only where about two pages are expected, so few requests come
    back empty or half empty.
    """
    if not more or not page:
        return []
    oldest, newest = page[-1].created, page[0].created
    span = newest - oldest + 1  # seconds one page covered here
    rest = Window(window.since, window.until, after=page[-1].id)
    if window.since is None:
        upper = oldest - 2 * span
        if idle <= 1 or upper <= 0:
            return [rest]
        windows = [Window(upper, window.until, after=rest.after)]
        width = 8 * span
        for _ in range(min(idle - 2, GUESSES)):
            if upper - width <= 0:  # nothing in Stripe was created before 1970
                break
            windows.append(Window(upper - width, upper))
            upper, width = upper - width, width * 4
        return [*windows, Window(None, upper)]
    parts = min(idle, (oldest - window.since) // (2 * span))
    if parts <= 1:
        return [rest]
    bounds = [window.since + (oldest - window.since) * i // parts for i in range(parts)]
    return [Window(bounds[-1], window.until, after=rest.after)] + [
        Window(low, high) for low, high in itertools.pairwise(bounds) if low < high
    ]


def read_all(lists: Mapping[K, ReadPage[T]], readers: int, start: Mapping[K, Window] | None = None) -> dict[K, list[T]]:
    """Every object of each list, each read by up to `readers` windows at once.

    `start` bounds a list to a range of creation times where only that range matters.
    """
    found: dict[K, list[T]] = {name: [] for name in lists}
    queued = {name: deque([(start or {}).get(name, Window())]) for name in lists}
    reading: dict[Future[tuple[Sequence[T], bool]], tuple[K, Window]] = {}
    active = dict.fromkeys(lists, 0)
    with ThreadPoolExecutor(max_workers=max(1, readers * len(lists)), thread_name_prefix="list") as pool:
        try:
            while True:
                for name, windows in queued.items():
                    while windows and active[name] < readers:
                        window = windows.popleft()
                        reading[pool.submit(lists[name], window)] = (name, window)
                        active[name] += 1
                if not reading:
                    return found
                done, _ = wait(reading, return_when=FIRST_COMPLETED)
                for future in done:
                    name, window = reading.pop(future)
                    active[name] -= 1
                    page, more = future.result()
                    found[name] += page
                    idle = readers - active[name] - len(queued[name])
                    queued[name].extend(next_windows(window, page, more, idle))
        finally:
            for future in reading:
                future.cancel()
