"""Never a duplicate: crashes between Stripe and the row, stale and shared ids, drift."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from cohabs.shared.settings import Settings
from cohabs.shared.stripe.gateway import Window, make_gateway
from cohabs.sync.account import PaymentMethod, Remote
from cohabs.sync.calls import SyncCalls
from cohabs.sync.execute import Result
from cohabs.sync.previews import Preview
from cohabs.sync.rows import Kind
from cohabs.sync.run import Options, World, run
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import NOW, assert_one_object_per_row, query, sync


class Crash(BaseException):
    """The process dying: nothing after it runs, not even the row write."""


class CrashingCalls:
    """The real calls, except that the process dies right after Stripe creates object number `after`."""

    def __init__(self, inner: SyncCalls, after: int) -> None:
        self.inner, self.left = inner, after
        self.counters = inner.counters

    def _count(self) -> None:
        self.left -= 1
        if self.left == 0:
            raise Crash

    def page(self, kind: Kind, window: Window) -> tuple[list[Remote], bool]:
        return self.inner.page(kind, window)

    def create(self, kind: Kind, params: Mapping[str, Any], key: str) -> Remote:
        created = self.inner.create(kind, params, key)
        self._count()
        return created

    def cancel_subscription(self, subscription_id: str, comment: str | None = None) -> str | None:
        return self.inner.cancel_subscription(subscription_id, comment)

    def resume_collection(self, customer: str, cancelled: str) -> list[str]:
        return self.inner.resume_collection(customer, cancelled)

    def update(self, kind: Kind, stripe_id: str, params: Mapping[str, Any], key: str) -> None:
        self.inner.update(kind, stripe_id, params, key)

    def preview(self, subscription_id: str) -> Preview | None:
        return self.inner.preview(subscription_id)

    def payment_methods(self, customer: str) -> list[PaymentMethod]:
        return self.inner.payment_methods(customer)

    def account_id(self) -> str | None:
        return self.inner.account_id()


def crash_after(settings: Settings, objects: int) -> None:
    world = World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    world.calls = CrashingCalls(SyncCalls(make_gateway(settings, world)), objects)
    with pytest.raises(Crash):
        run(settings, Options(), world)


@pytest.mark.parametrize("objects", [1, 17, 45, 60])
def test_a_run_killed_after_stripe_created_an_object_is_finished_without_a_duplicate(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, objects: int
) -> None:
    crash_after(dataclasses.replace(settings, rate_limit=1000.0), objects)
    # Whatever the crash left unwritten, the row changes before the next run.
    query(settings, mysql_server, "UPDATE users SET email = CONCAT('moved+', email)")

    report = sync(settings)

    assert (
        report.counts[Kind.USER][Result.ADOPTED]
        + report.counts[Kind.ROOM][Result.ADOPTED]
        + report.counts[Kind.LEASE][Result.ADOPTED]
        + sum(1 for o in report.outcomes if o.result == Result.REPLACED and "already links" in o.detail)
        >= 1
    )
    assert_one_object_per_row(settings, mysql_server, fake, restored)
    assert len(sync(settings).unsynced) == 1  # and a third run has nothing left to do


def test_an_ended_lease_left_uncancelled_by_a_crash_is_cancelled_next_time(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    ended = next(s for s in fake.all("subscriptions") if s["status"] == "canceled")
    ended["status"] = "trialing"  # as if the run died between create and cancel

    report = sync(settings)

    (outcome,) = [o for o in report.outcomes if o.stripe_id == ended["id"]]
    assert outcome.result == Result.KEPT
    assert "cancelled" in outcome.detail
    assert fake.objects["subscriptions"][ended["id"]]["status"] == "canceled"


def test_rooms_sharing_one_stored_id_each_get_their_own_product(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    first, second = restored.rooms[0]["id"], restored.rooms[1]["id"]
    ((product,),) = query(settings, mysql_server, "SELECT stripeProductId FROM rooms WHERE id = %s", first)
    query(settings, mysql_server, "UPDATE rooms SET stripeProductId = %s WHERE id = %s", product, second)
    products = len(fake.all("products"))

    report = sync(settings)

    (outcome,) = [o for o in report.outcomes if o.row_id == second]
    assert outcome.result == Result.REPLACED
    assert f"stored id {product} belongs to rooms row {first}" in outcome.detail
    assert len(fake.all("products")) == products  # its own product was found again, not created
    assert_one_object_per_row(settings, mysql_server, fake, restored)


def test_a_customer_deleted_in_stripe_is_replaced_and_reported(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    user = restored.users[0]["id"]
    ((customer,),) = query(settings, mysql_server, "SELECT stripeCustomerId FROM users WHERE id = %s", user)
    fake.objects["customers"][customer]["deleted"] = True

    report = sync(settings)

    (outcome,) = [o for o in report.outcomes if o.row_id == user]
    assert outcome.result == Result.REPLACED
    assert outcome.stale_id == customer
    assert "is not in this Stripe account" in outcome.detail
    ((now_linked,),) = query(settings, mysql_server, "SELECT stripeCustomerId FROM users WHERE id = %s", user)
    assert now_linked not in (None, customer)


def test_objects_edited_by_hand_are_repaired_never_given_a_second_object(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    user, lease = restored.users[1], restored.leases[2]
    ((customer_id,),) = query(settings, mysql_server, "SELECT stripeCustomerId FROM users WHERE id = %s", user["id"])
    ((sub_id,),) = query(settings, mysql_server, "SELECT stripeSubscriptionId FROM leases WHERE id = %s", lease["id"])
    customer, subscription = fake.objects["customers"][customer_id], fake.objects["subscriptions"][sub_id]
    customer["metadata"] = {}
    customer["email"] = "someone-else@example.com"
    subscription["metadata"] = {"cohabs_lease_id": "typo-by-hand"}
    subscription["items"]["data"][0]["price"]["unit_amount"] += 100
    counts = {kind: len(fake.all(kind)) for kind in ("customers", "products", "subscriptions")}

    report = sync(settings)

    assert {kind: len(fake.all(kind)) for kind in counts} == counts
    assert customer["metadata"] == {"cohabs_user_id": user["id"]}
    assert customer["email"] == user["email"]
    assert subscription["metadata"] == {"cohabs_lease_id": lease["id"]}
    lines = {o.row_id: o for o in report.outcomes}
    assert lines[user["id"]].result == Result.KEPT
    assert "link restored" in lines[user["id"]].detail and "email set again" in lines[user["id"]].detail
    assert "left as is, review it in Stripe" in lines[lease["id"]].detail
    writes = len(fake.writes())
    sync(settings)
    assert len(fake.writes()) == writes  # repaired once, then quiet
