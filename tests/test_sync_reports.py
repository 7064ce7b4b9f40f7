"""The reports a reviewer signs off from: the money of every row, where the run ran, no collisions, safe cells, masked emails."""

from __future__ import annotations

import csv
import json
import re
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from cohabs import __version__
from cohabs.shared.reports import Privacy, Provenance, claim_stem, mask_email, md_code, md_text
from cohabs.shared.settings import Settings
from cohabs.sync.rows import Room, room_labels
from cohabs.sync.run_report_files import write_reports
from devkit.dumpgen import HUBS, Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import BIN, NOW, TEST_KEY, cli, csv_rows, query, sync


def cells(row: str) -> list[str]:
    """A Markdown table row split on its unescaped pipes."""
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_the_markdown_and_csv_show_the_money_of_every_lease_and_room(
    settings: Settings, restored: Dump, tmp_path: Path
) -> None:
    report = sync(settings, dry_run=True).scrubbed(Privacy())
    provenance = Provenance.of(settings, "dry run", ["--dry-run"], NOW, tool="python sync.py").finish(NOW)
    markdown, _, table = write_reports(report, provenance, tmp_path, Privacy())

    rows = {(r["kind"], r["row_id"]): r for r in csv_rows(table)}
    text = markdown.read_text()
    orphan = restored.leases[0]["id"]
    for lease in restored.leases:
        row = rows[("lease", lease["id"])]
        currency = "USD" if lease["hubId"] == HUBS["nyc"] else "EUR"
        assert (row["amount"], row["currency"]) == (f"{Decimal(lease['rentAmount']):.2f}", currency)
        assert (row["lease_start"], row["lease_end"]) == (
            f"{lease['startDate']:%Y-%m-%d}",
            f"{lease['endDate']:%Y-%m-%d}",
        )
        ended = lease["status"] in ("finished", "cancelled", "void") or lease["endDate"] <= NOW
        if lease["id"] == orphan:
            assert row["subscription"].startswith("no subscription") and row["first_charge"] == ""
        elif ended:
            assert row["subscription"].startswith("cancelled at once, never billed")
            assert row["first_charge"] == ""
        elif lease["startDate"] > NOW:
            assert row["first_charge"] == f"{lease['startDate']:%Y-%m-%d}"
            assert f"then billed monthly from {row['first_charge']}" in row["subscription"]
        elif row["first_charge"]:
            assert NOW < datetime.fromisoformat(row["first_charge"]) < lease["endDate"]
            assert f"free until {row['first_charge']}, then billed monthly" in row["subscription"]
        else:
            assert "then cancelled: never billed" in row["subscription"]
        (line,) = [line for line in text.splitlines() if line.startswith(f"| `{lease['id']}` |")]
        assert f"{Decimal(lease['rentAmount']):,.2f} {currency}" in cells(line)[5]
        assert len(cells(line)) == 10
        # How each subscription that bills is paid: the default method, and no payment method in a fresh account.
        paid = "charged automatically, no payment method" if row["first_charge"] else ""
        assert cells(line)[8].strip() == paid
        assert (row["collection_method"], row["payment_method"]) == (
            ("charge_automatically", "no") if row["first_charge"] else ("", "")
        )

    labels = set()
    for room in restored.rooms:
        row = rows[("room", room["id"])]
        assert (row["amount"], row["price_from"]) == (f"{Decimal(room['rent']):.2f}", "rent")
        assert row["currency"] in ("EUR", "USD")
        labels.add(row["label"])
    assert len(labels) == len(restored.rooms)  # rooms are told apart by their labels
    # Nothing is linked yet: everything the plan bills, it would create.
    assert "New subscriptions this run would create, per currency:" in text
    assert "Already in Stripe (kept, or adopted), per currency: none." in text


