#!/usr/bin/env python3
"""Link every user, room and lease of the restored database to the fresh Stripe account.

The command itself lives in cohabs/sync/cli.py, so that an installed package
runs it as `cohabs-relink`; this file keeps `python sync.py` working (through
cohabs/shared/launch.py, which says how to run it when packages are missing).
"""

from cohabs.shared.launch import launch

if __name__ == "__main__":
    launch("cohabs.sync.cli", __file__)
