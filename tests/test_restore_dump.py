"""restore_dump.sh, the way users load a dump: it says what is wrong instead of failing quietly."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from cohabs.shared.settings import Settings
from devkit import support_dump
from devkit.dumpgen import Dump
from devkit.mysql import Server
from tests.helpers import ROOT, db_env, query, support_cli


def test_restore_dump_says_what_is_missing() -> None:
    missing = subprocess.run([str(ROOT / "restore_dump.sh"), "/nonexistent.dump"], capture_output=True, text=True)
    assert missing.returncode == 1
    assert "dump file not found: /nonexistent.dump" in missing.stderr
    down = subprocess.run(
        [str(ROOT / "restore_dump.sh"), str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DB_PORT": "1"},
    )
    assert down.returncode == 1
    assert "cannot connect to MySQL at 127.0.0.1:1" in down.stderr


def test_restore_dump_says_a_login_was_refused(settings: Settings, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DB_HOST": settings.db_host, "DB_PORT": str(settings.db_port)}
    refused = subprocess.run(
        [str(ROOT / "restore_dump.sh"), str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "DB_USER": f"relink_nobody_{secrets.token_hex(3)}"},
    )
    assert refused.returncode == 1
    assert f"MySQL at {settings.db_host}:{settings.db_port} refused to log in user relink_nobody_" in refused.stderr
    assert "is the server up" not in refused.stderr


def columns(server: Server, database: str, table: str) -> list[str]:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                "ORDER BY ORDINAL_POSITION",
                [database, table],
            )
            return [name for (name,) in cur.fetchall()]
    finally:
        conn.close()


def restore_dump(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "restore_dump.sh"), *args], env=db_env(settings), capture_output=True, text=True)


def test_a_restore_over_the_other_jobs_tables_is_refused_unless_replace(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path
) -> None:
    support = support_dump.generate().write(tmp_path / "support.dump")
    before = query(settings, mysql_server, "SELECT id, userId, stripeSubscriptionId FROM leases ORDER BY id")

    refused = restore_dump(settings, str(support))
    assert refused.returncode == 1
    assert f"database {settings.db_name} on {settings.db_host}:{settings.db_port} already holds tables" in (
        refused.stderr
    )
    assert "leases" in refused.stderr and "rooms" in refused.stderr and "users" in refused.stderr
    assert "--replace" in refused.stderr and "--database NAME" in refused.stderr
    # Nothing dropped: the sync's leases keep their shape and their rows.
    assert "userId" in columns(mysql_server, settings.db_name, "leases")
    assert query(settings, mysql_server, "SELECT id, userId, stripeSubscriptionId FROM leases ORDER BY id") == before
    assert "houses" not in [t for (t,) in query(settings, mysql_server, "SHOW TABLES")]

    replaced = restore_dump(settings, "--replace", str(support))
    assert replaced.returncode == 0, replaced.stderr
    assert "houseId" in columns(mysql_server, settings.db_name, "leases")


def test_database_names_the_target_whatever_db_name_says(
    settings: Settings, mysql_server: Server, restored: Dump, tmp_path: Path
) -> None:
    support = support_dump.generate().write(tmp_path / "support.dump")
    other = f"{settings.db_name}_support"
    try:
        done = restore_dump(settings, "--database", other, str(support))  # DB_NAME names the sync's database
        assert done.returncode == 0, done.stderr
        assert f"into {other} on" in done.stdout
        assert "houseId" in columns(mysql_server, other, "leases")
        assert "userId" in columns(mysql_server, settings.db_name, "leases")  # the sync's database untouched
    finally:
        conn = mysql_server.connect()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{other}`")
        conn.close()


def test_support_restores_into_its_own_setting_and_its_hint_names_its_dump(
    settings: Settings, mysql_server: Server, tmp_path: Path
) -> None:
    support = support_dump.generate().write(tmp_path / "support.dump")
    own = f"{settings.db_name}_own_support"
    try:
        env = {**db_env(settings), "SUPPORT_DB_NAME": own}
        command = [str(ROOT / "restore_dump.sh"), "--support", str(support)]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert f"into {own} on" in done.stdout and "houseId" in columns(mysql_server, own, "leases")
    finally:
        conn = mysql_server.connect()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{own}`")
        conn.close()
    gone = support_cli(settings, tmp_path, "transfers", "--dry-run", SUPPORT_DB_NAME=own)
    assert gone.returncode == 1
    assert f"database `{own}` does not exist" in gone.stderr
    assert "./restore_dump.sh --support path/to/cohabs_support_challenge.dump" in gone.stderr
    assert "SUPPORT_DB_NAME" in gone.stderr and "--database" in gone.stderr and "onboarding" not in gone.stderr
