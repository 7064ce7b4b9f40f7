"""What the support engineer sees: canary, verify, diagnosis, reports, quiet and verbose."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import cli, query, sync


def test_a_canary_run_touches_only_n_leases_and_what_they_need(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--limit", "3")

    assert done.returncode == 4, done.stdout + done.stderr  # rows remain: never "all done"
    assert len(fake.all("subscriptions")) == 3
    linked = query(settings, mysql_server, "SELECT userId, roomId FROM leases WHERE stripeSubscriptionId IS NOT NULL")
    assert len(linked) == 3
    assert len(fake.all("customers")) == len({user for user, _ in linked})
    assert len(fake.all("products")) == len({room for _, room in linked})
    left = len(restored.leases) - 3
    assert f"3 of {len(restored.leases)} leases synced; {left} left for the full run" in done.stdout
    assert "All rows synced" not in done.stdout and "Every row is linked" not in done.stdout
    (markdown,) = (tmp_path / "reports").glob("sync-*.md")
    remaining = markdown.read_text().split("## Left for the full run")[1]
    done_now = {
        lease
        for (lease,) in query(settings, mysql_server, "SELECT id FROM leases WHERE stripeSubscriptionId IS NOT NULL")
    }
    for lease in restored.leases:
        assert (f"`{lease['id']}`" in remaining) is (lease["id"] not in done_now)

    rest = cli(settings, tmp_path)
    assert rest.returncode == 3
    assert len(fake.all("subscriptions")) == len(restored.leases) - 1


def test_verify_passes_after_a_sync_and_names_every_drift(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    query(settings, mysql_server, "DELETE FROM leases WHERE id = %s", restored.leases[0]["id"])
    sync(settings)
    writes = len(fake.writes())
    clean = cli(settings, tmp_path, "--verify")
    assert clean.returncode == 0, clean.stdout
    assert "Verified" in clean.stdout

    user, room, lease = restored.users[0]["id"], restored.rooms[0]["id"], restored.leases[2]["id"]
    query(settings, mysql_server, "UPDATE users SET stripeCustomerId = NULL WHERE id = %s", user)
    ((product,),) = query(settings, mysql_server, "SELECT stripeProductId FROM rooms WHERE id = %s", room)
    query(settings, mysql_server, "UPDATE rooms SET stripeProductId = 'prod_gone' WHERE id = %s", room)
    query(settings, mysql_server, "UPDATE leases SET rentAmount = rentAmount + 1 WHERE id = %s", lease)

    drifted = cli(settings, tmp_path, "--verify")

    assert drifted.returncode == 3
    assert f"user {user}" in drifted.stdout and "not linked" in drifted.stdout
    assert f"room {room}" in drifted.stdout and "prod_gone is not in this Stripe account" in drifted.stdout
    assert f"{product} already links to this row" in drifted.stdout
    assert f"lease {lease}" in drifted.stdout and " a month but the lease says " in drifted.stdout
    assert "3 problem(s) found: 2 a sync repairs, 1 need a person." in drifted.stdout
    assert "The sync never re-prices a linked subscription" in drifted.stdout
    assert len(fake.writes()) == writes  # the audit wrote nothing

    # The sync repairs what it says it repairs, and reports the rest: the audit then names only that.
    repaired = cli(settings, tmp_path)
    assert repaired.returncode == 3 and f"lease {lease}" in repaired.stdout
    after = cli(settings, tmp_path, "--verify")
    assert after.returncode == 3
    assert "1 problem(s) found: 0 a sync repairs, 1 need a person." in after.stdout and f"lease {lease}" in after.stdout


def test_a_broken_reference_says_what_it_matches_without_acting(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path
) -> None:
    lease, user = restored.leases[3]["id"], restored.users[9]
    query(settings, mysql_server, "UPDATE leases SET userId = %s WHERE id = %s", user["salt"], lease)
    done = cli(settings, tmp_path, "--dry-run")
    assert f"matches users.salt of user {user['id']}" in done.stdout
    (linked,) = query(settings, mysql_server, "SELECT userId FROM leases WHERE id = %s", lease)
    assert linked == (user["salt"],)


def test_reports_are_written_for_machines_people_and_spreadsheets(
    settings: Settings, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path)
    (markdown,) = (tmp_path / "reports").glob("sync-*.md")
    assert str(markdown.relative_to(tmp_path)) in done.stderr
    text = markdown.read_text()
    for heading in ("## Where and how it ran", "## Summary", "## Money", "## Decisions taken", "## What to do next"):
        assert heading in text
    assert restored.leases[0]["id"] in text
    data = json.loads(markdown.with_suffix(".json").read_text())
    rows = list(csv.DictReader(line for line in markdown.with_suffix(".csv").open() if not line.startswith("#")))
    assert len(rows) == len(data["rows"]) == len(restored.users) + len(restored.rooms) + len(restored.leases)
    assert all(r["stripe_id"] for r in rows if r["result"] != "skipped")


def test_quiet_prints_the_counts_and_what_failed_verbose_prints_every_row(
    settings: Settings, restored: Dump, tmp_path: Path
) -> None:
    quiet = cli(settings, tmp_path, "--dry-run", "--quiet")
    assert "What each new subscription bills" not in quiet.stdout
    assert f"lease {restored.leases[0]['id']}" in quiet.stdout
    assert "\x1b[" not in quiet.stdout  # no colour codes in a pipe
    verbose = cli(settings, tmp_path, "--dry-run", "--verbose")
    for user in restored.users:
        assert f"user {user['id']}" in verbose.stdout
    assert cli(settings, tmp_path, "-q", "-v").returncode == 2
