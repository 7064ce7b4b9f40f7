"""The project as a package and as a demo: one version, declared dependencies, a command; a demo that fails loudly."""

from __future__ import annotations

import importlib
import os
import re
import tomllib
from datetime import datetime
from pathlib import Path

import click
import pytest

from cohabs import __version__
from cohabs.shared.settings import Settings
from devkit.dumpgen import generate
from devkit.mysql import Server
from tests.helpers import ROOT, db_env
from tools import demo


def test_the_package_declares_its_dependencies_its_command_and_one_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cohabs.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)

    declared = {re.split(r"[<>=!~ ]", spec)[0].lower() for spec in project["project"]["dependencies"]}
    pinned = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().split() if line}
    assert declared == pinned

    module, _, name = project["project"]["scripts"]["cohabs-relink"].partition(":")
    assert isinstance(getattr(importlib.import_module(module), name), click.Command)


def test_a_demo_step_that_exits_unexpectedly_stops_the_demo_loudly(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    env = {**db_env(settings), "DB_PORT": "1", "STRIPE_SECRET_KEY": ""}
    with pytest.raises(SystemExit) as stopped:
        demo.run(demo.Step("a dry run", ("--dry-run",), {0: "the plan links every row"}), env)
    assert stopped.value.code == 1
    out, err = capfd.readouterr()
    assert "(expected exit 0: the plan links every row)" in out
    assert "demo failed: 'a dry run' exited 1, not one of [0]: stopping" in err
    assert "\x1b[" not in out + err  # no colour codes in a pipe

    demo.run(demo.Step("the same, expected", ("--dry-run",), {1: "MySQL is not there"}), env)
    assert "exit 1, as expected: MySQL is not there" in capfd.readouterr().out


def test_the_readme_names_where_the_dump_is_and_what_the_emulator_accepts() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./restore_dump.sh ../shared/dumps/cohabs_onboarding.dump" in readme
    example = (ROOT / ".env.example").read_text()
    assert "DB_PASSWORD=\n" in example and "no password" in example
    assert os.path.join("devkit", "fake_stripe.py") in readme and "sk_test_" in readme


def _tables(server: Server, database: str) -> set[str]:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [database])
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def test_the_demo_keeps_a_database_that_holds_a_table_it_did_not_make(
    mysql_server: Server, db_name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    dump = generate(6, 3, 6, now=datetime(2025, 1, 1)).write(tmp_path / "demo.dump")
    env = demo.demo_env(mysql_server, db_name)
    demo.restore_fresh(mysql_server, dump, env, db_name)  # an empty database: restored, and marked as the demo's
    assert _tables(mysql_server, db_name) == {"users", "rooms", "leases", demo.MARKER}
    demo.restore_fresh(mysql_server, dump, env, db_name)  # the demo's own: dropped and restored again
    conn = mysql_server.connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db_name}`.`invoices_2024` (id INT)")
    conn.close()
    with pytest.raises(SystemExit) as stopped:
        demo.restore_fresh(mysql_server, dump, env, db_name)
    assert stopped.value.code == 1
    assert "invoices_2024" in _tables(mysql_server, db_name)
    assert "holds tables the demo did not make (invoices_2024); nothing was dropped" in capfd.readouterr().err
    # A database someone restored by hand, without the demo's marker, is not the demo's either.
    conn = mysql_server.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE `{db_name}`.`invoices_2024`, `{db_name}`.`{demo.MARKER}`")
    conn.close()
    with pytest.raises(SystemExit):
        demo.restore_fresh(mysql_server, dump, env, db_name)
    assert "users" in _tables(mysql_server, db_name)
