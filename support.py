#!/usr/bin/env python3
"""Support's payment incidents: re-collect disputed payments, pay out rent that never reached its house.

The command itself lives in cohabs/support/cli.py, so that an installed package
runs it as `cohabs-support`; this file keeps `python support.py` working.
"""

from cohabs.support.cli import main

if __name__ == "__main__":
    main()
