#!/usr/bin/env python3
"""Support's payment incidents: re-collect disputed payments, pay out rent that never reached its house.

The command itself lives in cohabs/support/cli.py, so that an installed package
runs it as `cohabs-support`; this file keeps `python support.py` working. Only
the standard library is used before that import: a Python without the
project's packages gets one line saying how to run it, not a traceback.
"""

import sys
from pathlib import Path

try:
    from cohabs.support.cli import main
except ModuleNotFoundError as missing:
    if (missing.name or "").partition(".")[0] == "cohabs":
        raise
    here = Path(__file__).resolve().parent
    venv = here / ".venv" / "bin" / "python"
    name = Path(__file__).name
    fix = (
        f"use the project's, `{venv} {name}`"
        if venv.is_file()
        else f"run `make install` in {here}, then `.venv/bin/python {name}`"
    )
    sys.exit(f"error: this Python ({sys.executable}) lacks the package {missing.name!r}: {fix}")

if __name__ == "__main__":
    main()
