"""Starting a command from its script (`python sync.py`): only the standard library before the command loads.

A Python without the project's packages then gets one line naming the fix,
not a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def launch(module: str, script: str) -> None:
    """Run `module`'s click command `main`, or say how to run `script` with the packages it needs."""
    try:
        command = importlib.import_module(module).main
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] == "cohabs":
            raise  # our own code is missing: a broken checkout, shown as it is
        sys.exit(_advice(missing.name, Path(script).resolve()))
    command()


def _advice(package: str | None, script: Path) -> str:
    venv = script.parent / ".venv" / "bin" / "python"
    fix = (
        f"use the project's, `{venv} {script.name}`"
        if venv.is_file()
        else f"run `make install` in {script.parent}, then `.venv/bin/python {script.name}`"
    )
    return f"error: this Python ({sys.executable}) lacks the package {package!r}: {fix}"
