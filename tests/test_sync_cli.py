"""sync.py as the support engineer runs it: flags, exit codes, prompts, secrets, a canary, quiet and verbose."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe, Fault
from devkit.mysql import Server
from tests.helpers import ROOT, TEST_KEY, cli, db_env, on_a_terminal, query


def test_help_lists_the_exit_codes() -> None:
    shown = subprocess.run([sys.executable, str(ROOT / "sync.py"), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0
    for line in ("0  all done", "1  could not run", "2  usage error", "3  finished, but some rows", "4  finished what"):
        assert line in shown.stdout


def test_a_usage_error_exits_2(settings: Settings, tmp_path: Path) -> None:
    assert cli(settings, tmp_path, "--only", "invoices").returncode == 2


def test_a_dry_run_changes_nothing_and_shows_the_money(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    before = query(settings, mysql_server, "SELECT id, stripeProductId FROM rooms ORDER BY id")

    done = cli(settings, tmp_path, "--dry-run")

    assert done.returncode == 3, done.stderr
    assert [r.method for r in fake.requests] == ["GET"] * len(fake.requests) and fake.requests
    assert query(settings, mysql_server, "SELECT id, stripeProductId FROM rooms ORDER BY id") == before
    assert "Plan (dry run: nothing was changed)" in done.stdout
    assert "USD/month, free until" in done.stdout
    assert "then billed monthly from" in done.stdout
    assert "cancelled at once, never billed" in done.stdout
    assert f"room {restored.leases[0]['roomId']} does not exist" in done.stdout


def test_a_dry_run_without_a_key_plans_against_an_empty_account(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--dry-run", STRIPE_SECRET_KEY="")
    assert done.returncode == 3, done.stderr
    assert "planning against an empty account" in done.stderr
    assert fake.requests == []


def test_a_full_run_exits_3_names_the_orphan_and_writes_its_report(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--yes", "--report", "out/report.json")

    assert done.returncode == 3, done.stderr
    orphan = restored.leases[0]
    assert f"[skipped] lease {orphan['id']}" in done.stdout
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["counts"]["users"]["created"] == len(restored.users)
    assert report["counts"]["leases"]["skipped"] == 1
    (skipped,) = [r for r in report["rows"] if r["result"] == "skipped"]
    assert skipped["row_id"] == orphan["id"]


def test_exit_0_when_every_row_is_linked(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path
) -> None:
    query(settings, mysql_server, "DELETE FROM leases WHERE id = %s", restored.leases[0]["id"])
    done = cli(settings, tmp_path, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Every row is linked." in done.stdout


def test_a_live_key_is_refused_without_live(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    live_key = "sk_live_51SentinelLiveKeyMustNotLeak9876wxyz"
    done = cli(settings, tmp_path, STRIPE_SECRET_KEY=live_key)

    assert done.returncode == 1
    assert "rerun with --live" in done.stderr
    assert "sk_live_…wxyz" in done.stderr
    assert live_key not in done.stdout + done.stderr
    assert fake.requests == []

    allowed = cli(settings, tmp_path, "--yes", "--live", STRIPE_SECRET_KEY=live_key)
    assert allowed.returncode == 3, allowed.stderr
    assert live_key not in allowed.stdout + allowed.stderr


def test_a_wrong_key_stops_the_run_with_exit_1(settings: Settings, restored: Dump, tmp_path: Path) -> None:
    done = cli(settings, tmp_path, STRIPE_SECRET_KEY="sk_test_invalid0000")
    assert done.returncode == 1
    assert "Stripe refused the key sk_test_…0000" in done.stderr
    assert "sk_test_invalid0000" not in done.stdout + done.stderr


def test_an_unreachable_database_exits_1_with_what_to_do(settings: Settings, tmp_path: Path) -> None:
    done = cli(settings, tmp_path, DB_PORT="1")
    assert done.returncode == 1
    assert "cannot connect to MySQL at 127.0.0.1:1" in done.stderr
    assert "docker compose --env-file ./.env up -d" in done.stderr


def test_a_second_run_at_the_same_time_is_refused(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    holder = mysql_server.connect(settings.db_name)
    with holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", [f"cohabs-relink:{settings.db_name}"])
    try:
        done = cli(settings, tmp_path, "--yes")
    finally:
        holder.close()
    assert done.returncode == 1
    assert "another sync is running" in done.stderr
    assert fake.writes() == []


def test_only_users_creates_customers_and_nothing_else(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--yes", "--only", "users")
    assert done.returncode == 4, done.stdout + done.stderr  # rooms and leases remain: never "all done"
    assert f"{len(restored.users)} of {len(restored.users)} users synced" in done.stdout
    assert len(fake.all("customers")) == len(restored.users)
    assert fake.all("products") == fake.all("subscriptions") == []


def test_the_key_and_the_excluded_columns_never_leave(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--yes", "--report", "report.json")
    assert done.returncode == 3

    secrets = [v for row in query(settings, mysql_server, "SELECT password, salt FROM users") for v in row if v]
    secrets += [u["about"] for u in restored.users] + [f"{u['birthdate']:%Y-%m-%d}" for u in restored.users]
    assert len(secrets) > 2 * len(restored.users)
    sent = "\n".join(r.body + json.dumps(r.params) for r in fake.requests)
    leaked = [s for s in secrets if s in sent]
    assert leaked == []
    visible = done.stdout + done.stderr + (tmp_path / "report.json").read_text()
    assert TEST_KEY not in visible


@pytest.mark.parametrize("answer", ["n\n", ""])
def test_a_terminal_run_asks_before_writing(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path, answer: str
) -> None:
    environment = {**db_env(settings), "STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": fake.url}
    done = on_a_terminal(answer, [sys.executable, str(ROOT / "sync.py")], tmp_path, environment)
    # The prompt names the target and shows the money it is about to set up.
    assert "Create these objects in the TEST Stripe account (key sk_test_…abcd)" in done.stdout
    assert f"to database `{settings.db_name}` on {settings.db_host}:{settings.db_port}?" in done.stdout
    assert "Money, per currency:" in done.stdout and " EUR a month together" in done.stdout
    # Headed as what it is: a plan about to be applied, not a dry run.
    assert "Plan to apply (nothing is changed before you answer)" in done.stdout
    assert "dry run" not in done.stdout
    assert done.returncode == 1
    assert fake.writes() == []


def test_a_canary_run_touches_only_n_leases_and_what_they_need(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    done = cli(settings, tmp_path, "--yes", "--limit", "3")

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

    rest = cli(settings, tmp_path, "--yes")
    assert rest.returncode == 3
    assert len(fake.all("subscriptions")) == len(restored.leases) - 1


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


def test_a_key_echoed_in_a_stripe_error_is_masked_everywhere(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    victim = restored.users[2]["id"]
    fake.inject(Fault("status", "POST", "/v1/customers", status=400, message=f"bad key {TEST_KEY}", contains=victim))
    done = cli(settings, tmp_path, "--yes", "--report", "report.json")
    assert done.returncode == 3
    visible = done.stdout + done.stderr + (tmp_path / "report.json").read_text()
    visible += "".join(p.read_text() for p in (tmp_path / "reports").iterdir())
    assert "bad key sk_test_…abcd" in visible
    assert TEST_KEY not in visible
