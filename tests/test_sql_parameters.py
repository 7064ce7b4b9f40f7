"""Every SQL statement in cohabs/ is parameterized: values never reach the text of a query."""

from __future__ import annotations

import ast

from tests.helpers import ROOT


def test_every_query_is_parameterized_and_names_come_from_the_schema() -> None:
    """Static check of cohabs/: SQL text is constant, or formats only quote(...) of schema names."""
    checked = 0
    for path in (ROOT / "cohabs").rglob("*.py"):
        tree = ast.parse(path.read_text())
        assigned = {
            target.id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in ast.walk(tree):
            if not (
                isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "execute"
            ):
                continue
            sql = call.args[0]
            if isinstance(sql, ast.Name):
                sql = assigned[sql.id]
            for part in ast.walk(sql):
                if isinstance(part, ast.FormattedValue):
                    value = part.value
                    if isinstance(value, ast.Name):
                        value = assigned[value.id]
                    text = ast.unparse(value)
                    assert "quote(" in text or text.startswith("int("), f"{path.name}: {text} in SQL"
            checked += 1
    assert checked >= 5
