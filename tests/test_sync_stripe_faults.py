"""Stripe misbehaving through the fake: each scenario ends with every row linked once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cohabs.shared.errors import CannotRun
from cohabs.shared.settings import Settings
from cohabs.sync.execute import Result
from cohabs.sync.rows import Kind
from cohabs.sync.run import Options, World, run
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe, Fault
from devkit.mysql import Server
from tests.helpers import NOW, assert_one_object_per_row, sync

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")


def test_lost_responses_are_retried_with_the_same_key_and_create_nothing_twice(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    fake.inject(
        Fault("drop", "POST", "/v1/customers", count=5),
        Fault("drop", "POST", "/v1/products", count=3),
        Fault("drop", "POST", "/v1/subscriptions", count=5),
    )
    report = sync(settings)
    assert len(report.unsynced) == 1
    assert_one_object_per_row(settings, mysql_server, fake, restored)
    replayed = [r for r in fake.requests if r.method == "POST" and r.idempotency_key]
    assert len(replayed) - len({r.idempotency_key for r in replayed}) == 13


def test_answers_slower_than_the_client_timeout_are_retried_without_duplicates(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    fake.inject(Fault("delay", "POST", "/v1/customers", count=2, delay=1.0))
    report = sync(dataclasses.replace(settings, stripe_timeout=0.3))
    assert len(report.unsynced) == 1
    assert_one_object_per_row(settings, mysql_server, fake, restored)


def test_5xx_bursts_and_409_in_use_are_retried(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    fake.inject(
        Fault("status", "POST", "/v1/products", count=3, status=503),
        Fault("status", "POST", "/v1/subscriptions", count=2, status=500),
        Fault("status", "POST", "/v1/customers", count=2, status=409, code="idempotency_key_in_use"),
    )
    report = sync(settings)
    assert len(report.unsynced) == 1
    assert_one_object_per_row(settings, mysql_server, fake, restored)


def test_a_row_whose_retries_run_out_fails_alone_and_the_next_run_finishes_it(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    unlucky = restored.users[4]["id"]
    fake.inject(Fault("status", "POST", "/v1/customers", count=5, status=500, contains=unlucky))
    report = sync(settings)
    (failed,) = [o for o in report.outcomes if o.result == Result.FAILED and o.kind is Kind.USER]
    assert failed.row_id == unlucky
    assert "Stripe answered 500" in failed.detail
    dependent = [o for o in report.outcomes if o.kind is Kind.LEASE and o.result == Result.FAILED]
    assert dependent and all(f"user {failed.row_id} could not be linked" in o.detail for o in dependent)
    assert len(report.unsynced) == 1 + 1 + len(dependent)

    assert len(sync(settings).unsynced) == 1
    assert_one_object_per_row(settings, mysql_server, fake, restored)


STRIPE_KINDS = ("customers", "products", "subscriptions")


def test_429_storms_slow_down_honour_retry_after_and_still_finish(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    fake.retry_after = 0.25
    # Twelve 429s, four per create endpoint: however the workers interleave, no row meets more than four in a
    # row, well under the gateway's retries, so the run must finish every row.
    fake.inject(
        *(Fault("status", "POST", f"/v1/{kind}", count=4, status=429, code="rate_limit") for kind in STRIPE_KINDS)
    )
    slept: list[float] = []
    world = World(echo=lambda text: None, now=lambda: NOW, sleep=slept.append)
    report = run(settings, Options(), world)
    assert len(report.unsynced) == 1
    assert report.throttled == 12
    assert slept.count(0.25) + sum(1 for s in slept if s > 0.25) >= 12
    assert_one_object_per_row(settings, mysql_server, fake, restored)


def test_an_idempotency_error_fails_the_row_and_the_next_run_adopts_its_object(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    room = restored.rooms[3]["id"]
    # Stripe created the product but the answer was lost; the retry is refused as if its parameters changed.
    fake.inject(
        Fault("drop", "POST", "/v1/products", contains=room),
        Fault("status", "POST", "/v1/products", status=400, code="idempotency_error", contains=room),
    )
    report = sync(settings)
    (failed,) = [o for o in report.outcomes if o.kind is Kind.ROOM and o.result == Result.FAILED]
    assert failed.row_id == room
    assert "idempotency_error" in failed.detail
    assert len(sync(settings).unsynced) == 1
    assert_one_object_per_row(settings, mysql_server, fake, restored)


def test_an_account_that_cannot_be_read_stops_the_run_before_any_change(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    fake.inject(Fault("status", "GET", "/v1/products", count=50, status=500))
    with pytest.raises(CannotRun, match="could not read the Stripe account, so nothing was changed"):
        sync(settings)
    assert fake.writes() == []
