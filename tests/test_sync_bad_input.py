"""Bad rows get a clear line and never a crash; a wrong schema stops before any Stripe call."""

from __future__ import annotations

import pytest

from cohabs.shared.errors import SchemaError
from cohabs.shared.settings import Settings
from cohabs.sync.execute import Result
from cohabs.sync.rows import Kind
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import line, query, sync


def test_an_email_stripe_would_reject_skips_the_user_and_their_leases(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    user = restored.users[3]
    query(settings, mysql_server, "UPDATE users SET email = 'not an email' WHERE id = %s", user["id"])
    report = sync(settings)
    skipped = line(report, Kind.USER, user["id"])
    assert skipped.result == Result.SKIPPED
    assert "'not an email' would be rejected by Stripe" in skipped.detail
    for lease in restored.leases[1:]:
        if lease["userId"] == user["id"]:
            assert f"user {user['id']} is not synced" in line(report, Kind.LEASE, lease["id"]).detail
    assert all(c["email"] != "not an email" for c in fake.all("customers"))


def test_a_room_without_any_price_is_reported(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    room = restored.rooms[2]
    query(settings, mysql_server, "UPDATE rooms SET rent = NULL, baseRent = NULL WHERE id = %s", room["id"])
    report = sync(settings)
    assert line(report, Kind.ROOM, room["id"]).detail == "no price: baseRent and rent are both NULL"
    assert len(fake.all("products")) == len(restored.rooms) - 1


@pytest.mark.parametrize(("amount", "message"), [("0.00", "is not positive"), ("-12.00", "is not positive")])
def test_a_lease_amount_that_is_not_positive_is_reported(
    settings: Settings, mysql_server: Server, restored: Dump, amount: str, message: str
) -> None:
    lease = restored.leases[5]
    query(settings, mysql_server, "UPDATE leases SET rentAmount = %s WHERE id = %s", amount, lease["id"])
    outcome = line(sync(settings), Kind.LEASE, lease["id"])
    assert outcome.result == Result.SKIPPED
    assert message in outcome.detail


def test_an_unknown_hub_is_reported_never_guessed(settings: Settings, mysql_server: Server, restored: Dump) -> None:
    lease = restored.leases[4]
    query(settings, mysql_server, "UPDATE leases SET hubId = 'atlantis' WHERE id = %s", lease["id"])
    outcome = line(sync(settings), Kind.LEASE, lease["id"])
    assert "unknown hub 'atlantis'" in outcome.detail
    assert "HUB_CURRENCIES" in outcome.detail


def test_a_lease_of_a_user_that_does_not_exist_is_reported(
    settings: Settings, mysql_server: Server, restored: Dump
) -> None:
    lease = restored.leases[7]
    query(settings, mysql_server, "UPDATE leases SET userId = 'ghost-user' WHERE id = %s", lease["id"])
    assert line(sync(settings), Kind.LEASE, lease["id"]).detail == (
        "user ghost-user does not exist; no match in users.email, users.salt either"
    )


def test_dates_out_of_order_are_reported(settings: Settings, mysql_server: Server, restored: Dump) -> None:
    lease = restored.leases[8]
    query(settings, mysql_server, "UPDATE leases SET endDate = startDate - INTERVAL 1 DAY WHERE id = %s", lease["id"])
    assert "is not after startDate" in line(sync(settings), Kind.LEASE, lease["id"]).detail


def test_the_misspelt_subscription_column_of_the_brief_is_accepted(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    query(
        settings,
        mysql_server,
        "ALTER TABLE leases CHANGE stripeSubscriptionId stripeSubscritpionId varchar(64) DEFAULT NULL",
    )
    sync(settings)
    linked = query(settings, mysql_server, "SELECT COUNT(*) FROM leases WHERE stripeSubscritpionId IS NOT NULL")
    assert linked == [(len(restored.leases) - 1,)]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("ALTER TABLE users DROP COLUMN stripeCustomerId", "column `users`.`stripeCustomerId` is missing"),
        ("ALTER TABLE leases DROP COLUMN hubId", "column `leases`.`hubId` is missing"),
        ("DROP TABLE rooms", "table `rooms` is missing"),
    ],
)
def test_a_missing_table_or_column_stops_the_run_before_any_stripe_call(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, sql: str, message: str
) -> None:
    query(settings, mysql_server, sql)
    with pytest.raises(SchemaError, match=message):
        sync(settings)
    assert fake.requests == []
