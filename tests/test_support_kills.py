"""Stop support.py mid-run (SIGKILL at each step of an item's life, Ctrl-C, SIGTERM, a Stripe that stops
answering), then rerun: each thing exactly once, and a rerun after that sends no write."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cohabs.shared.settings import Settings
from cohabs.support import cli as support_cli
from cohabs.support.items import Incident
from devkit.fake_stripe import FakeStripe, Recorded
from devkit.mysql import Server
from devkit.support_account import Seeded
from devkit.support_dump import SupportDump
from tests.helpers import (
    assert_each_once,
    assert_requested_once,
    assert_transferred_once,
    db_env,
    kill_inside_the_write,
    kill_when,
    lock_released,
    start_support,
    support,
    writes_held,
)


def finish_and_check(settings: Settings, server: Server, fake: FakeStripe, seeded: Seeded) -> None:
    """The next runs finish the work; one more run after them sends no write at all."""
    fake.hook = None
    lock_released(settings, server, "cohabs-support")
    support(settings, Incident.DISPUTES)
    support(settings, Incident.TRANSFERS)
    assert_each_once(settings, server, fake, seeded)
    writes = len(fake.writes())
    support(settings, Incident.DISPUTES)
    support(settings, Incident.TRANSFERS)
    assert len(fake.writes()) == writes


@pytest.mark.parametrize(
    ("incident", "stage", "path", "nth"),
    [
        (Incident.DISPUTES, "received", "/v1/payment_intents", 1),  # before the call: Stripe never saw it
        (Incident.DISPUTES, "processed", "/v1/payment_intents", 1),  # the request exists, its row was never written
        (Incident.TRANSFERS, "received", "/v1/transfers", 1),
        (Incident.TRANSFERS, "processed", "/v1/transfers", 2),  # one transfer reported, the next made but unheard of
    ],
)
def test_a_kill_around_a_stripe_call_is_finished_by_the_next_run(
    settings: Settings,
    mysql_server: Server,
    fake: FakeStripe,
    seeded: Seeded,
    tmp_path: Path,
    incident: Incident,
    stage: str,
    path: str,
    nth: int,
) -> None:
    seen: list[Recorded] = []

    def moment(at: str, request: Recorded) -> bool:
        if at == stage and request.method == "POST" and request.path == path:
            seen.append(request)
        return len(seen) == nth

    process = start_support(settings, tmp_path, incident)
    fake.hook = kill_when(fake, process, moment)
    assert process.wait(timeout=120) == -signal.SIGKILL
    finish_and_check(settings, mysql_server, fake, seeded)


def test_a_kill_inside_the_row_insert_is_finished_by_the_next_run(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    with writes_held(mysql_server, settings.db_name, "payments", "INSERT") as holder:
        kill_inside_the_write(
            holder, settings.db_name, "payments", start_support(settings, tmp_path, Incident.DISPUTES)
        )
    assert len(fake.all("payment_intents")) > len(seeded.charges)  # the request was made, its row rolled back
    finish_and_check(settings, mysql_server, fake, seeded)


def nth_write(path: str, nth: int, stage: str = "received") -> Callable[[str, Recorded], bool]:
    """The moment the fake sees the nth create on `path`."""
    seen: list[Recorded] = []

    def moment(at: str, request: Recorded) -> bool:
        if at == stage and request.method == "POST" and request.path == path:
            seen.append(request)
            return len(seen) == nth
        return False

    return moment


def finish_many(settings: Settings, server: Server, fake: FakeStripe, seeded: Seeded, dump: SupportDump) -> None:
    """The next runs finish both jobs, each thing made once; one more run sends no write."""
    fake.hook = None
    lock_released(settings, server, "cohabs-support")
    for incident in (Incident.DISPUTES, Incident.TRANSFERS):
        support(settings, incident)
    assert_requested_once(settings, server, fake, seeded, dump)
    assert_transferred_once(fake, seeded, dump)
    writes = len(fake.writes())
    for incident in (Incident.DISPUTES, Incident.TRANSFERS):
        support(settings, incident)
    assert len(fake.writes()) == writes


@pytest.mark.parametrize(
    ("incident", "path"), [(Incident.DISPUTES, "/v1/payment_intents"), (Incident.TRANSFERS, "/v1/transfers")]
)
def test_a_kill_with_many_items_in_flight_is_finished_by_the_next_run(
    settings: Settings,
    mysql_server: Server,
    fake: FakeStripe,
    many_seeded: Seeded,
    many_data: SupportDump,
    tmp_path: Path,
    incident: Incident,
    path: str,
) -> None:
    fake.latency = 0.05  # requests take a while, so that many are under way when the kill lands
    process = start_support(settings, tmp_path, incident)
    fake.hook = kill_when(fake, process, nth_write(path, 20, "processed"))
    assert process.wait(timeout=120) == -signal.SIGKILL
    made = [r for r in fake.writes() if r.path == path]
    assert 20 <= len(made) < 40  # killed mid-run, with creates made whose answers never arrived
    fake.latency = 0.0
    finish_many(settings, mysql_server, fake, many_seeded, many_data)


@pytest.mark.parametrize(
    ("sent", "code", "reason"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_lets_the_items_under_way_finish_reports_the_rest_and_the_next_run_converges(
    settings: Settings,
    mysql_server: Server,
    fake: FakeStripe,
    many_seeded: Seeded,
    many_data: SupportDump,
    tmp_path: Path,
    sent: signal.Signals,
    code: int,
    reason: str,
) -> None:
    # 20 requests a second: the signal lands with a few items under way and most not started.
    process = start_support(settings, tmp_path, Incident.TRANSFERS, STRIPE_RATE_LIMIT="20")
    moment = nth_write("/v1/transfers", 10)

    def hook(stage: str, request: Recorded) -> None:
        if moment(stage, request):
            os.kill(process.pid, sent)

    fake.hook = hook
    assert process.wait(timeout=120) == code
    (report,) = (tmp_path / "reports").glob("support-transfers-run-*.json")
    written = json.loads(report.read_text())
    assert written["stopped"] == reason
    # What was under way finished and is reported done; what had not started is listed as not finished.
    made = {t["metadata"]["cohabs_payment_id"] for t in fake.all("transfers") if "cohabs_payment_id" in t["metadata"]}
    done = {i["payment_id"] for i in written["items"] if i["action"] == "transfer" and i["done"]}
    left = {i["payment_id"] for i in written["items"] if i["problem"] == "not_finished"}
    assert len(made) >= 10 and done == made and left and not left & made
    finish_many(settings, mysql_server, fake, many_seeded, many_data)


def test_a_stripe_that_stops_answering_ends_the_run_fast_with_exit_1_and_the_next_run_converges(
    settings: Settings,
    mysql_server: Server,
    fake: FakeStripe,
    many_seeded: Seeded,
    many_data: SupportDump,
    tmp_path: Path,
    quick_sdk_retries: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = int((settings.stripe_api_base or "").rsplit(":", 1)[1])
    moment = nth_write("/v1/payment_intents", 10)

    def hook(stage: str, request: Recorded) -> str | None:
        if moment(stage, request):
            threading.Thread(target=fake.stop).start()  # the emulator goes away mid-run
            return "drop"
        return None

    fake.hook = hook
    monkeypatch.chdir(tmp_path)
    env = {**db_env(settings), "STRIPE_SECRET_KEY": settings.stripe_key or "", "STRIPE_API_BASE": fake.url}
    started = time.monotonic()
    done = CliRunner().invoke(support_cli.main, ["disputes", "--yes"], env={**env, "STRIPE_RATE_LIMIT": "500"})
    assert done.exit_code == 1, done.output
    assert time.monotonic() - started < 30
    assert "stopped answering" in done.output
    (report,) = (tmp_path / "reports").glob("support-disputes-run-*.json")
    written = json.loads(report.read_text())
    assert written["stopped"] == "stripe_unreachable"
    assert any(i["problem"] == "not_finished" for i in written["items"])
    fake.hook = None
    fake.start(port)  # back, with every object it held
    finish_many(settings, mysql_server, fake, many_seeded, many_data)
