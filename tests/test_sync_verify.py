"""`sync.py --verify`: the database against the account, every drift named, with who repairs it, in its reports."""

from __future__ import annotations

import json
from pathlib import Path

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import cli, query, sync


def test_verify_passes_after_a_sync_and_names_every_drift(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    query(settings, mysql_server, "DELETE FROM leases WHERE id = %s", restored.leases[0]["id"])
    sync(settings)
    writes = len(fake.writes())
    for customer in fake.all("customers"):  # every tenant can pay: the links alone are audited
        fake.payments.give_payment_method(customer["id"])
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
    repaired = cli(settings, tmp_path, "--yes")
    assert repaired.returncode == 3 and f"lease {lease}" in repaired.stdout
    after = cli(settings, tmp_path, "--verify")
    assert after.returncode == 3
    assert "1 problem(s) found: 0 a sync repairs, 1 need a person." in after.stdout and f"lease {lease}" in after.stdout


def test_verify_writes_reports_whose_advice_fits_each_finding(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    sync(settings)
    room, lease, orphan = restored.rooms[0]["id"], restored.leases[2]["id"], restored.leases[0]["id"]
    query(settings, mysql_server, "UPDATE rooms SET stripeProductId = 'prod_gone' WHERE id = %s", room)
    query(settings, mysql_server, "UPDATE leases SET rentAmount = rentAmount + 1 WHERE id = %s", lease)

    done = cli(settings, tmp_path, "--verify")

    assert done.returncode == 3
    (markdown,) = (tmp_path / "reports").glob("verify-*.md")
    report = json.loads(markdown.with_suffix(".json").read_text())
    assert report["provenance"]["command"] == "verify" and report["consistent"] is False
    advice = {(f["row_id"], f["drift"]): (f["remedy"], f["advice"]) for f in report["findings"]}
    assert advice[(room, "missing")][0] == "sync"  # a sync adopts the product that links to the room
    assert "which already links to this row" in advice[(room, "missing")][1]
    assert (None, "unclaimed") not in advice  # that product is the room's finding, not a second one
    assert advice[(lease, "wrong_amount")][0] == "person"
    assert "never re-prices" in advice[(lease, "wrong_amount")][1]
    assert advice[(orphan, "not_linked")][0] == "person"
    (finding,) = [f for f in report["findings"] if f["row_id"] == orphan]
    # The cause is said once, on the finding; the advice says what to do about it.
    assert "does not exist" in finding["problem"] and "does not exist" not in finding["advice"]
    assert finding["advice"].startswith("A sync cannot link it. Broken references:")
    counts = report["counts"]
    assert counts["sync"] + counts["person"] == len(report["findings"])
    text = markdown.read_text()
    assert f"{len(report['findings'])} problem(s) found: {counts['sync']} a sync repairs" in text
    assert "`python sync.py --dry-run` to preview" in text
