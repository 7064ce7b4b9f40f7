"""Money stays right across runs: data and account bent between runs, the sync run again and again.

After every run, `--verify` names exactly the rows the sync reported as not
synced: the two share one definition of correct.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import stripe

from cohabs.shared.settings import Settings
from cohabs.sync.execute import Result
from cohabs.sync.problems import Problem
from cohabs.sync.rows import Kind
from cohabs.sync.run import World
from cohabs.sync.run import verify as audit_account
from cohabs.sync.run_report import Report
from cohabs.sync.verify import Finding
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import NOW, TEST_KEY, cli, line, ongoing, query, sync

COPY = (
    "INSERT INTO leases SELECT %s, startDate, endDate, rentAmount, number, name, moveoutDate, "
    "preferredMoveoutDate, moveoutDateRequest, extensionAccepted, moveoutReason, moveoutDesiderata, "
    "depositAmount, signatureDate, hasCompletedOnboarding, onboardingCompletedDate, hasMovedIn, moveInDate, "
    "hasMovedOut, endType, sendgridBatchId, userId, roomId, hasLateFees, {stored}, createdAt, "
    "updatedAt, hubId, chainId, startType, depositCalculated, status FROM leases WHERE id = %s"
)


def audit(settings: Settings) -> list[Finding]:
    world = World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    return [finding for finding, _ in audit_account(settings, world).findings]


def run_and_audit(settings: Settings) -> tuple[Report, list[Finding]]:
    """One sync, then the audit: the rows it names are exactly the rows the sync said were not synced."""
    report = sync(settings)
    findings = audit(settings)
    named = {(f.kind, f.row_id or f.label) for f in findings}  # an object no row stores goes by its own id
    assert named == {(o.kind, o.row_id) for o in report.unsynced}, (
        [f.problem for f in findings],
        [o.detail for o in report.unsynced],
    )
    return report, findings


def stored_id(settings: Settings, server: Server, lease_id: str) -> str:
    ((stripe_id,),) = query(settings, server, "SELECT stripeSubscriptionId FROM leases WHERE id = %s", lease_id)
    return str(stripe_id)


def live_subscriptions(fake: FakeStripe, *lease_ids: str) -> list[dict[str, Any]]:
    return [
        s
        for s in fake.all("subscriptions")
        if s["metadata"].get("cohabs_lease_id") in lease_ids and s["status"] not in ("canceled", "incomplete_expired")
    ]


Bend = Callable[[Settings, Server, FakeStripe, Dump], None]


def _copy_unlinked(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    query(settings, server, COPY.format(stored="NULL"), "copy-of-a-lease", ongoing(dump)[0]["id"])


def _copy_with_the_originals_id(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    query(settings, server, COPY.format(stored="stripeSubscriptionId"), "copy-of-a-lease", ongoing(dump)[0]["id"])


def _only_the_copy_linked(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    original = ongoing(dump)[0]["id"]
    query(settings, server, COPY.format(stored="stripeSubscriptionId"), "copy-of-a-lease", original)
    query(settings, server, "UPDATE leases SET stripeSubscriptionId = NULL WHERE id = %s", original)


def _moved_to_another_user(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    lease = ongoing(dump)[1]
    other = next(u for u in dump.users if u["id"] != lease["userId"] and u["_city"] == dump.users[0]["_city"])
    query(settings, server, "UPDATE leases SET userId = %s WHERE id = %s", other["id"], lease["id"])


def _user_gone(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    lease = ongoing(dump)[2]
    query(settings, server, "UPDATE leases SET userId = %s WHERE id = %s", dump.users[9]["salt"], lease["id"])


def _moved_to_another_room(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    lease = ongoing(dump)[1]
    other = next(r for r in dump.rooms if r["id"] != lease["roomId"])
    query(settings, server, "UPDATE leases SET roomId = %s WHERE id = %s", other["id"], lease["id"])


def _cancelled_by_hand(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    subscription = fake.objects["subscriptions"][stored_id(settings, server, ongoing(dump)[0]["id"])]
    subscription.update(status="canceled", canceled_at=int(fake.now()))


def _repriced_by_hand(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    subscription = fake.objects["subscriptions"][stored_id(settings, server, ongoing(dump)[0]["id"])]
    subscription["items"]["data"][0]["price"]["unit_amount"] += 5000


def _end_moved(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    lease = ongoing(dump)[0]["id"]
    query(settings, server, "UPDATE leases SET endDate = endDate + INTERVAL 3 MONTH WHERE id = %s", lease)


def _lease_row_deleted(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    query(settings, server, "DELETE FROM leases WHERE id = %s", ongoing(dump)[0]["id"])


def _customer_deleted(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    user = ongoing(dump)[0]["userId"]
    ((customer,),) = query(settings, server, "SELECT stripeCustomerId FROM users WHERE id = %s", user)
    # As the dashboard does it: Stripe cancels the customer's subscriptions too.
    stripe.StripeClient(TEST_KEY, base_addresses={"api": fake.url}).v1.customers.delete(customer)


def _ended_in_the_database(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    query(settings, server, "UPDATE leases SET status = 'finished' WHERE id = %s", ongoing(dump)[0]["id"])


def _amount_over_the_ceiling(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    query(settings, server, "UPDATE leases SET rentAmount = 1000000.00 WHERE id = %s", ongoing(dump)[0]["id"])


def _hub_unknown(settings: Settings, server: Server, fake: FakeStripe, dump: Dump) -> None:
    query(settings, server, "UPDATE leases SET hubId = 'atlantis' WHERE id = %s", ongoing(dump)[0]["id"])


# Bends a sync repairs by itself; every other one leaves a row for a person, named by both.
REPAIRED = {"ended_in_the_database"}
# The ones the tests below do not already run, with their own checks, through sync and audit.
OTHERS = ["repriced_by_hand", "end_moved", "customer_deleted", "ended_in_the_database"]
OTHERS += ["amount_over_the_ceiling", "hub_unknown", "moved_to_another_room"]
BENDS: dict[str, Bend] = {
    "copy_unlinked": _copy_unlinked,
    "copy_with_the_originals_id": _copy_with_the_originals_id,
    "only_the_copy_linked": _only_the_copy_linked,
    "moved_to_another_user": _moved_to_another_user,
    "user_gone": _user_gone,
    "moved_to_another_room": _moved_to_another_room,
    "cancelled_by_hand": _cancelled_by_hand,
    "repriced_by_hand": _repriced_by_hand,
    "end_moved": _end_moved,
    "lease_row_deleted": _lease_row_deleted,
    "customer_deleted": _customer_deleted,
    "ended_in_the_database": _ended_in_the_database,
    "amount_over_the_ceiling": _amount_over_the_ceiling,
    "hub_unknown": _hub_unknown,
}


@pytest.mark.parametrize("bend", OTHERS)
def test_sync_and_verify_tell_the_same_story_run_after_run(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, bend: str
) -> None:
    orphan = (Kind.LEASE, restored.leases[0]["id"])
    first, _ = run_and_audit(settings)
    assert [(o.kind, o.row_id) for o in first.unsynced] == [orphan]
    BENDS[bend](settings, mysql_server, fake, restored)
    for _ in range(2):
        report, _ = run_and_audit(settings)
        left = {(o.kind, o.row_id) for o in report.unsynced} - {orphan}
        assert bool(left) is (bend not in REPAIRED), [o.detail for o in report.unsynced]
    # Whatever was bent, no tenant got a second live subscription for one room.
    pairs = [
        (s["customer"], s["items"]["data"][0]["price"]["product"])
        for s in fake.all("subscriptions")
        if s["status"] != "canceled"
    ]
    assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize("bend", ["copy_unlinked", "copy_with_the_originals_id", "only_the_copy_linked"])
def test_a_duplicated_lease_never_gets_a_second_live_subscription(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, bend: str
) -> None:
    original = ongoing(restored)[0]["id"]
    sync(settings)
    BENDS[bend](settings, mysql_server, fake, restored)
    for _ in range(3):
        report, _ = run_and_audit(settings)
        assert len(live_subscriptions(fake, original, "copy-of-a-lease")) == 1
        skipped = line(report, Kind.LEASE, "copy-of-a-lease")
        assert skipped.result == Result.SKIPPED and skipped.problem is Problem.DUPLICATE
        assert f"duplicate of lease {original}" in skipped.detail
    # Voiding the copy, as the advice says, settles it: linked to a subscription that never bills.
    query(settings, mysql_server, "UPDATE leases SET status = 'void' WHERE id = 'copy-of-a-lease'")
    report, _ = run_and_audit(settings)
    assert line(report, Kind.LEASE, "copy-of-a-lease").synced
    assert len(live_subscriptions(fake, original, "copy-of-a-lease")) == 1


def test_the_copy_of_a_linked_lease_is_held_back_whichever_came_first(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    original = ongoing(restored)[0]["id"]
    query(settings, mysql_server, COPY.format(stored="NULL"), "a-copy", original)
    query(settings, mysql_server, "UPDATE leases SET status = 'void' WHERE id = %s", original)
    sync(settings)  # only the copy bills
    query(settings, mysql_server, "UPDATE leases SET status = 'active' WHERE id = %s", original)
    for _ in range(2):
        report, _ = run_and_audit(settings)
        # The original's own subscription was cancelled (void); the linked copy keeps billing, alone.
        assert [s["metadata"]["cohabs_lease_id"] for s in live_subscriptions(fake, original, "a-copy")] == ["a-copy"]
        assert line(report, Kind.LEASE, original).problem is Problem.CANCELLED_IN_STRIPE


@pytest.mark.parametrize("bend", ["moved_to_another_user", "user_gone"])
def test_a_linked_lease_whose_user_changed_is_named_and_left_alone(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path, bend: str
) -> None:
    sync(settings)
    lease = ongoing(restored)[2 if bend == "user_gone" else 1]["id"]
    subscription = copy.deepcopy(fake.objects["subscriptions"][stored_id(settings, mysql_server, lease)])
    BENDS[bend](settings, mysql_server, fake, restored)

    dry = cli(settings, tmp_path, "--dry-run")
    done = cli(settings, tmp_path, "--yes")
    audited = cli(settings, tmp_path, "--verify")

    for shown in (dry, done, audited):
        assert shown.returncode == 3
        assert f"lease {lease}" in shown.stdout
    if bend == "user_gone":
        for shown in (dry, done, audited):
            assert f"matches users.salt of user {restored.users[9]['id']}" in shown.stdout
    assert "[person]" in audited.stdout and "bills another customer than the lease's tenant" in audited.stdout
    assert fake.objects["subscriptions"][subscription["id"]] == subscription  # not touched
    assert stored_id(settings, mysql_server, lease) == subscription["id"]
    assert line(run_and_audit(settings)[0], Kind.LEASE, lease).problem is Problem.LINK_CHANGED


def test_a_subscription_cancelled_by_hand_for_an_ongoing_lease_is_reported_never_recreated(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    lease = ongoing(restored)[0]["id"]
    sync(settings)
    _cancelled_by_hand(settings, mysql_server, fake, restored)
    count = len(fake.all("subscriptions"))

    for _ in range(2):
        done = cli(settings, tmp_path, "--yes")
        assert done.returncode == 3
        assert "All rows synced" not in done.stdout
        assert f"lease {lease}" in done.stdout and "not billed again by the sync" in done.stdout
    audited = cli(settings, tmp_path, "--verify")
    assert audited.returncode == 3 and "not billed again by the sync" in audited.stdout
    assert "0 a sync repairs, 2 need a person" in audited.stdout  # this lease and the orphan
    assert "if it is ongoing, clear `stripeSubscriptionId` and sync" in audited.stdout
    assert len(fake.all("subscriptions")) == count

    # A person decides the tenant must pay: clearing the row's id asks for a new subscription, once.
    cancelled = stored_id(settings, mysql_server, lease)
    query(settings, mysql_server, "UPDATE leases SET stripeSubscriptionId = NULL WHERE id = %s", lease)
    for _ in range(2):
        assert line(run_and_audit(settings)[0], Kind.LEASE, lease).synced
    (billing,) = live_subscriptions(fake, lease)
    assert stored_id(settings, mysql_server, lease) == billing["id"] != cancelled
    # Ending the lease in the database instead would settle it too: its subscription is then cancelled.
    query(settings, mysql_server, "UPDATE leases SET status = 'finished' WHERE id = %s", lease)
    assert line(run_and_audit(settings)[0], Kind.LEASE, lease).synced
    assert live_subscriptions(fake, lease) == []


def test_a_live_subscription_that_no_row_stores_is_named_by_both(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    sync(settings)
    lease = ongoing(restored)[0]["id"]
    subscription = stored_id(settings, mysql_server, lease)
    _lease_row_deleted(settings, mysql_server, fake, restored)
    done = cli(settings, tmp_path, "--yes")
    audited = cli(settings, tmp_path, "--verify")
    for shown in (done, audited):
        assert shown.returncode == 3
        assert f"{subscription} carries cohabs_lease_id={lease} but no lease row has that id" in shown.stdout
    assert line(run_and_audit(settings)[0], Kind.LEASE, subscription).problem is Problem.STRAY
    assert fake.objects["subscriptions"][subscription]["status"] == "trialing"  # a person decides
