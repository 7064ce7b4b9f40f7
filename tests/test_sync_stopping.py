"""A sync that must stop, stops fast and says what it did: Stripe gone or hanging, Ctrl-C, SIGTERM.

Each run is `python sync.py --yes` in its own process, against the fake; the
fake's hook makes the trouble at a chosen request. Each stopped run exits with
its own code, leaves its reports, and the next run converges: one object per
row, nothing made twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe, Recorded
from devkit.mysql import Server
from tests.helpers import ROOT, db_env, finish_and_check, own_env_file, query

THIRD_LEASE = 3  # the trouble starts at the third subscription: users, rooms and leases are under way


def start(settings: Settings, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """`python sync.py --yes` in `cwd`, its output kept for the test to read."""
    own_env_file(cwd)
    environment = {
        **db_env(settings),
        "STRIPE_SECRET_KEY": settings.stripe_key or "",
        "STRIPE_API_BASE": settings.stripe_api_base or "",
        "STRIPE_RATE_LIMIT": "500",
        "STRIPE_ENDPOINT_RATE_LIMIT": "500",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "sync.py"), "--yes"],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def at_a_lease(stage: str, request: Recorded) -> bool:
    return stage == "received" and request.method == "POST" and request.path == "/v1/subscriptions"


class Moment:
    """Counts the requests a hook sees; `now()` is true once, at the chosen one, and records when."""

    def __init__(self, nth: int = THIRD_LEASE) -> None:
        self._left = nth
        self._lock = threading.Lock()
        self.at: float | None = None

    def now(self, stage: str, request: Recorded) -> bool:
        if not at_a_lease(stage, request):
            return False
        with self._lock:
            self._left -= 1
            if self._left:
                return False
            self.at = time.monotonic()
            return True


def the_report(cwd: Path) -> dict[str, object]:
    (path,) = (cwd / "reports").glob("sync-*.json")
    assert path.with_suffix(".md").is_file() and path.with_suffix(".csv").is_file()
    report: dict[str, object] = json.loads(path.read_text())
    return report


def not_finished(report: dict[str, object]) -> int:
    rows = report["rows"]
    assert isinstance(rows, list)
    return sum(1 for row in rows if row["result"] == "not_finished")


def test_stripe_refusing_connections_mid_run_stops_it_within_30_s_and_the_rerun_converges(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    moment, gone = Moment(), threading.Event()
    port = int(fake.url.rsplit(":", 1)[1])

    def hook(stage: str, request: Recorded) -> str | None:
        if gone.is_set():
            return "drop"  # a connection opened before the stop: cut, as a dead server's would be
        if moment.now(stage, request):
            gone.set()
            threading.Thread(target=fake.stop).start()  # from now on, connections are refused
            return "drop"
        return None

    fake.hook = hook
    process = start(settings, tmp_path)
    out, err = process.communicate(timeout=120)
    ended = time.monotonic()

    assert process.returncode == 1, out + err
    assert moment.at is not None and ended - moment.at < 30
    assert "stopped answering" in out and "run again to finish" in out
    assert "Traceback" not in err
    report = the_report(tmp_path)
    assert not_finished(report) > 0
    assert "Stopped:" in str(report["headline"])

    fake.hook = None
    fake.start(port)
    finish_and_check(settings, mysql_server, fake, restored, tmp_path)


def test_stripe_no_longer_answering_stops_the_run_within_about_two_timeouts(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    timeout = 1.0
    moment, hanging, release = Moment(), threading.Event(), threading.Event()

    def hook(stage: str, request: Recorded) -> str | None:
        if hanging.is_set() or moment.now(stage, request):
            hanging.set()
            release.wait(120)  # an answer that never comes while the run waits
            return "drop"  # released after the run ended: nothing done, nothing to race the rerun
        return None

    fake.hook = hook
    process = start(settings, tmp_path, STRIPE_TIMEOUT=str(timeout))
    try:
        out, err = process.communicate(timeout=120)
        ended = time.monotonic()
    finally:
        release.set()

    assert process.returncode == 1, out + err
    assert moment.at is not None
    # Two timeouts, and the second or so a run takes to write its reports and exit.
    assert ended - moment.at < 2 * timeout + 2, ended - moment.at
    assert "stopped answering" in out and "timed out" in out
    assert not_finished(the_report(tmp_path)) > 0

    fake.hook = None
    finish_and_check(settings, mysql_server, fake, restored, tmp_path)


def signalled(
    settings: Settings, fake: FakeStripe, cwd: Path, number: signal.Signals
) -> tuple[subprocess.CompletedProcess[str], Moment]:
    moment = Moment()
    process = start(settings, cwd)

    def hook(stage: str, request: Recorded) -> None:
        if moment.now(stage, request):
            os.kill(process.pid, number)  # this request goes on: the run lets it finish and stores its id

    fake.hook = lambda stage, request: hook(stage, request)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err), moment


def test_ctrl_c_mid_run_exits_130_with_its_report_and_the_rerun_converges(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done, moment = signalled(settings, fake, tmp_path, signal.SIGINT)

    assert moment.at is not None
    assert done.returncode == 130, done.stdout + done.stderr
    assert "interrupted (Ctrl-C)" in done.stdout and "Traceback" not in done.stderr
    assert "Reports: reports/sync-" in done.stderr
    assert not_finished(the_report(tmp_path)) > 0
    # Requests under way finished and their ids were stored: every object made is in its row.
    stored = {
        stripe_id
        for table, column in (
            ("users", "stripeCustomerId"),
            ("rooms", "stripeProductId"),
            ("leases", "stripeSubscriptionId"),
        )
        for (stripe_id,) in query(settings, mysql_server, f"SELECT {column} FROM {table}")
    }
    made = {o["id"] for kind in ("customers", "products", "subscriptions") for o in fake.all(kind)}
    assert made and made <= stored, made - stored

    fake.hook = None
    finish_and_check(settings, mysql_server, fake, restored, tmp_path)


def test_sigterm_mid_run_exits_143_with_its_report(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done, moment = signalled(settings, fake, tmp_path, signal.SIGTERM)

    assert moment.at is not None
    assert done.returncode == 143, done.stdout + done.stderr
    assert "terminated (SIGTERM)" in done.stdout
    assert not_finished(the_report(tmp_path)) > 0

    fake.hook = None
    finish_and_check(settings, mysql_server, fake, restored, tmp_path)
