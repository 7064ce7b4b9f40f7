"""The real dump users restore, end to end.

Runs on the dump that COHABS_DUMP names, else on the one `make demo` finds (the project folder, then
../shared/dumps/); without it the test shows as skipped, saying where it looked. The dump is never
copied into the project.
"""

from __future__ import annotations

import json
from pathlib import Path

from cohabs.shared.settings import Settings
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import SYNC_DUMP, cli, csv_rows, needs_real_dump, query, restore


@needs_real_dump(SYNC_DUMP, "COHABS_DUMP")
def test_the_real_dump_is_linked_honestly_and_safely(
    settings: Settings, mysql_server: Server, fake: FakeStripe, tmp_path: Path
) -> None:
    restore(settings, SYNC_DUMP)

    done = cli(settings, tmp_path, "--yes")

    assert done.returncode == 3, done.stdout + done.stderr
    for table, column, kind, key in (
        ("users", "stripeCustomerId", "customers", "cohabs_user_id"),
        ("rooms", "stripeProductId", "products", "cohabs_room_id"),
    ):
        objects = {o["id"]: o for o in fake.all(kind)}
        rows = query(settings, mysql_server, f"SELECT id, {column} FROM {table}")
        assert rows and len(objects) == len(rows)
        for row_id, stripe_id in rows:
            assert objects[stripe_id]["metadata"][key] == row_id

    orphans = query(
        settings,
        mysql_server,
        "SELECT l.id FROM leases l LEFT JOIN users u ON u.id = l.userId LEFT JOIN rooms r ON r.id = l.roomId "
        "WHERE u.id IS NULL OR r.id IS NULL",
    )
    assert len(orphans) == 1
    assert f"lease {orphans[0][0]}" in done.stdout
    subscriptions = {s["id"]: s for s in fake.all("subscriptions")}
    leases = query(settings, mysql_server, "SELECT id, name, rentAmount, stripeSubscriptionId FROM leases")
    for lease_id, name, amount, stripe_id in leases:
        if (lease_id,) in orphans:
            assert stripe_id is None
            continue
        subscription = subscriptions[stripe_id]
        assert subscription["metadata"]["cohabs_lease_id"] == lease_id
        price = subscription["items"]["data"][0]["price"]
        assert price["currency"] == ("usd" if name.startswith("nyc-") else "eur")
        assert price["unit_amount"] == int(amount * 100)
    assert {i["amount_due"] for i in fake.all("invoices")} == {0}

    (markdown,) = (tmp_path / "reports").glob("sync-*.md")
    reported = {(r["kind"], r["row_id"]): r for r in csv_rows(markdown.with_suffix(".csv"))}
    rooms = [r["label"] for (kind, _), r in reported.items() if kind == "room"]
    assert len(rooms) == len(set(rooms)) == 20  # "room 8" three times no more
    for lease_id, name, amount, _ in leases:
        row = reported[("lease", lease_id)]
        assert (row["amount"], row["currency"]) == (f"{amount:.2f}", "USD" if name.startswith("nyc-") else "EUR")
        assert row["lease_start"] and row["lease_end"] and row["subscription"]

    excluded = [v for row in query(settings, mysql_server, "SELECT password, salt FROM users") for v in row if v]
    sent = "\n".join(r.body + json.dumps(r.params) for r in fake.requests)
    assert excluded and not [v for v in excluded if v in sent]

    writes = len(fake.writes())
    again = cli(settings, tmp_path, "--yes")
    assert again.returncode == 3
    assert len(fake.writes()) == writes


@needs_real_dump(SYNC_DUMP, "COHABS_DUMP")
def test_the_real_dumps_reports_put_the_lease_for_a_person_first_and_tell_tenants_apart(
    settings: Settings, fake: FakeStripe, tmp_path: Path
) -> None:
    restore(settings, SYNC_DUMP)
    plan = cli(settings, tmp_path, "--dry-run", "-v")
    assert plan.returncode == 3, plan.stdout + plan.stderr
    out = plan.stdout
    # The one lease a person must fix comes before the 20 routine room lines, with its advice and a plain cause.
    person = out.index("Needs a person (1 row(s)):")
    assert person < out.index("[replaced-stale] room")
    assert "no other column of rooms is unique, so nothing suggests which room was meant" in out
    assert "Broken references:" in out[person:]
    # Every tenant is it+<n>@cohabs.com: masked, each still tells itself apart.
    masks = [line.split("(", 1)[1].split(")", 1)[0] for line in out.splitlines() if "] user " in line]
    assert len(masks) == len(set(masks)) == 20
    assert all(mask.startswith("it…+") and mask.endswith("@cohabs.com") for mask in masks)

    normal = cli(settings, tmp_path, "--dry-run").stdout
    assert "Routine: 20 rooms replaced stale" in normal and "[replaced-stale]" not in normal

    assert cli(settings, tmp_path, "--yes", "-q").returncode == 3
    rerun = cli(settings, tmp_path, "--yes")
    assert rerun.returncode == 3
    assert "New subscriptions this run created: none" in rerun.stdout
    assert "Already in Stripe (kept, or adopted):" in rerun.stdout
    markdown = tmp_path / rerun.stderr.split("Reports: ", 1)[1].split(",", 1)[0]  # the rerun's own report
    money = json.loads(markdown.with_suffix(".json").read_text())["money"]
    assert money["created"] == [] and {t["currency"] for t in money["already_in_stripe"]} == {"EUR", "USD"}
    assert "What the leases this run links bill" not in markdown.read_text()
