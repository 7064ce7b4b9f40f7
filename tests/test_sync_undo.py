"""`sync.py --undo REPORT`: exactly what one run created goes, money stays for a person, and it is a run like the sync.

Two runs, the second undone: the first run's objects and rows are untouched; a
customer with a card is left and named (exit 3); the undo repeated sends no
write; a sync afterwards recreates what was undone and nothing else; reports
that cannot be undone are refused with nothing changed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cohabs.shared.cli import Exit
from cohabs.shared.reports import Privacy, Provenance, write_json
from cohabs.shared.settings import Settings
from cohabs.sync.rows import Kind
from cohabs.sync.run import World
from cohabs.sync.run_report import Report
from cohabs.sync.run_report_files import report_json
from cohabs.sync.undo import UndoOptions, undo
from cohabs.sync.undo_plan import Act, CustomerNow, Now, ProductNow, plan_undo
from cohabs.sync.undo_record import Made, Refused, RunRecord, read_record
from cohabs.sync.undo_report import Done, UndoReport
from devkit.dumpgen import Dump
from devkit.fake import Fault
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import NOW, ROOT, cli, db_env, kill_when, line, own_env_file, query, sync

TABLES = {Kind.USER: ("users", "stripeCustomerId"), Kind.ROOM: ("rooms", "stripeProductId")}
TABLES[Kind.LEASE] = ("leases", "stripeSubscriptionId")


def synced(settings: Settings, path: Path, **options: Any) -> Report:
    """A sync in this process, its JSON report written to `path` as `--report` writes it."""
    report = sync(settings, **options)
    provenance = Provenance.of(settings, "dry run" if report.dry_run else "sync", [], NOW, tool="python sync.py")
    write_json(path, report_json(report, provenance, Privacy()))
    return report


def undone(settings: Settings, path: Path, dry_run: bool = False) -> UndoReport:
    world = World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    return undo(settings, UndoOptions(path, dry_run=dry_run), world, lambda preview: True)


def linked(settings: Settings, server: Server) -> dict[tuple[Kind, str], str | None]:
    found: dict[tuple[Kind, str], str | None] = {}
    for kind, (table, column) in TABLES.items():
        found |= {(kind, r): s for r, s in query(settings, server, f"SELECT id, {column} FROM {table}")}
    return found


def made(report: Report) -> dict[tuple[Kind, str], str]:
    return {(o.kind, o.row_id): o.stripe_id for o in report.outcomes if o.made and o.stripe_id}


def test_undoing_the_second_of_two_runs_leaves_the_first_and_money_and_a_sync_redoes_it(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    first = made(synced(settings, tmp_path / "one.json", limit=5))
    before = linked(settings, mysql_server)
    second = made(synced(settings, tmp_path / "two.json"))
    assert first and second and not first.keys() & second.keys()
    carded_row, carded = next((k, s) for k, s in second.items() if k[0] is Kind.USER)
    fake.payments.give_payment_method(carded)

    report = undone(settings, tmp_path / "two.json")

    assert report.exit_code() is Exit.ATTENTION
    assert [(o.step.made.stripe_id, o.result) for o in report.having(Done.LEFT)] == [(carded, Done.LEFT)]
    assert "a payment method" in report.having(Done.LEFT)[0].detail
    rows = linked(settings, mysql_server)
    objects = fake.objects
    for key, stripe_id in first.items():  # the first run: untouched, in Stripe and in the rows
        assert rows[key] == before[key] == stripe_id
    assert all(not objects["customers"][s]["deleted"] for (k, _), s in first.items() if k is Kind.USER)
    assert all(objects["products"][s]["active"] for (k, _), s in first.items() if k is Kind.ROOM)
    for (kind, row_id), stripe_id in second.items():
        if stripe_id == carded:
            assert rows[(kind, row_id)] == carded and not objects["customers"][carded]["deleted"]
            continue
        assert rows[(kind, row_id)] is None, (kind, row_id)
        if kind is Kind.USER:
            assert objects["customers"][stripe_id]["deleted"]
        elif kind is Kind.ROOM:
            product = objects["products"][stripe_id]
            assert not product["active"]
            prices = [p for p in objects["prices"].values() if p["product"] == stripe_id]
            assert all(not p["active"] for p in prices if p["id"] != product["default_price"])
        else:
            assert objects["subscriptions"][stripe_id]["status"] == "canceled"
    cancels = [s["_cancel_params"] for s in objects["subscriptions"].values() if "_cancel_params" in s]
    assert {"invoice_now": "false", "prorate": "false"} in cancels

    writes = len(fake.writes())
    again = undone(settings, tmp_path / "two.json")
    assert len(fake.writes()) == writes, "a second undo of the same report sends no write"
    assert again.exit_code() is Exit.ATTENTION and not again.having(Done.UNDONE)

    redone = sync(settings)
    recreated = {(o.kind, o.row_id) for o in redone.outcomes if o.made}
    undone_objects = {(o.step.made.kind, o.step.made.row_id) for o in report.having(Done.UNDONE)}
    cleared_only = {(o.step.made.kind, o.step.made.row_id) for o in report.lines if o.step.act is Act.CLEAR}
    assert recreated == undone_objects - cleared_only  # an ended lease's cancelled subscription is linked again
    assert line(redone, Kind.USER, carded_row[1]).stripe_id == carded
    writes = len(fake.writes())
    sync(settings)
    assert len(fake.writes()) == writes


def test_a_dry_run_of_an_undo_changes_nothing_and_an_interrupted_undo_is_finished_by_a_rerun(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    synced(settings, tmp_path / "run.json")
    rows, writes = linked(settings, mysql_server), len(fake.writes())

    plan = undone(settings, tmp_path / "run.json", dry_run=True)

    assert plan.exit_code() is Exit.OK and plan.having(Done.UNDONE)
    assert len(fake.writes()) == writes and linked(settings, mysql_server) == rows
    fake.inject(Fault("status", "DELETE", "/v1/customers/", count=2, status=400, message="refused for the test"))
    cut = undone(settings, tmp_path / "run.json")
    assert cut.exit_code() is Exit.CANNOT_RUN and len(cut.having(Done.FAILED)) == 2
    rerun = undone(settings, tmp_path / "run.json")
    assert rerun.exit_code() is Exit.OK
    assert [o.step.made.kind for o in rerun.having(Done.UNDONE)] == [Kind.USER, Kind.USER]
    assert all(s is None for s in linked(settings, mysql_server).values())
    assert all(c["deleted"] for c in fake.objects["customers"].values())


def _edited(source: Path, target: Path, change: Any) -> Path:
    data = json.loads(source.read_text(encoding="utf-8"))
    change(data)
    target.write_text(json.dumps(data), encoding="utf-8")
    return target


def _as_an_earlier_version(data: dict[str, Any]) -> None:
    del data["stripe_account"], data["undo_format"]
    for row in data["rows"]:
        del row["made"]


def test_reports_that_cannot_be_undone_are_refused_with_nothing_changed(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    synced(settings, tmp_path / "plan.json", dry_run=True)
    synced(settings, tmp_path / "run.json")
    rows, writes = linked(settings, mysql_server), len(fake.writes())
    run = tmp_path / "run.json"
    old = _edited(run, tmp_path / "old.json", _as_an_earlier_version)
    other_account = _edited(run, tmp_path / "acct.json", lambda d: d.update(stripe_account="acct_1Other0000000000"))
    other_db = _edited(run, tmp_path / "db.json", lambda d: d["provenance"]["database"].update(name="elsewhere"))
    cases = {
        tmp_path / "missing.json": "no report at",
        tmp_path / "plan.json": "a dry run's report",
        old: "did not record the Stripe account it wrote to nor which objects the run created",
        other_account: "written against Stripe account acct_1Other0000000000",
        other_db: "written for database `elsewhere`",
    }
    for path, says in cases.items():
        with pytest.raises(Refused, match=".*".join(map(re.escape, says.split(" nor ")))):
            undone(settings, path)
    assert len(fake.writes()) == writes and linked(settings, mysql_server) == rows


def test_the_verify_report_and_an_undo_report_are_refused(tmp_path: Path) -> None:
    for mode, says in (("verify", "a --verify report"), ("undo", "an undo's own report")):
        path = tmp_path / f"{mode}.json"
        path.write_text(json.dumps({"provenance": {}, "mode": mode, "rows": []}), encoding="utf-8")
        with pytest.raises(Refused, match=says):
            read_record(path)
    with pytest.raises(Refused, match="not a JSON report"):
        (tmp_path / "r.md").write_text("# a Markdown report\n", encoding="utf-8")
        read_record(tmp_path / "r.md")


# The plan, pure: what is on each object now decides.

CUSTOMER, PRODUCT, SUBSCRIPTION = (
    Made(Kind.USER, "u1", "Ann", "cus_1"),
    Made(Kind.ROOM, "r1", "room 1", "prod_1"),
    Made(Kind.LEASE, "l1", "bru-1", "sub_1"),
)


def record(*made: Made) -> RunRecord:
    return RunRecord(Path("r.json"), "", "python sync.py", "db", "h:1", "test", "acct_1", made, 0)


def test_the_plan_cancels_then_deletes_and_archives_and_clears_only_rows_that_still_hold_the_id() -> None:
    now = Now(
        subscriptions={"sub_1": "trialing"},
        customers={"cus_1": CustomerNow()},
        products={"prod_1": ProductNow(True, "price_d", ("price_2",))},
        rows={(Kind.USER, "u1"): "cus_1", (Kind.ROOM, "r1"): "prod_other", (Kind.LEASE, "l1"): "sub_1"},
        owners={"sub_1": "cus_1"},
    )
    steps = plan_undo(record(CUSTOMER, PRODUCT, SUBSCRIPTION), now).steps
    assert [(s.made.kind, s.act, s.clear_row) for s in steps] == [
        (Kind.LEASE, Act.CANCEL, True),
        (Kind.USER, Act.DELETE, True),
        (Kind.ROOM, Act.ARCHIVE, False),  # the row holds another product now: left as it is
    ]
    assert steps[2].prices == ("price_2",)
    assert steps[1].after == ("sub_1",)  # deleting the customer waits for its subscription's cancel
    assert steps[0].resume is None  # the customer goes too: no other rent of its to keep collected
    kept = Now(subscriptions={"sub_1": "active"}, owners={"sub_1": "cus_9"})  # another run's customer
    assert plan_undo(record(SUBSCRIPTION), kept).steps[0].resume == "cus_9"


def test_money_or_another_runs_subscription_leaves_an_object_and_an_undone_one_needs_nothing() -> None:
    money = Now(customers={"cus_1": CustomerNow(("a charge (ch_1)",))}, rows={(Kind.USER, "u1"): "cus_1"})
    (step,) = plan_undo(record(CUSTOMER), money).steps
    assert (step.act, step.clear_row, step.why) == (Act.LEAVE, False, "money or a tenant's data on it: a charge (ch_1)")
    shared = Now(products={"prod_1": ProductNow(True)}, others={"prod_1": ("sub_9",)})
    assert plan_undo(record(PRODUCT), shared).steps[0].act is Act.LEAVE
    gone = Now(subscriptions={"sub_1": "canceled"}, products={"prod_1": ProductNow(False)})
    assert [s.act for s in plan_undo(record(CUSTOMER, PRODUCT, SUBSCRIPTION), gone).steps] == [Act.DONE] * 3
    assert not plan_undo(record(CUSTOMER, PRODUCT, SUBSCRIPTION), gone).writes


def test_the_sync_report_carries_what_undo_needs(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    synced(settings, tmp_path / "run.json")
    data = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert data["stripe_account"] == fake.resources.accounts.own["id"] and data["undo_format"] == 1
    assert {row["made"] for row in data["rows"]} == {True, False}  # the orphan lease made nothing
    assert read_record(tmp_path / "run.json").made


def test_undo_on_the_command_line_asks_and_writes_its_reports(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    ran = cli(settings, tmp_path, "--yes", "--report", "run.json")
    assert ran.returncode == 3, ran.stderr
    plan = cli(settings, tmp_path, "--undo", "run.json", "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "Undo plan (dry run: nothing was changed)" in plan.stdout
    refused = cli(settings, tmp_path, "--undo", "run.json")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    done = cli(settings, tmp_path, "--undo", "run.json", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    written = sorted(p.name.rsplit("-", 2)[0] for p in (tmp_path / "reports").glob("undo*.json"))
    assert written == ["undo", "undo-plan"]  # the refused one changed nothing and wrote nothing
    assert "77 object(s) undone" not in done.stderr and "undone, 0 already undone." in done.stdout
    missing = cli(settings, tmp_path, "--undo", "nothing.json", "--yes")
    assert missing.returncode == 1 and "no report at nothing.json" in missing.stderr


def test_an_undo_killed_after_stripe_deleted_a_customer_is_finished_by_the_rerun_each_object_once(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    synced(settings, tmp_path / "run.json")
    env = {**db_env(settings), "STRIPE_SECRET_KEY": settings.stripe_key or "", "STRIPE_API_BASE": fake.url}
    own_env_file(tmp_path)
    command = [sys.executable, str(ROOT / "sync.py"), "--undo", "run.json", "--yes", "--quiet"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, text=True
    )
    # Stripe deleted a customer (its subscriptions were cancelled before); the process dies before the row is cleared.
    fake.hook = kill_when(
        fake, process, lambda stage, r: stage == "processed" and r.method == "DELETE" and r.path.startswith("/v1/cus")
    )
    assert process.wait(timeout=120) == -signal.SIGKILL
    fake.hook = None

    rerun = cli(settings, tmp_path, "--undo", "run.json", "--yes")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert all(s is None for s in linked(settings, mysql_server).values())
    deletes = Counter(r.path for r in fake.requests if r.method == "DELETE")
    assert deletes and set(deletes.values()) == {1}, "each subscription cancelled and each customer deleted once"
