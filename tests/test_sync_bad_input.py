"""Bad rows get a clear line and never a crash; a wrong schema stops before any Stripe call.

Text and amounts past Stripe's limits are cut or refused before any call, and said on their row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cohabs.shared.errors import SchemaError
from cohabs.shared.settings import Settings
from cohabs.sync.execute import Result
from cohabs.sync.problems import Problem
from cohabs.sync.rows import Kind
from cohabs.sync.schema import resolve
from devkit.dumpgen import HUBS, Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import cli, line, ongoing, query, sync


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


def test_a_broken_reference_says_what_it_matches_without_acting(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path
) -> None:
    lease, user = restored.leases[3]["id"], restored.users[9]
    query(settings, mysql_server, "UPDATE leases SET userId = %s WHERE id = %s", user["salt"], lease)
    done = cli(settings, tmp_path, "--dry-run")
    assert f"matches users.salt of user {user['id']}" in done.stdout
    (linked,) = query(settings, mysql_server, "SELECT userId FROM leases WHERE id = %s", lease)
    assert linked == (user["salt"],)


def test_a_null_amount_is_reported(settings: Settings, mysql_server: Server, restored: Dump) -> None:
    lease = restored.leases[6]["id"]
    query(settings, mysql_server, "ALTER TABLE leases MODIFY rentAmount decimal(10,2) NULL")
    query(settings, mysql_server, "UPDATE leases SET rentAmount = NULL WHERE id = %s", lease)
    assert line(sync(settings), Kind.LEASE, lease).detail == "rentAmount: amount is NULL"


def test_quotes_emoji_and_10000_characters_reach_stripe_intact_or_clipped(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    user, room, lease = restored.users[0]["id"], restored.rooms[0]["id"], restored.leases[1]["id"]
    query(settings, mysql_server, "ALTER TABLE users MODIFY firstName TEXT, MODIFY lastName TEXT")
    query(settings, mysql_server, "ALTER TABLE rooms MODIFY description TEXT")
    query(settings, mysql_server, "ALTER TABLE leases MODIFY name TEXT")
    query(
        settings,
        mysql_server,
        "UPDATE users SET firstName = %s, lastName = %s WHERE id = %s",
        "Zoë 'Z' \"the \U0001f3e0\" O'Brien",
        "x" * 10_000,
        user,
    )
    query(settings, mysql_server, "UPDATE rooms SET description = %s WHERE id = %s", '🛏️ "cosy" ' * 2000, room)
    query(settings, mysql_server, "UPDATE leases SET name = %s WHERE id = %s", "bru-" + "ü" * 10_000, lease)

    report = sync(settings)

    assert len(report.unsynced) == 1  # only the orphan
    (customer,) = [c for c in fake.all("customers") if c["metadata"]["cohabs_user_id"] == user]
    assert customer["name"].startswith("Zoë 'Z' \"the \U0001f3e0\" O'Brien x")
    assert len(customer["name"]) == 250 and customer["name"].endswith("…")
    (product,) = [p for p in fake.all("products") if p["metadata"]["cohabs_room_id"] == room]
    assert product["description"] == ('🛏️ "cosy" ' * 2000).strip()  # surrounding spaces are trimmed
    (subscription,) = [s for s in fake.all("subscriptions") if s["metadata"]["cohabs_lease_id"] == lease]
    assert len(subscription["description"]) == 500


def test_duplicate_leases_are_not_billed_twice_and_shared_emails_are_noted(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    original = ongoing(restored)[0]["id"]
    query(
        settings,
        mysql_server,
        "INSERT INTO leases SELECT 'copy-of-a-lease', startDate, endDate, rentAmount, number, name, moveoutDate, "
        "preferredMoveoutDate, moveoutDateRequest, extensionAccepted, moveoutReason, moveoutDesiderata, "
        "depositAmount, signatureDate, hasCompletedOnboarding, onboardingCompletedDate, hasMovedIn, moveInDate, "
        "hasMovedOut, endType, sendgridBatchId, userId, roomId, hasLateFees, stripeSubscriptionId, createdAt, "
        "updatedAt, hubId, chainId, startType, depositCalculated, status FROM leases WHERE id = %s",
        original,
    )
    first, second = restored.users[0], restored.users[1]
    query(settings, mysql_server, "ALTER TABLE users DROP INDEX email")
    query(settings, mysql_server, "UPDATE users SET email = %s WHERE id = %s", first["email"].upper(), second["id"])

    report = sync(settings)

    pair = {original: "copy-of-a-lease", "copy-of-a-lease": original}
    (skipped,) = [o for o in report.outcomes if o.row_id in pair and o.result == Result.SKIPPED]
    assert skipped.detail.startswith(f"duplicate of lease {pair[skipped.row_id]} (same user, room and dates)")
    billed = [s for s in fake.all("subscriptions") if s["metadata"]["cohabs_lease_id"] in pair]
    assert len(billed) == 1
    assert any(f"share the email {first['email'].lower()}" in note for note in report.notes)


def test_empty_tables_sync_nothing_and_exit_0(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    for table in ("leases", "rooms", "users"):
        query(settings, mysql_server, f"DELETE FROM {table}")
    done = cli(settings, tmp_path, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Every row is linked." in done.stdout
    assert fake.writes() == []


def test_a_dump_of_another_schema_stops_before_any_stripe_call(
    settings: Settings, mysql_server: Server, fake: FakeStripe, tmp_path: Path
) -> None:
    query(settings, mysql_server, "CREATE TABLE orders (id int PRIMARY KEY, total decimal(10,2))")
    query(settings, mysql_server, "CREATE TABLE customers (id int PRIMARY KEY, email varchar(64))")
    with pytest.raises(
        SchemaError, match="table `users` is missing; table `rooms` is missing; table `leases` is missing"
    ):
        sync(settings)
    done = cli(settings, tmp_path, "--yes")
    assert done.returncode == 1
    assert "table `users` is missing" in done.stderr
    assert fake.requests == []


def test_a_lease_already_linked_is_kept_even_when_its_row_went_bad(
    settings: Settings, mysql_server: Server, restored: Dump
) -> None:
    sync(settings)
    lease = restored.leases[5]["id"]
    query(settings, mysql_server, "UPDATE leases SET hubId = 'atlantis' WHERE id = %s", lease)
    assert line(sync(settings), Kind.LEASE, lease).result == Result.KEPT


def test_schema_names_every_missing_piece_at_once() -> None:
    columns = [("users", "id", None), ("users", "email", None), ("rooms", "id", None), ("rooms", "rent", None)]
    with pytest.raises(SchemaError) as caught:
        resolve(columns)
    message = str(caught.value)
    assert "`users`.`stripeCustomerId` is missing" in message
    assert "`rooms`.`stripeProductId` is missing" in message
    assert "table `leases` is missing" in message


def test_amounts_over_stripes_ceiling_are_reported_never_sent(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    lease, room = ongoing(restored)[0], restored.rooms[2]
    query(
        settings,
        mysql_server,
        "UPDATE leases SET rentAmount = 1000000.00, hubId = %s WHERE id = %s",
        HUBS["bru"],
        lease["id"],
    )
    query(settings, mysql_server, "UPDATE rooms SET rent = 999999.99 WHERE id = %s", room["id"])
    query(settings, mysql_server, "UPDATE rooms SET rent = 1000000.00 WHERE id <> %s LIMIT 1", room["id"])

    dry = cli(settings, tmp_path, "--dry-run")
    report = sync(settings)

    assert "amount 1000000.00 EUR is over Stripe's limit of 999,999.99 EUR" in dry.stdout
    assert "1,000,000.00 EUR/month" not in dry.stdout
    skipped = line(report, Kind.LEASE, lease["id"])
    assert skipped.problem is Problem.BAD_AMOUNT and "over Stripe's limit" in skipped.detail
    assert line(report, Kind.ROOM, room["id"]).synced  # 99,999,999 minor units is still allowed
    sent = [int(v) for r in fake.requests for k, v in _flat(r.params) if k.endswith("unit_amount")]
    assert sent and max(sent) == 99_999_999


def _flat(params: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def test_text_cut_or_left_out_to_fit_stripe_is_noted_on_its_row(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    user = restored.users[0]["id"]
    query(settings, mysql_server, "ALTER TABLE users MODIFY address TEXT, MODIFY firstName TEXT")
    query(
        settings,
        mysql_server,
        "UPDATE users SET phoneNumber = %s, address = %s, firstName = %s WHERE id = %s",
        "+32 470 12 34 56 78 90 12",
        "Rue Haute 12\nBoîte 3\n1000 Bruxelles",
        "N" * 300,
        user,
    )
    report = sync(settings)
    notes = line(report, Kind.USER, user).notes
    assert "phoneNumber over 20 characters (Stripe's limit): not sent" in notes
    assert "address has line breaks: first line sent as line1, the rest as line2" in notes
    assert "name over 250 characters: cut to 250" in notes
    (customer,) = [c for c in fake.all("customers") if c["metadata"]["cohabs_user_id"] == user]
    assert customer["phone"] is None
    assert customer["address"] == {"line1": "Rue Haute 12", "line2": "Boîte 3, 1000 Bruxelles"}
    assert len(customer["name"]) == 250
    assert all(not line(report, Kind.USER, u["id"]).notes for u in restored.users[1:])
