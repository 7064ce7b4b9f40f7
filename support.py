#!/usr/bin/env python3
"""Support's payment incidents: re-collect disputed payments, pay out rent that never reached its house.

The command itself lives in cohabs/support/cli.py, so that an installed package
runs it as `cohabs-support`; this file keeps `python support.py` working (through
cohabs/shared/launch.py, which says how to run it when packages are missing).
"""

from cohabs.shared.launch import launch

if __name__ == "__main__":
    launch("cohabs.support.cli", __file__)
