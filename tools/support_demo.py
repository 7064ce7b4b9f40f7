"""The second job end to end on a machine with no Stripe account: `make support-demo`.

Restores the support dump into a database of its own (the one named by
--dump, else `cohabs_support_challenge.dump` in the project folder or in
../shared/dumps/, else a generated one with the same situations); starts the
local Stripe emulator seeded like that data (a charge per payment, the
dispute, a transfer already made, the houses' accounts with the look-alike one
missing); then runs both dry runs, both commands, and a rerun that creates
nothing, and says where the reports are.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from devkit.mysql import find_or_start
from devkit.support_dump import generate
from tools.bench import stats
from tools.demo import DEMO_KEY, step

ROOT = Path(__file__).resolve().parent.parent
DUMP = "cohabs_support_challenge.dump"
CANDIDATES = (ROOT / DUMP, ROOT.parent / "shared" / "dumps" / DUMP)


def writes(url: str) -> int:
    return int(stats(url)["by_method"].get("POST", 0)) + int(stats(url)["by_method"].get("DELETE", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", type=Path, help=f"the support dump (default: {DUMP} here or in ../shared/dumps/)")
    parser.add_argument("--database", default="cohabs_support_demo")
    args = parser.parse_args()

    server, private = find_or_start()
    env = {
        **os.environ,
        "DB_HOST": server.host,
        "DB_PORT": str(server.port),
        "DB_USER": server.user,
        "DB_PASSWORD": server.password,
        "DB_NAME": args.database,
        "STRIPE_SECRET_KEY": DEMO_KEY,
    }
    fake: subprocess.Popen[str] | None = None
    try:
        with tempfile.TemporaryDirectory() as scratch:
            dump = args.dump or next((c for c in CANDIDATES if c.is_file()), None)
            if dump is None:
                dump = generate().write(Path(scratch) / "support.dump")
                print(f"No {DUMP} found: using a generated dump with the same situations")
            else:
                print(f"Using the support dump {dump}")
            conn = server.connect()
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
            conn.close()
            step("Restore the support dump into its own database", [str(ROOT / "restore_dump.sh"), str(dump)], env)
        command = [sys.executable, "-m", "devkit.support_account", "--port", "0", "--database", args.database]
        fake = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert fake.stdout is not None
        url = fake.stdout.readline().split()[-1]  # "fake Stripe listening on URL": up and seeded
        print(f"\nThe local Stripe emulator listens on {url}: {fake.stdout.readline().strip()}")
        env["STRIPE_API_BASE"] = url
        python = sys.executable
        step(
            "1. Dry run of the disputes: read the plan, nothing is written",
            [python, "support.py", "disputes", "--dry-run"],
            env,
        )
        step("2. Dry run of the transfers", [python, "support.py", "transfers", "--dry-run"], env)
        step("3. Re-collect the disputed payment", [python, "support.py", "disputes", "--yes"], env)
        step("4. Pay out the rent that never reached its house", [python, "support.py", "transfers", "--yes"], env)
        before = writes(url)
        step("5. A rerun of both creates nothing", [python, "support.py", "disputes", "--yes"], env)
        step("", [python, "support.py", "transfers", "--yes"], env)
        print(f"\nStripe writes during the rerun: {writes(url) - before}")
        print(f"Reports (Markdown for people, JSON, CSV): {ROOT / 'reports'}")
        if private is None:
            print(f"The demo database `{args.database}` is left on {server.host}:{server.port} to look at.")
    finally:
        if fake is not None:
            fake.terminate()
            fake.wait()
        if private:
            private.stop()


if __name__ == "__main__":
    main()
