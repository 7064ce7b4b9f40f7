"""The real support dump, both commands and a rerun.

Runs on the dump that COHABS_SUPPORT_DUMP names, else on the one `make demo` finds (the project folder, then
../shared/dumps/); without it the test shows as skipped, saying where it looked. The dump is never
copied into the project.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from cohabs.shared.settings import Settings
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from devkit.support_account import read_rows, seed
from tests.helpers import SUPPORT_DUMP, needs_real_dump, ours, query, restore, support_cli

FLAGEY_10 = "acct_1MExeSPAMdkaulyl"
DISPUTED_ROW = "w0lpcdui9c9ncewlrmctv3fttgyl50oi"


@needs_real_dump(SUPPORT_DUMP, "COHABS_SUPPORT_DUMP")
def test_the_real_support_dump_re_collects_the_dispute_and_pays_each_house_once(
    settings: Settings, mysql_server: Server, fake: FakeStripe, tmp_path: Path
) -> None:
    restore(settings, SUPPORT_DUMP)
    conn = mysql_server.connect(settings.db_name)
    try:
        seeded = seed(fake, read_rows(conn))
    finally:
        conn.close()
    before = len(fake.writes())

    disputes = support_cli(settings, tmp_path, "disputes", "--yes")
    transfers = support_cli(settings, tmp_path, "transfers", "--yes")

    assert disputes.returncode == 0, disputes.stdout + disputes.stderr
    assert transfers.returncode == 3, transfers.stdout + transfers.stderr  # anomalies are reported
    (request,) = ours(fake, "payment_intents")
    assert (request["amount"], request["currency"], request["status"]) == (150000, "eur", "requires_action")
    (dispute,) = seeded.disputes.values()
    new_rows = query(
        settings,
        mysql_server,
        "SELECT amount, paid, pending, disputed, stripeChargeId, comment FROM payments WHERE comment LIKE %s",
        "Created from the dispute ID:%",
    )
    assert new_rows == [
        (Decimal("1500.00"), Decimal("0.00"), 1, 0, request["id"], f"Created from the dispute ID: {dispute}")
    ]
    assert query(settings, mysql_server, "SELECT disputed FROM payments WHERE id = %s", DISPUTED_ROW) == [(1,)]
    made = ours(fake, "transfers")
    assert sorted((t["destination"], t["amount"], t["currency"]) for t in made) == [(FLAGEY_10, 88000, "eur")] * 3
    assert len({t["source_transaction"] for t in made}) == 3
    assert "acct_1MExu0P0T3xOBx0F" in transfers.stdout  # Louis 880's look-alike account is named, never paid
    assert seeded.payments.dispute_writes() == []
    (report,) = (tmp_path / "reports").glob("support-transfers-run-*.md")
    # The re-collection the disputes command made waits for the tenant: listed as such, never an anomaly.
    items = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))["items"]
    (waiting,) = [i for i in items if i["stripe_id"] == request["id"]]
    assert (waiting["action"], waiting["problem"], waiting["amount"]) == ("wait", None, 150000)
    assert waiting["pay_instructions"]["reference"] in transfers.stdout
    advice = report.read_text(encoding="utf-8").split("## What to do next", 1)[1]
    assert "`python support.py disputes`" in advice and "\\`" not in advice  # our own Markdown, not escaped

    after = len(fake.writes())
    for command in ("disputes", "transfers"):
        again = support_cli(settings, tmp_path, command, "--yes")
        assert again.returncode in (0, 3), again.stdout + again.stderr
    assert len(fake.writes()) == after > before
