#!/usr/bin/env python3
"""Link every user, room and lease of the restored database to the fresh Stripe account."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import click
from dotenv import load_dotenv

from relink.app import Options, World, run, utc_now
from relink.app import verify as audit_account
from relink.config import load_settings, redact
from relink.errors import CannotRun
from relink.plan import Plan
from relink.progress import Progress
from relink.report import Report, outcomes_from_plan, render, write_all
from relink.rows import Kind
from relink.verify import Finding

EXIT_OK, EXIT_CANNOT_RUN, EXIT_USAGE, EXIT_UNSYNCED = 0, 1, 2, 3

EXIT_CODES = """\b
Exit codes:
  0  all done: every row is linked
  1  could not run (configuration, connection, authentication, lock)
  2  usage error
  3  finished, but some rows were not synced; each is listed

\b
Configuration comes from the environment or .env: DB_HOST, DB_PORT, DB_USER,
DB_PASSWORD, DB_NAME, STRIPE_SECRET_KEY, STRIPE_API_BASE, HUB_CURRENCIES,
STRIPE_RATE_LIMIT, STRIPE_TIMEOUT."""


def _confirm(plan: Plan) -> bool:
    for line in render(Report(True, outcomes_from_plan(plan), kinds=tuple(k for k in Kind if k in plan.active))):
        click.echo(line)
    return click.confirm("\nCreate these Stripe objects and write their ids?", default=False)


@click.command(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing to Stripe or the database.")
@click.option(
    "--only",
    type=click.Choice([k.value for k in Kind]),
    multiple=True,
    help="Sync only these kinds (repeatable). Leases need their users and rooms linked already.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the report as JSON to this file.",
)
@click.option("--live", is_flag=True, help="Allow a live key (sk_live_/rk_live_). Refused without it.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation on a terminal.")
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0.1),
    help="Stripe requests per second [default: 23.75 test, 95 live; env STRIPE_RATE_LIMIT].",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Canary: sync only N leases, with the users and rooms they need.",
)
@click.option("--verify", is_flag=True, help="Audit the database against the account; change nothing.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the counts and the rows not synced.")
@click.option("--verbose", "-v", is_flag=True, help="Print a line for every row.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Stripe requests in flight at once [default: the rate limit, at most 32].",
)
def main(
    dry_run: bool,
    only: tuple[str, ...],
    report_path: Path | None,
    live: bool,
    yes: bool,
    rate_limit: float | None,
    limit: int | None,
    verify: bool,
    quiet: bool,
    verbose: bool,
    concurrency: int | None,
) -> None:
    """Link every user, room and lease to the fresh Stripe account, safely re-runnable.

    Run with --dry-run first to read the plan, then without it to sync.
    """
    load_dotenv(Path.cwd() / ".env", override=False)
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    verbosity = 0 if quiet else 2 if verbose else 1
    started = utc_now()
    try:
        settings = load_settings(os.environ)
        if rate_limit is not None:
            settings = dataclasses.replace(settings, rate_limit=rate_limit)
        options = Options(
            dry_run=dry_run,
            kinds=frozenset(Kind(k) for k in only) if only else frozenset(Kind),
            live=live,
            workers=concurrency,
            limit=limit,
        )
        interactive = sys.stdin.isatty() and not yes and not dry_run
        world = World(
            echo=(lambda text: None) if quiet else (lambda text: click.echo(text, err=True)),
            confirm=_confirm if interactive else (lambda plan: True),
            progress=(lambda totals: Progress(sys.stderr, totals).tick) if sys.stderr.isatty() and not quiet else None,
        )
        if verify:
            sys.exit(_show_audit(audit_account(settings, options, world)))
        report = run(settings, options, world)
    except CannotRun as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: run again to finish; objects already created are adopted, not made twice", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    for line in render(report, verbosity):
        click.echo(line)
    try:
        written = write_all(report, Path("reports"), started)
        if report_path is not None:
            report.write_json(report_path)
        click.echo(f"\nReports: {written} (and .json, .csv beside it)", err=True)
    except OSError as exc:
        click.echo(f"warning: could not write the reports ({exc}); the output above is the full report", err=True)
    sys.exit(EXIT_UNSYNCED if report.unsynced else EXIT_OK)


def _show_audit(findings: list[Finding]) -> int:
    if not findings:
        click.echo(
            click.style(
                "Verified: every row is linked to its own object, and every lease bills as it should.", fg="green"
            )
        )
        return EXIT_OK
    click.echo(click.style(f"{len(findings)} problem(s) found:", fg="red", bold=True))
    for finding in findings:
        where = (
            f"{finding.kind.singular} {finding.row_id} ({finding.label})"
            if finding.row_id
            else f"{finding.kind.singular} object"
        )
        click.echo(f"  {where}: {finding.problem}")
    click.echo("\nRun `python sync.py --dry-run` to see what a sync would repair.")
    return EXIT_UNSYNCED


if __name__ == "__main__":
    main()
