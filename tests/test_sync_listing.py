"""The account read in `created` windows side by side: exactly the set a serial read returns."""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections import Counter, deque

import pytest

from cohabs.shared.settings import Settings
from cohabs.shared.stripe.gateway import StripeGateway, Window, make_client
from cohabs.shared.stripe.listing import next_windows
from cohabs.shared.stripe.pacing import Pacer
from cohabs.sync.account import Remote
from cohabs.sync.account_read import read_all
from cohabs.sync.calls import SyncCalls
from cohabs.sync.kinds import KINDS
from cohabs.sync.rows import Kind
from devkit.fake_stripe import FakeStripe, Recorded
from tests.helpers import TEST_KEY

STRIPE_NAMES = {kind: description.resource for kind, description in KINDS.items()}


def page_of(objects: list[Remote], window: Window, limit: int = 100) -> tuple[list[Remote], bool]:
    """Stripe's list, in memory: newest first, filtered on created, after a cursor."""
    found = [
        o
        for o in objects
        if (window.since is None or o.created >= window.since) and (window.until is None or o.created < window.until)
    ]
    if window.after:
        found = found[[o.id for o in found].index(window.after) + 1 :]
    return found[:limit], len(found) > limit


def read_in_windows(objects: list[Remote], rng: random.Random) -> list[Remote]:
    """Follow next_windows to the end, with a different number of idle readers at every step."""
    found: list[Remote] = []
    queue = deque([Window()])
    while queue:
        window = queue.popleft()
        page, more = page_of(objects, window)
        found += page
        queue.extend(next_windows(window, page, more, rng.randrange(0, 14)))
    return found


@pytest.mark.parametrize(
    "created",
    [
        pytest.param(lambda rng, i: 1_700_000_000 + rng.randrange(0, 365 * 86400), id="over a year"),
        pytest.param(lambda rng, i: 1_700_000_000, id="all in one second"),
        pytest.param(lambda rng, i: 1_700_000_000 + rng.choice([0, 1, 2, 86400, 86401]), id="a few busy seconds"),
        pytest.param(lambda rng, i: 1_700_000_000 + i // 7, id="seven a second"),
        pytest.param(lambda rng, i: rng.choice([1, 1_700_000_000 + rng.randrange(0, 3600)]), id="old and new"),
    ],
)
def test_windows_find_every_object_once_however_their_times_fall(created) -> None:
    rng = random.Random(8)
    times = sorted((created(rng, i) for i in range(2345)), reverse=True)
    objects = [Remote(Kind.USER, f"cus_{i:05d}", None, t) for i, t in enumerate(times)]
    for trial in range(5):
        found = read_in_windows(objects, random.Random(trial))
        assert Counter(o.id for o in found) == Counter(o.id for o in objects)


def edges(windows: list[Window], cursor_at: float = math.inf) -> list[tuple[float, float]]:
    """Each window's [since, until), a window read after a cursor ending at `cursor_at`."""
    return sorted(
        (
            -math.inf if w.since is None else w.since,
            cursor_at if w.after else math.inf if w.until is None else w.until,
        )
        for w in windows
    )


def test_a_full_page_with_readers_idle_is_cut_back_in_time_and_covers_everything_older() -> None:
    newest = 1_700_000_000
    page = [Remote(Kind.USER, f"cus_{i}", None, newest - i) for i in range(100)]  # a page covering 100 seconds
    windows = next_windows(Window(), page, True, idle=6)
    assert windows[0] == Window(since=newest - 99 - 200, after="cus_99")  # about two more pages on the cursor
    assert [w.until - w.since for w in windows[1:-1] if w.until and w.since] == [800, 3200, 12800]
    assert windows[-1].since is None
    bounds = edges(windows)
    assert all(high == low for (_, high), (low, _) in itertools.pairwise(bounds))  # no gap, no overlap
    assert bounds[0][0] == -math.inf and bounds[-1][1] == math.inf
    assert next_windows(Window(), page, True, idle=1) == [Window(after="cus_99")]
    assert next_windows(Window(), page, False, idle=6) == []


def test_a_bounded_window_is_cut_in_parts_of_about_two_pages() -> None:
    page = [Remote(Kind.USER, f"cus_{i}", None, 10_000 - i) for i in range(100)]
    windows = next_windows(Window(since=9_000, until=20_000), page, True, idle=16)
    assert windows[0].after == "cus_99" and windows[0].until == 20_000
    assert len(windows) == 4  # about nine pages left, in parts of two or more
    bounds = edges(windows, cursor_at=9_901)
    assert bounds[0][0] == 9_000 and bounds[-1][1] == 9_901
    assert all(high == low for (_, high), (low, _) in itertools.pairwise(bounds))


@pytest.fixture
def calls(fake: FakeStripe) -> SyncCalls:
    settings = Settings(stripe_key=TEST_KEY, stripe_api_base=fake.url)
    pacer = Pacer(1000.0, 1000.0, clock=time.monotonic, sleep=time.sleep)
    return SyncCalls(StripeGateway(make_client(settings), pacer, sleep=time.sleep))


def stored(fake: FakeStripe) -> Counter[str]:
    return Counter(o["id"] for kind in STRIPE_NAMES.values() for o in fake.all(kind) if not o.get("deleted"))


def test_an_account_made_over_time_is_read_in_windows_side_by_side(calls: SyncCalls, fake: FakeStripe) -> None:
    fake.seed(1200, 300, 1100)
    found = read_all(calls, tuple(Kind), readers=8)
    assert Counter(r.id for r in found) == stored(fake)
    lists = [r for r in fake.requests if r.method == "GET"]
    windowed = [r for r in lists if "created" in r.params]
    assert len(windowed) > len(lists) / 2
    assert {frozenset(r.params["created"]) for r in windowed} <= {
        frozenset({"gte"}),
        frozenset({"lt"}),
        frozenset({"gte", "lt"}),
    }
    assert len(lists) <= 2 * (12 + 3 + 11) + 12  # 26 pages; windows end half empty, a few guesses find nothing


def test_objects_sharing_one_second_are_read_by_one_cursor(calls: SyncCalls, fake: FakeStripe) -> None:
    second = int(fake.now())
    fake.seed(450, 0, 0, since=second, until=second + 1)
    found = read_all(calls, (Kind.USER,), readers=8)
    assert Counter(r.id for r in found) == stored(fake)
    assert {r.created for r in found} == {second}


def test_objects_created_while_the_read_runs_are_never_doubled_and_nothing_older_is_missed(
    calls: SyncCalls, fake: FakeStripe
) -> None:
    fake.seed(700, 0, 0, until=int(fake.now()))  # the fake's clock stands still: the late ones are newer
    before = stored(fake)
    made = 0
    once = threading.Lock()

    def create_while_reading(stage: str, request: Recorded) -> None:
        nonlocal made
        if stage != "received" or request.method != "GET":
            return
        with once:
            if made >= 30:
                return
            for _ in range(5):
                fake.handle(
                    "POST",
                    "/v1/customers",
                    {"email": f"late{made}@example.com"},
                    {"authorization": f"Bearer {TEST_KEY}"},
                    "",
                )
                made += 1

    fake.hook = lambda stage, request: create_while_reading(stage, request)
    found = Counter(r.id for r in read_all(calls, (Kind.USER,), readers=8))
    fake.hook = None
    assert made == 30
    assert max(found.values()) == 1
    assert before - found == Counter()  # every object older than the read
    assert set(found) - set(before) <= set(stored(fake)) - set(before)
