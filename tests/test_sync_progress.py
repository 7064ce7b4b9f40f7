"""The progress line: counts, rate and ETA per kind."""

from __future__ import annotations

import io

from cohabs.sync.progress import Progress
from cohabs.sync.rows import Kind


def test_progress_shows_counts_rate_and_eta_and_ends_each_kind_on_its_own_line() -> None:
    moments = iter([0.0, 1.0, 2.0, 3.0])
    stream = io.StringIO()
    progress = Progress(stream, {Kind.USER: 3, Kind.LEASE: 1}, clock=lambda: next(moments))
    progress.tick(Kind.USER)
    progress.tick(Kind.USER)
    assert stream.getvalue().endswith("2/3   1.0 rows/s ETA    1s")
    progress.tick(Kind.USER)
    progress.tick(Kind.LEASE)
    lines = stream.getvalue().split("\n")
    assert lines[0].endswith("3/3   1.0 rows/s ETA    0s")
    assert lines[1].startswith("\rleases  [" + "#" * 30 + "] 1/1")
