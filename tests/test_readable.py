"""What a newcomer reads: functions short enough to take in at once, and a README read in about five minutes."""

from __future__ import annotations

import ast

from tests.helpers import ROOT

LONGEST = 50  # lines, from `def` to the function's last line (decorators not counted)


def _lengths() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for path in sorted((ROOT / "cohabs").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                found[(where, node.name)] = max(length, found.get((where, node.name), 0))
    return found


def test_no_function_in_the_package_is_longer_than_about_50_lines() -> None:
    lengths = _lengths()
    long = {name: lines for name, lines in lengths.items() if lines > LONGEST}
    assert not long, f"functions over {LONGEST} lines (split them): {long}"
    assert max(lengths.values()) > 0 and ("cohabs/sync/cli.py", "main") in lengths


def test_the_readme_reads_in_about_five_minutes_and_the_reference_moved_to_usage() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    words = len(readme.split())
    assert words <= 1_400, f"README.md has {words} words; reference material goes to docs/usage.md"
    assert "| `--rate-limit N` |" not in readme and "| `DB_NAME` |" not in readme
    usage = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    assert "| `--rate-limit N` |" in usage and "| `DB_NAME` |" in usage and "docs/usage.md" in readme
