"""The whole journey on a machine with no Stripe account: `make demo`.

Restores the real dump when it can find it (--dump, else
`cohabs_onboarding.dump` in the project folder, else
`../shared/dumps/cohabs_onboarding.dump` beside the checkout), or a generated
one with the same schema and quirks; starts the local Stripe emulator the
tests use; then runs the dry run, a canary, the sync, a rerun and --verify.
Each step says which exit codes it expects and why; any other code stops the
demo with exit 1.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from devkit.dumpgen import generate
from devkit.mysql import Server, find_or_start
from tools.bench import start_fake

ROOT = Path(__file__).resolve().parent.parent
DUMPS = (ROOT / "cohabs_onboarding.dump", ROOT.parent / "shared" / "dumps" / "cohabs_onboarding.dump")
# Any key shaped like a Stripe secret key works with the emulator (see README).
DEMO_KEY = "sk_test_51DemoKeyForTheLocalEmulator0demo"
# Every dump the demo uses holds a lease whose room does not exist: the sync skips it, so the steps exit 3.
SKIPS = "rows cannot be linked (the dump holds a lease whose room does not exist)"


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]
    expected: dict[int, str]  # exit code -> why it is fine
    script: str = "sync.py"


STEPS = (
    Step("1. Dry run: read the plan, nothing is written", ("--dry-run",), {0: "the plan links every row", 3: SKIPS}),
    Step(
        "2. Canary: two leases first",
        ("--yes", "--limit", "2", "--quiet"),
        {4: "the canary did its two leases, the other rows are left for the full run", 0: "nothing was left"},
    ),
    Step("3. The sync", ("--yes",), {0: "every row is linked", 3: SKIPS}),
    Step("4. A rerun creates nothing", ("--yes", "--quiet"), {0: "every row is linked", 3: SKIPS}),
    Step(
        "5. Verify: the database against the account",
        ("--verify",),
        {
            0: "nothing to fix",
            3: "it lists what is not linked, and who fixes it (the orphan lease needs a person), then any tenant "
            "who cannot pay yet (a fresh account holds no payment method)",
        },
    ),
)


def heading(text: str) -> None:
    # click drops the bold when stdout is not a terminal: a pipe gets plain text.
    click.echo(click.style(f"\n=== {text}", bold=True))


def run(step: Step, env: dict[str, str]) -> None:
    command = [sys.executable, step.script, *step.args]
    heading(step.title)
    expects = "; ".join(f"{code}: {why}" for code, why in step.expected.items())
    click.echo(f"$ {' '.join(command[1:])}    (expected exit {expects})")
    code = subprocess.run(command, cwd=ROOT, env=env).returncode
    if code not in step.expected:
        fail(f"{step.title!r} exited {code}, not one of {sorted(step.expected)}: stopping")
    click.echo(f"exit {code}, as expected: {step.expected[code]}")


def fail(message: str) -> None:
    click.echo(click.style(f"\ndemo failed: {message}", fg="red", bold=True), err=True)
    sys.exit(1)


def find_dump(given: Path | None, candidates: tuple[Path, ...] = DUMPS) -> Path | None:
    if given is not None:
        if not given.is_file():
            fail(f"--dump {given}: no such file")
        return given
    return next((path for path in candidates if path.is_file()), None)


def demo_env(server: Server, database: str, variable: str = "DB_NAME") -> dict[str, str]:
    """The settings every demo command reads: this server, this database (in `variable`), the emulator's key."""
    return {
        **os.environ,
        "DB_HOST": server.host,
        "DB_PORT": str(server.port),
        "DB_USER": server.user,
        "DB_PASSWORD": server.password,
        variable: database,
        "STRIPE_SECRET_KEY": DEMO_KEY,
    }


MARKER = "cohabs_demo_made_this"  # a table the demo leaves in its database: proof it may drop that database


def dump_tables(dump: Path) -> set[str]:
    """The tables a dump creates, read from its DDL."""
    with dump.open(encoding="utf-8", errors="replace") as text:
        return {found.group(1) for line in text if (found := re.match(r"CREATE TABLE `([^`]+)`", line))}


def restore_fresh(server: Server, dump: Path, env: dict[str, str], database: str) -> None:
    """Restore `dump` into the demo database, as users do (restore_dump.sh --database).

    The database is dropped first only when the demo made it: it holds the demo's marker and no table
    the dump does not make. Any other database with tables is left as it is, and the demo stops.
    """
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [database])
            present = {row[0] for row in cur.fetchall()}
            foreign = present - dump_tables(dump) - {MARKER}
            if present and (MARKER not in present or foreign):
                fail(
                    f"database `{database}` on {server.host}:{server.port} holds tables the demo did not make "
                    f"({', '.join(sorted(foreign or present))}); nothing was dropped. "
                    "Run the demo on another database: --database NAME (make demo ARGS='--database NAME')"
                )
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        conn.close()
    heading("Restore the dump")
    restore = [str(ROOT / "restore_dump.sh"), "--database", database, str(dump)]
    click.echo(f"$ ./restore_dump.sh --database {database} {dump}")
    restored = subprocess.run(restore, cwd=ROOT, env=env)
    if restored.returncode != 0:
        fail(f"restore_dump.sh exited {restored.returncode}")
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE `{database}`.`{MARKER}` (id INT) COMMENT 'make demo made this database'")
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", type=Path, help="the dump to restore (default: the real one, when found)")
    parser.add_argument("--database", default="cohabs_demo")
    args = parser.parse_args()

    server, private = find_or_start()
    fake, url = start_fake(latency=0.0, mode="unlimited")
    env = {**demo_env(server, args.database), "STRIPE_API_BASE": url}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            dump = find_dump(args.dump)
            if dump is not None:
                click.echo(f"Using the dump {dump}")
            else:
                dump = generate(40, 20, 40, now=datetime.now().replace(microsecond=0)).write(
                    Path(scratch) / "demo.dump"
                )
                click.echo("No cohabs_onboarding.dump found: using a generated dump with the same schema and quirks")
            restore_fresh(server, dump, env, args.database)
        click.echo(f"\nThe local Stripe emulator listens on {url} (key {DEMO_KEY[:8]}…).")
        for step in STEPS:
            run(step, env)
        click.echo(f"\nReports (Markdown for people, JSON, CSV): {ROOT / 'reports'}")
        if private is None:
            click.echo(f"The demo database `{args.database}` is left on {server.host}:{server.port} to look at.")
    finally:
        fake.terminate()
        fake.wait()
        if private:
            private.stop()


if __name__ == "__main__":
    main()
