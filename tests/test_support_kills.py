"""SIGKILL support.py at each step of a dispute's or a transfer's life, then rerun: each thing exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cohabs.shared.settings import Settings
from cohabs.support.plan import Job
from devkit.fake_stripe import FakeStripe, Recorded
from devkit.mysql import Server
from devkit.support_account import Seeded
from tests.helpers import ROOT, assert_each_once, db_env, kill_inside_the_write, kill_when, support, writes_held


def start_support(settings: Settings, cwd: Path, job: Job) -> subprocess.Popen[str]:
    env = {
        **db_env(settings),
        "STRIPE_SECRET_KEY": settings.stripe_key or "",
        "STRIPE_API_BASE": settings.stripe_api_base or "",
        "STRIPE_RATE_LIMIT": "500",
    }
    command = [sys.executable, str(ROOT / "support.py"), job.value, "--yes"]
    return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, text=True)


def finish_and_check(settings: Settings, server: Server, fake: FakeStripe, seeded: Seeded) -> None:
    """The next runs finish the work; one more run after them sends no write at all."""
    fake.hook = None
    support(settings, Job.DISPUTES)
    support(settings, Job.TRANSFERS)
    assert_each_once(settings, server, fake, seeded)
    writes = len(fake.writes())
    support(settings, Job.DISPUTES)
    support(settings, Job.TRANSFERS)
    assert len(fake.writes()) == writes


@pytest.mark.parametrize(
    ("job", "stage", "path", "nth"),
    [
        (Job.DISPUTES, "received", "/v1/payment_intents", 1),  # before the call: Stripe never saw it
        (Job.DISPUTES, "processed", "/v1/payment_intents", 1),  # the request exists, its row was never written
        (Job.TRANSFERS, "received", "/v1/transfers", 1),
        (Job.TRANSFERS, "processed", "/v1/transfers", 2),  # one transfer reported, the next made but unheard of
    ],
)
def test_a_kill_around_a_stripe_call_is_finished_by_the_next_run(
    settings: Settings,
    mysql_server: Server,
    fake: FakeStripe,
    seeded: Seeded,
    tmp_path: Path,
    job: Job,
    stage: str,
    path: str,
    nth: int,
) -> None:
    seen: list[Recorded] = []

    def moment(at: str, request: Recorded) -> bool:
        if at == stage and request.method == "POST" and request.path == path:
            seen.append(request)
        return len(seen) == nth

    process = start_support(settings, tmp_path, job)
    fake.hook = kill_when(fake, process, moment)
    assert process.wait(timeout=120) == -signal.SIGKILL
    finish_and_check(settings, mysql_server, fake, seeded)


def test_a_kill_inside_the_row_insert_is_finished_by_the_next_run(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    with writes_held(mysql_server, settings.db_name, "payments", "INSERT") as holder:
        kill_inside_the_write(holder, settings.db_name, "payments", start_support(settings, tmp_path, Job.DISPUTES))
    assert len(fake.all("payment_intents")) > len(seeded.charges)  # the request was made, its row rolled back
    finish_and_check(settings, mysql_server, fake, seeded)
