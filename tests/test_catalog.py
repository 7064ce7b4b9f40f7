"""The bad-input catalog: each case, and the line it gets in the report."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cohabs.shared.errors import SchemaError
from cohabs.shared.settings import Settings
from cohabs.sync.execute import Result
from cohabs.sync.rows import Kind
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe, Fault
from devkit.mysql import Server
from tests.helpers import ROOT, TEST_KEY, cli, line, ongoing, query, sync


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
    done = cli(settings, tmp_path)
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
    done = cli(settings, tmp_path)
    assert done.returncode == 1
    assert "table `users` is missing" in done.stderr
    assert fake.requests == []


def test_a_key_echoed_in_a_stripe_error_is_masked_everywhere(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    victim = restored.users[2]["id"]
    fake.inject(Fault("status", "POST", "/v1/customers", status=400, message=f"bad key {TEST_KEY}", contains=victim))
    done = cli(settings, tmp_path, "--report", "report.json")
    assert done.returncode == 3
    visible = done.stdout + done.stderr + (tmp_path / "report.json").read_text()
    visible += "".join(p.read_text() for p in (tmp_path / "reports").iterdir())
    assert "bad key sk_test_…abcd" in visible
    assert TEST_KEY not in visible


def test_every_query_is_parameterized_and_names_come_from_the_schema() -> None:
    """Static check of cohabs/: SQL text is constant, or formats only quote(...) of schema names."""
    checked = 0
    for path in (ROOT / "cohabs").rglob("*.py"):
        tree = ast.parse(path.read_text())
        assigned = {
            target.id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in ast.walk(tree):
            if not (
                isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "execute"
            ):
                continue
            sql = call.args[0]
            if isinstance(sql, ast.Name):
                sql = assigned[sql.id]
            for part in ast.walk(sql):
                if isinstance(part, ast.FormattedValue):
                    value = part.value
                    if isinstance(value, ast.Name):
                        value = assigned[value.id]
                    text = ast.unparse(value)
                    assert "quote(" in text or text.startswith("int("), f"{path.name}: {text} in SQL"
            checked += 1
    assert checked >= 5


def test_a_lease_already_linked_is_kept_even_when_its_row_went_bad(
    settings: Settings, mysql_server: Server, restored: Dump
) -> None:
    sync(settings)
    lease = restored.leases[5]["id"]
    query(settings, mysql_server, "UPDATE leases SET hubId = 'atlantis' WHERE id = %s", lease)
    assert line(sync(settings), Kind.LEASE, lease).result == Result.KEPT
