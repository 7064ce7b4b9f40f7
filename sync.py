#!/usr/bin/env python3
"""Link every user, room and lease of the restored database to the fresh Stripe account.

The command itself lives in cohabs/sync/cli.py, so that an installed package
runs it as `cohabs-relink`; this file keeps `python sync.py` working.
"""

from cohabs.sync.cli import main

if __name__ == "__main__":
    main()
