"""Where support's bounded lists read: windows around the rows' dates, cut to about a page each (pure)."""

from __future__ import annotations

import itertools

from cohabs.shared.stripe.gateway import Window
from cohabs.support.account_read import DAY, PART, PARTS, around, cut, if_cheaper, rest_of
from cohabs.support.objects import Dispute

T0 = 1_650_000_000


def test_a_range_is_cut_where_a_page_of_rows_falls_and_nothing_is_left_out() -> None:
    known = [T0 + n * 60 for n in range(200)]
    windows = cut(T0 - DAY, T0 + DAY, known)
    assert windows == [
        Window(T0 - DAY, known[PART]),
        Window(known[PART], known[2 * PART]),
        Window(known[2 * PART], T0 + DAY),
    ]
    assert cut(None, None, known[:10]) == [Window()]  # under a page: the whole list, one cursor


def test_a_large_range_is_cut_into_a_bounded_number_of_windows() -> None:
    known = list(range(T0, T0 + 100 * PART * PARTS, 50))
    windows = cut(T0, None, known)
    assert len(windows) <= PARTS and windows[0].since == T0 and windows[-1].until is None
    assert all(a.until == b.since for a, b in itertools.pairwise(windows))


def test_ranges_around_dates_are_merged_when_they_meet_and_left_apart_when_they_do_not() -> None:
    known = [T0, T0 + 10 * DAY, T0 + 400 * DAY]
    windows = around(known, known, 45 * DAY, 45 * DAY)
    assert windows == [
        Window(T0 - 45 * DAY, T0 + 55 * DAY + 1),
        Window(T0 + 355 * DAY, T0 + 445 * DAY + 1),
    ]
    assert around([T0 + 400 * DAY, T0], known, 0, None) == [Window(T0, None)]  # up to now: one range
    assert around([], known, DAY, DAY) == []


def test_a_list_is_read_only_where_it_costs_fewer_requests_than_reading_each_object() -> None:
    windows = [Window(T0, T0 + DAY), Window(T0 + DAY, T0 + 2 * DAY)]
    assert if_cheaper(windows, 40) == windows
    assert if_cheaper(windows, 2) == []  # two objects: two retrieves are no dearer than two pages


def disputes_at(*times: int) -> list[Dispute]:
    return [Dispute(f"dp_{n}", 1000, "eur", "needs_response", f"ch_{n}", None, at) for n, at in enumerate(times)]


def test_the_disputes_after_the_newest_page_are_cut_by_how_many_the_rows_say_there_are() -> None:
    page = disputes_at(*range(T0 + 99 * 60, T0 - 1, -60))  # 100 disputes, one a minute
    windows = rest_of(page, expected=300, readers=13)
    # The 200 left at that density: about 200 minutes back, with room, in windows of about half a page.
    assert windows[0].after == "dp_99" and windows[0].until is None and windows[-1].since is None
    assert 4 <= len(windows) - 1 <= 13 and windows[-2].since is not None and windows[-2].since <= T0 - 200 * 60
    assert all(a.since == b.until for a, b in itertools.pairwise(windows))  # no gap, no overlap
    assert rest_of(page, expected=100, readers=13) == [Window(after="dp_99")]  # no estimate: the shared read
    same_second = disputes_at(*[T0] * 100)
    assert rest_of(same_second, expected=10_000, readers=13)[-1] == Window(None, T0 - 149)  # 1.5 x 9,900 / 100 a second
