"""The second job end to end on a machine with no Stripe account: `make support-demo`.

Restores the support dump into a database of its own (--dump, else
`cohabs_support_challenge.dump` in the project folder or in ../shared/dumps/
beside the checkout, else a generated one with the same situations); starts
the local Stripe emulator seeded like that data (a charge per payment, the
dispute, a transfer already made, the houses' accounts with the look-alike one
missing); then runs both dry runs, both commands, and a rerun of both that
must send no write to Stripe. Each step says which exit codes it expects; any
other code stops the demo with exit 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from devkit.mysql import find_or_start
from devkit.support_dump import generate
from tools.bench import stats
from tools.demo import ROOT, Step, demo_env, fail, find_dump, restore_fresh, run

DUMP = "cohabs_support_challenge.dump"
DUMPS = (ROOT / DUMP, ROOT.parent / "shared" / "dumps" / DUMP)
# The support data always holds anomalies (unpaid, pending, late payments, a house without an account):
# each is reported, so a transfers run exits 3 however well it went.
ANOMALIES = "the anomalies are reported, none paid out"
STEPS = (
    Step("1. Disputes, dry run: the plan", ("disputes", "--dry-run"), {0: "one dispute to re-collect"}, "support.py"),
    Step("2. Transfers, dry run: the plan", ("transfers", "--dry-run"), {3: ANOMALIES}, "support.py"),
    Step("3. Re-collect the disputed payment", ("disputes", "--yes"), {0: "requested once, row added"}, "support.py"),
    Step("4. Pay out the rent not transferred", ("transfers", "--yes"), {3: ANOMALIES}, "support.py"),
)
RERUNS = (
    Step("5. A rerun of the disputes", ("disputes", "--yes"), {0: "waiting for the tenant: no write"}, "support.py"),
    Step("6. A rerun of the transfers", ("transfers", "--yes"), {3: ANOMALIES}, "support.py"),
)


def writes(url: str) -> int:
    methods = stats(url)["by_method"]
    return int(methods.get("POST", 0)) + int(methods.get("DELETE", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", type=Path, help=f"the support dump (default: {DUMP}, when found)")
    parser.add_argument("--database", default="cohabs_support_demo")
    args = parser.parse_args()

    server, private = find_or_start()
    env = demo_env(server, args.database, "SUPPORT_DB_NAME")
    fake: subprocess.Popen[str] | None = None
    try:
        with tempfile.TemporaryDirectory() as scratch:
            dump = find_dump(args.dump, DUMPS)
            if dump is not None:
                click.echo(f"Using the support dump {dump}")
            else:
                dump = generate().write(Path(scratch) / "support.dump")
                click.echo(f"No {DUMP} found: using a generated dump with the same situations")
            restore_fresh(server, dump, env, args.database)
        command = [sys.executable, "-m", "devkit.fake_stripe", "--port", "0", "--seed-support", args.database]
        fake = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert fake.stdout is not None
        url = fake.stdout.readline().split()[-1]  # "fake Stripe listening on URL": up and seeded
        click.echo(f"\nThe local Stripe emulator listens on {url}: {fake.stdout.readline().strip()}")
        env["STRIPE_API_BASE"] = url
        for step in STEPS:
            run(step, env)
        before = writes(url)
        for step in RERUNS:
            run(step, env)
        sent = writes(url) - before
        if sent:
            fail(f"the rerun sent {sent} write(s) to Stripe")
        click.echo("\nThe rerun sent no write to Stripe.")
        click.echo(f"Reports (Markdown for people, JSON, CSV): {ROOT / 'reports'}")
        if private is None:
            click.echo(f"The demo database `{args.database}` is left on {server.host}:{server.port} to look at.")
    finally:
        if fake is not None:
            fake.terminate()
            fake.wait()
        if private:
            private.stop()


if __name__ == "__main__":
    main()
