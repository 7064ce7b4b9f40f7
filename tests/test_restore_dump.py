"""restore_dump.sh, the way users load a dump: it says what is wrong instead of failing quietly."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from cohabs.shared.settings import Settings
from tests.helpers import ROOT


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
