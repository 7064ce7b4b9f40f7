"""Stripe's stored 500s: replayed under their key, they fail a row for one run only, never make a duplicate."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from cohabs.shared.settings import Settings
from cohabs.shared.stripe.gateway import NETWORK_RETRIES
from cohabs.sync.execute import Result
from cohabs.sync.rows import Kind
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe, Fault, Recorded
from devkit.mysql import Server
from tests.helpers import assert_one_object_per_row, cli, finish_and_check, kill_when, start_sync, sync

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")


def keys_for(fake: FakeStripe, path: str, row_id: str) -> list[str]:
    return [
        r.idempotency_key or "" for r in fake.requests if r.method == "POST" and r.path == path and row_id in r.body
    ]


@pytest.mark.parametrize("should_retry", [None, "false"])  # the SDK retries the 500 (replays), or is told not to
@pytest.mark.parametrize("work", [False, True])  # Stripe made the object before its 500, or did not
def test_a_stored_500_fails_its_row_for_one_run_and_the_next_run_converges(
    settings: Settings,
    mysql_server: Server,
    fake: FakeStripe,
    restored: Dump,
    work: bool,
    should_retry: str | None,
) -> None:
    unlucky = restored.users[4]["id"]
    fake.inject(Fault("stored", "POST", "/v1/customers", contains=unlucky, work=work, should_retry=should_retry))

    first = sync(settings)

    (failed,) = [o for o in first.outcomes if o.result == Result.FAILED and o.kind is Kind.USER]
    assert failed.row_id == unlucky
    assert "Stripe answered 500" in failed.detail and "keeps this answer" in failed.detail
    sent = keys_for(fake, "/v1/customers", unlucky)
    # This run's own 500, even when the SDK's retries came back as replays, never moves it to another key.
    assert len(set(sent)) == 1 and len(sent) == (1 if should_retry else 1 + NETWORK_RETRIES)

    second = sync(settings)

    (line,) = [o for o in second.outcomes if o.kind is Kind.USER and o.row_id == unlucky]
    assert line.synced
    if work:  # the listing found it: adopted, no new key needed
        assert "already links to this row" in line.detail
        assert not any(k.endswith(":1") for k in keys_for(fake, "/v1/customers", unlucky))
    else:  # k0 still answers the stored 500: the object is made under k1
        assert keys_for(fake, "/v1/customers", unlucky)[-1] == sent[0] + ":1"
    assert len(second.unsynced) == 1  # the orphan lease
    writes = len(fake.writes())
    assert len(sync(settings).unsynced) == 1
    assert len(fake.writes()) == writes
    assert_one_object_per_row(settings, mysql_server, fake, restored)


def test_many_stored_500s_converge_within_runs(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    fake.inject(
        Fault("stored", "POST", "/v1/subscriptions", count=6, work=True),
        Fault("stored", "POST", "/v1/subscriptions", count=6),
        Fault("stored", "POST", "/v1/products", count=2),
    )
    first = sync(settings)
    assert sum(1 for o in first.outcomes if o.result == Result.FAILED) >= 14

    # Runs with more stored 500s on the keys they move to: each run still gets further.
    fake.inject(Fault("stored", "POST", "/v1/subscriptions", count=3))
    sync(settings)
    third = sync(settings)

    assert [o.row_id for o in third.unsynced] == [restored.leases[0]["id"]]
    assert_one_object_per_row(settings, mysql_server, fake, restored)


@pytest.mark.parametrize("stage", ["received", "processed"])
def test_a_run_killed_while_it_moves_past_a_stored_500_leaves_no_duplicate(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path, stage: str
) -> None:
    leases = [x["id"] for x in restored.leases[1:4]]
    # As Stripe marks a stored 500 (the SDK's own retries, covered above, would only slow the processes down).
    stored = (Fault("stored", "POST", "/v1/subscriptions", contains=x, should_retry="false") for x in leases)
    fake.inject(*stored)
    assert cli(settings, tmp_path, "--yes").returncode == 3

    def on_the_next_key(moment: str, request: Recorded) -> bool:
        return moment == stage and (request.idempotency_key or "").endswith(":1")

    process = start_sync(settings, tmp_path)
    fake.hook = kill_when(fake, process, on_the_next_key)
    assert process.wait(timeout=120) == -signal.SIGKILL

    finish_and_check(settings, mysql_server, fake, restored, tmp_path)
    for lease in leases:
        assert not any(k.endswith(":2") for k in keys_for(fake, "/v1/subscriptions", lease))