def test_every_report_says_where_it_ran_and_with_what(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--limit", "2", "--yes")
    assert done.returncode == 4, done.stdout + done.stderr

    (markdown,) = (tmp_path / "reports").glob("sync-*.md")
    text = markdown.read_text()
    for expected in (
        f"python sync.py {__version__}",
        "--yes --limit 2",
        f"{md_text(settings.db_name)} on {settings.db_host}:{settings.db_port}",
        "TEST mode, key sk\\_test\\_…abcd",
        f"API {fake.url} (not Stripe's)",
        "| started |",
        "| finished |",
    ):
        assert expected in text
    head = json.loads(markdown.with_suffix(".json").read_text())["provenance"]
    assert head["database"] == {"name": settings.db_name, "host": f"{settings.db_host}:{settings.db_port}"}
    assert head["stripe"] == {"mode": "test", "key": "sk_test_…abcd", "api_base": fake.url}
    assert set(head["options"]) == {"--limit 2", "--yes"} and head["version"] == __version__
    assert (head["tool"], head["command"]) == ("python sync.py", "sync")
    assert "then run `python sync.py` without --limit/--only" in text  # the advice names the command that ran
    assert head["started"] <= head["finished"]
    preamble = [line for line in markdown.with_suffix(".csv").read_text().splitlines() if line.startswith("#")]
    assert f"# database: {settings.db_name} on {settings.db_host}:{settings.db_port}" in preamble
    assert any(line.startswith("# Stripe: TEST mode, key sk_test_…abcd") for line in preamble)
    for path in (tmp_path / "reports").iterdir():
        assert TEST_KEY not in path.read_text()


def test_report_names_never_collide(tmp_path: Path) -> None:
    # Eight runs claiming a name in the same second, at the same moment.
    gate = threading.Barrier(8)
    stems: list[Path] = []

    def claim() -> None:
        gate.wait()
        stems.append(claim_stem(tmp_path, "sync", NOW))

    workers = [threading.Thread(target=claim) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(stems)) == 8
    base = f"sync-{NOW:%Y%m%d-%H%M%S}"
    assert {p.name for p in tmp_path.iterdir()} == {f"{base}.md"} | {f"{base}-{n}.md" for n in range(2, 9)}


def test_a_lease_name_with_a_pipe_stays_in_its_cell(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path
) -> None:
    lease = restored.leases[2]["id"]
    query(settings, mysql_server, "UPDATE leases SET name = %s WHERE id = %s", "bru-a|b `c` *d* <e>\nf", lease)
    done = cli(settings, tmp_path, "--dry-run")
    assert done.returncode == 3
    (markdown,) = (tmp_path / "reports").glob("plan-*.md")
    lines = markdown.read_text().splitlines()
    (header,) = [line for line in lines if line.startswith("| lease | name |")]
    (row,) = [line for line in lines if line.startswith(f"| `{lease}` |")]
    assert len(cells(row)) == len(cells(header))
    assert cells(row)[1].strip() == r"bru-a\|b \`c\` \*d\* \<e\> f"
    assert md_code("a`b|c") == "``a`b\\|c``"


def test_emails_are_masked_unless_asked_for(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path
) -> None:
    bad = restored.users[4]["id"]
    query(settings, mysql_server, "UPDATE users SET email = 'arnaud.x@@cohabs.com' WHERE id = %s", bad)
    emails = [u["email"] for u in restored.users if u["id"] != bad] + ["arnaud.x@@cohabs.com"]

    (tmp_path / "masked").mkdir()
    (tmp_path / "shown").mkdir()
    masked = cli(settings, tmp_path / "masked", "--dry-run")
    shown = cli(settings, tmp_path / "shown", "--dry-run", "--include-emails")

    for done, folder in ((masked, tmp_path / "masked"), (shown, tmp_path / "shown")):
        assert done.returncode == 3, done.stderr
        visible = done.stdout + done.stderr + "".join(p.read_text() for p in (folder / "reports").iterdir())
        leaked = [email for email in emails if email in visible]
        if done is masked:
            assert leaked == []
            assert "ar…@@cohabs.com" in visible and mask_email(emails[0]) in visible
            assert "masked (--include-emails shows them)" in visible
        else:
            assert leaked == emails


def test_the_installed_command_names_itself_in_its_reports_and_advice(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    relink = str(BIN / "cohabs-relink")  # ROOT / an absolute path is that path: the installed console script
    cli(settings, tmp_path, "--dry-run", script=relink)
    (plan,) = (tmp_path / "reports").glob("plan-*.md")
    assert json.loads(plan.with_suffix(".json").read_text())["provenance"]["tool"] == "cohabs-relink"
    assert f"# tool: cohabs-relink {__version__}" in plan.with_suffix(".csv").read_text()
    text = plan.read_text()
    assert f"| tool | cohabs-relink {__version__} |" in text
    assert "Read the plan, then run `cohabs-relink` to apply it." in text

    audit = cli(settings, tmp_path, "--verify", script=relink)
    assert audit.returncode == 3, audit.stdout + audit.stderr
    assert "Run `cohabs-relink --dry-run` to preview, then `cohabs-relink`: it repairs" in audit.stdout
    (verify,) = (tmp_path / "reports").glob("verify-*.md")
    assert "Run `cohabs-relink --verify` again to confirm." in verify.read_text()
    assert "sync.py" not in text + audit.stdout + verify.read_text()


def test_room_labels_tell_rooms_apart_whatever_their_ids() -> None:
    def room(room_id: str, number: int | None, location: str | None) -> Room:
        return Room(room_id, number, location, None, None, Decimal("700.00"), None)

    rooms = [
        room("_NYNv-fb1Sn", 6, "second floor, street side"),
        room("_PIi6j_Go-0", 6, "second floor, street side"),
        room("1", 8, None),
        room("2", 8, None),
        room("-RJlZsWSLU", 8, "second floor, garden side"),
        room("x9", None, None),
    ]
    labels = room_labels(rooms)
    assert labels == {
        "_NYNv-fb1Sn": "room 6, second floor, street side #_NYNv-",
        "_PIi6j_Go-0": "room 6, second floor, street side #_PIi6j",
        "1": "room 8 #1",
        "2": "room 8 #2",
        "-RJlZsWSLU": "room 8, second floor, garden side",
        "x9": "room x9",
    }


def test_reports_are_written_for_machines_people_and_spreadsheets(
    settings: Settings, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--yes")
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


def test_masked_emails_keep_what_tells_tenants_apart() -> None:
    privacy = Privacy()
    assert privacy("it+3@cohabs.com, it+4@cohabs.com") == "it…+3@cohabs.com, it…+4@cohabs.com"
    assert privacy("arnaud@cohabs.com") == "ar…@cohabs.com"
    assert Privacy(include_emails=True)("it+3@cohabs.com") == "it+3@cohabs.com"


def test_the_markdown_puts_what_needs_a_person_first_and_lists_the_routine_further_down(
    settings: Settings, restored: Dump, tmp_path: Path
) -> None:
    report = sync(settings, dry_run=True).scrubbed(Privacy())
    provenance = Provenance.of(settings, "dry run", ["--dry-run"], NOW, tool="python sync.py").finish(NOW)
    markdown, _, _ = write_reports(report, provenance, tmp_path, Privacy())
    text = markdown.read_text()
    orphan = restored.leases[0]["id"]

    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections.index("## Needs a person (1 row(s))") < sections.index("## Money")
    assert sections.index("## Money") < sections.index("## Routine changes")
    person = text.split("## Needs a person", 1)[1].split("## Money", 1)[0]
    assert f"`{orphan}`" in person and "**Broken references:" in person  # the row under its advice
    stale = len(restored.rooms)
    assert f"Routine, nothing to decide: {stale} rooms replaced stale (listed below)." in text
    routine = text.split("## Routine changes", 1)[1].split("## ", 1)[0]
    assert routine.count("| replaced stale |") == stale and f"`{orphan}`" not in routine
