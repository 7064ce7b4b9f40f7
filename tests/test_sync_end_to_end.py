"""A synthetic dump, end to end, through the real MySQL and the strict fake Stripe."""

from __future__ import annotations

from cohabs.shared.settings import Settings
from cohabs.sync.execute import Result
from cohabs.sync.rows import Kind
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import query, sync


def links(settings: Settings, server: Server, table: str, column: str) -> dict[str, str | None]:
    return dict(query(settings, server, f"SELECT id, {column} FROM {table}"))


def test_every_row_is_linked_to_an_object_that_points_back(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    report = sync(settings)

    for table, column, kind, key in (
        ("users", "stripeCustomerId", "customers", "cohabs_user_id"),
        ("rooms", "stripeProductId", "products", "cohabs_room_id"),
    ):
        stored = links(settings, mysql_server, table, column)
        objects = {o["id"]: o for o in fake.all(kind)}
        assert len(objects) == len(stored)
        for row_id, stripe_id in stored.items():
            assert stripe_id in objects, (table, row_id)
            assert objects[stripe_id]["metadata"][key] == row_id

    orphan = restored.leases[0]
    leases = links(settings, mysql_server, "leases", "stripeSubscriptionId")
    subscriptions = {o["id"]: o for o in fake.all("subscriptions")}
    assert leases.pop(orphan["id"]) is None
    assert len(subscriptions) == len(leases)
    for row_id, stripe_id in leases.items():
        assert subscriptions[stripe_id]["metadata"]["cohabs_lease_id"] == row_id

    skipped = [o for o in report.outcomes if o.result == Result.SKIPPED]
    assert [(o.kind, o.row_id) for o in skipped] == [(Kind.LEASE, orphan["id"])]
    assert orphan["roomId"] in skipped[0].detail
    assert report.counts[Kind.ROOM][Result.REPLACED] == len(restored.rooms)  # every stored product id was stale
    assert report.counts[Kind.USER][Result.CREATED] == len(restored.users)


def test_a_second_run_sends_no_write(settings: Settings, fake: FakeStripe, restored: Dump) -> None:
    sync(settings)
    writes = len(fake.writes())

    again = sync(settings)

    assert len(fake.writes()) == writes
    assert {o.result for o in again.outcomes} == {Result.KEPT, Result.SKIPPED}
    assert len(again.unsynced) == 1


def test_subscriptions_link_the_tenant_and_the_room(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    customers = links(settings, mysql_server, "users", "stripeCustomerId")
    products = links(settings, mysql_server, "rooms", "stripeProductId")
    for lease in restored.leases[1:]:
        (subscription_id,) = query(
            settings, mysql_server, "SELECT stripeSubscriptionId FROM leases WHERE id = %s", lease["id"]
        )[0]
        subscription = fake.objects["subscriptions"][subscription_id]
        assert subscription["customer"] == customers[lease["userId"]]
        assert subscription["items"]["data"][0]["price"]["product"] == products[lease["roomId"]]
