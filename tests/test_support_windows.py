"""Where support's bounded lists read: windows around the rows' dates, cut to about a page each (pure)."""

from __future__ import annotations

import itertools

from cohabs.shared.stripe.gateway import Window
from cohabs.support.listing import DAY, PART, PARTS, around, cut, if_cheaper

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
