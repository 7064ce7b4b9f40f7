"""The whole journey on a machine with no Stripe account: `make demo`.

Restores `cohabs_onboarding.dump` when it sits in the project folder (or the
dump named by --dump), else a generated one; starts the local Stripe emulator
the tests use; then runs the dry run, the sync, a rerun and --verify, and
says where the reports are.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from devkit.dumpgen import generate
from devkit.mysql import find_or_start
from tools.bench import start_fake

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY = "sk_test_51DemoKeyForTheLocalEmulator0demo"


def step(title: str, command: list[str], env: dict[str, str]) -> int:
    print(f"\n\033[1m=== {title}\033[0m\n$ {' '.join(command)}", flush=True)
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", type=Path, default=ROOT / "cohabs_onboarding.dump")
    parser.add_argument("--database", default="cohabs_demo")
    args = parser.parse_args()

    server, private = find_or_start()
    fake, url = start_fake(latency=0.0, limit=0.0)
    env = {
        **os.environ,
        "DB_HOST": server.host,
        "DB_PORT": str(server.port),
        "DB_USER": server.user,
        "DB_PASSWORD": server.password,
        "DB_NAME": args.database,
        "STRIPE_SECRET_KEY": DEMO_KEY,
        "STRIPE_API_BASE": url,
    }
    try:
        with tempfile.TemporaryDirectory() as scratch:
            dump = args.dump
            if dump.is_file():
                print(f"Using your dump: {dump}")
            else:
                dump = generate(40, 20, 40, now=datetime.now().replace(microsecond=0)).write(
                    Path(scratch) / "demo.dump"
                )
                print(f"No {args.dump.name} here: using a generated dump with the same schema and quirks")
            conn = server.connect()
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
            conn.close()
            step("Restore the dump", [str(ROOT / "restore_dump.sh"), str(dump)], env)
        print(f"\nThe local Stripe emulator listens on {url} (key {DEMO_KEY[:8]}…).")
        python = sys.executable
        step("1. Dry run: read the plan, nothing is written", [python, "sync.py", "--dry-run"], env)
        step("2. Canary: two leases first", [python, "sync.py", "--yes", "--limit", "2", "--quiet"], env)
        step("3. The sync", [python, "sync.py", "--yes"], env)
        step("4. A rerun creates nothing", [python, "sync.py", "--yes", "--quiet"], env)
        if step("5. Verify: the database against the account", [python, "sync.py", "--verify"], env):
            print("(Verify names every row still unlinked: the lease(s) the sync skipped above, and why.)")
        print(f"\nReports (Markdown for people, JSON, CSV): {ROOT / 'reports'}")
        if private is None:
            print(f"The demo database `{args.database}` is left on {server.host}:{server.port} to look at.")
    finally:
        fake.terminate()
        fake.wait()
        if private:
            private.stop()


if __name__ == "__main__":
    main()
