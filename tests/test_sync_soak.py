"""Random-kill soak: kill the sync at random moments under Stripe faults, change rows, rerun until done.

`make test` (and so CI) runs a short soak; `make soak` runs the long one
(SOAK_KILLS=60). Either must end with no duplicate, no unlinked valid row,
and every stored id pointing at an object that points back.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cohabs.shared.settings import Settings
from devkit.dumpgen import generate
from devkit.fake_stripe import FakeStripe, Fault, Recorded
from devkit.mysql import Server
from tests.helpers import assert_one_object_per_row, cli, kill_when, restore, start_sync

KILLS = int(os.environ.get("SOAK_KILLS", "12"))


def nth_write(target: int, stage: str) -> Callable[[str, Recorded], bool]:
    """True at the `target`-th write Stripe sees, at `stage` (before or after doing it)."""
    seen = itertools.count(1)
    return lambda moment, request: moment == stage and request.method in ("POST", "DELETE") and next(seen) == target


def test_random_kills_faults_and_edits_end_with_exactly_one_object_per_row(
    settings: Settings, mysql_server: Server, fake: FakeStripe, tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("SOAK_SEED", "2026")))
    # Real time here: the sync runs as a separate process on the machine's clock.
    fake.now = lambda: datetime.now().timestamp()
    dump = generate(200, 60, 260, now=datetime.now().replace(microsecond=0), seed=11)
    restore(settings, dump.write(tmp_path / "soak.dump"))
    assert len(dump.users) + len(dump.rooms) + len(dump.leases) >= 500
    kills = faults = finished_runs = edits = 0

    conn = mysql_server.connect(settings.db_name)
    while kills < KILLS:
        if rng.random() < 0.4:
            fault = rng.choice(
                [
                    Fault("drop", "POST", count=rng.randint(1, 3)),
                    Fault("status", "POST", count=rng.randint(1, 3), status=rng.choice([500, 502, 503])),
                ]
            )
            fake.inject(fault)
            faults += fault.count
        process = start_sync(settings, tmp_path)
        fake.hook = kill_when(fake, process, nth_write(rng.randint(1, 25), rng.choice(["received", "processed"])))
        code = process.wait(timeout=300)
        fake.hook = None
        if code == -signal.SIGKILL:
            kills += 1
        else:
            assert code in (1, 3), f"unexpected exit {code}"  # 1: the last run still held the lock
            finished_runs += 1
        with conn.cursor() as cur:  # tenants change their email between runs
            for user in rng.sample(dump.users, 3):
                cur.execute("UPDATE users SET email = %s WHERE id = %s", [f"v{kills}+{user['email']}", user["id"]])
                edits += 1

    conn.close()
    fake.faults.clear()
    final = cli(settings, tmp_path, "--yes")
    assert final.returncode == 3, final.stdout + final.stderr
    assert "[failed]" not in final.stdout, final.stdout
    assert_one_object_per_row(settings, mysql_server, fake, dump)
    audit = cli(settings, tmp_path, "--verify")
    assert audit.stdout.count("not linked") == 1, audit.stdout  # only the orphan lease
    print(
        f"\nsoak: {kills} kills, {finished_runs} runs that finished first, {faults} Stripe faults injected, "
        f"{edits} rows edited between runs, {len(fake.requests)} requests; 0 duplicates, 0 unlinked valid rows"
    )
