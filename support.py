#!/usr/bin/env python3
"""Support's payment incidents: re-collect disputed payments, pay out rent that never reached its house."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from dotenv import load_dotenv

from relink.app import utc_now
from relink.config import load_settings, redact
from relink.errors import CannotRun
from relink.support import disputes, transfers
from relink.support.app import Options, World, run
from relink.support.plan import Action, Job, Plan
from relink.support.report import render, totals_lines, write_all

EXIT_OK, EXIT_CANNOT_RUN, EXIT_USAGE, EXIT_ATTENTION = 0, 1, 2, 3

EXIT_CODES = """\b
Exit codes:
  0  all done: nothing needs a person
  1  could not run (configuration, connection, authentication, lock, not confirmed)
  2  usage error
  3  finished, but some items were reported (not acted on) or failed; each is listed

\b
Configuration comes from the environment or .env: DB_HOST, DB_PORT, DB_USER,
DB_PASSWORD, DB_NAME (or --database), STRIPE_SECRET_KEY, STRIPE_API_BASE,
STRIPE_RATE_LIMIT, STRIPE_TIMEOUT."""

QUESTIONS = {
    Job.DISPUTES: "Send these payment requests and add their payments rows?",
    Job.TRANSFERS: "Make these transfers to the houses' accounts?",
}


def _confirm(plan: Plan) -> bool:
    writes = [i for i in plan.items if i.action in (Action.COLLECT, Action.RECORD, Action.TRANSFER)]
    click.echo(f"\n{len(writes)} change(s):")
    for item in writes:
        click.echo(f"  {item.subject}: {item.reason}")
    for label, value in totals_lines(plan):
        click.echo(f"  {label}: {value}")
    return click.confirm("\n" + QUESTIONS[plan.job], default=False)


def common(command: Callable[..., None]) -> Callable[..., None]:
    """The habits both commands share with sync.py."""

    @click.option("--dry-run", is_flag=True, help="Print the plan; write nothing to Stripe or the database.")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation on a terminal.")
    @click.option("--live", is_flag=True, help="Allow a live key (sk_live_/rk_live_). Refused without it.")
    @click.option("--database", metavar="NAME", help="The database holding houses, leases and payments [env DB_NAME].")
    @click.option(
        "--rate-limit",
        type=click.FloatRange(min=0.1),
        help="Stripe requests per second [default: 23.75 test, 95 live; env STRIPE_RATE_LIMIT].",
    )
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        command(**kwargs)

    return wrapper


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Handle payment incidents as support does, with a plan first and nothing done twice.

    Run a command with --dry-run first to read its plan.
    """


@main.command("disputes", epilog=EXIT_CODES)
@common
@click.option(
    "--bank-country",
    type=click.Choice(disputes.EU_COUNTRIES),
    default=disputes.Rules.bank_country,
    show_default=True,
    help="Country of the euro bank details the tenant transfers to.",
)
@click.option(
    "--due-days",
    type=click.IntRange(1, 90),
    default=disputes.Rules.due_days,
    show_default=True,
    help="The new payment is due this many days after its request is created.",
)
def disputes_command(bank_country: str, due_days: int, **common_options: Any) -> None:
    """Ask tenants whose payment was disputed to pay again, by bank transfer, and record it."""
    rules = disputes.Rules(bank_country=bank_country, due_days=due_days)
    _run(Job.DISPUTES, lambda options: dataclasses.replace(options, disputes=rules), **common_options)


@main.command("transfers", epilog=EXIT_CODES)
@common
@click.option(
    "--platform-fee",
    type=click.FloatRange(0, 100, max_open=True),
    default=0.0,
    show_default=True,
    metavar="PERCENT",
    help="Keep this share of each payment on the platform (rounded down to the cent); 0 pays houses in full.",
)
def transfers_command(platform_fee: float, **common_options: Any) -> None:
    """Pay each settled rent payment out to its house's connected account, once."""
    rules = transfers.Rules(fee_percent=Decimal(str(platform_fee)))
    _run(Job.TRANSFERS, lambda options: dataclasses.replace(options, transfers=rules), **common_options)


def _run(
    job: Job,
    rules: Callable[[Options], Options],
    *,
    dry_run: bool,
    yes: bool,
    live: bool,
    database: str | None,
    rate_limit: float | None,
) -> None:
    load_dotenv(Path.cwd() / ".env", override=False)
    started = utc_now()
    try:
        settings = load_settings(os.environ)
        if database:
            settings = dataclasses.replace(settings, db_name=database)
        if rate_limit is not None:
            settings = dataclasses.replace(settings, rate_limit=rate_limit)
        interactive = sys.stdin.isatty() and not yes and not dry_run
        world = World(
            echo=lambda text: click.echo(text, err=True),
            confirm=_confirm if interactive else (lambda plan: True),
        )
        outcome = run(job, settings, rules(Options(dry_run=dry_run, live=live)), world)
    except CannotRun as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: run again to finish; what was made is found again, never made twice", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    for line in render(outcome):
        click.echo(line)
    try:
        written = write_all(outcome, Path("reports"), started)
        click.echo(f"\nReports: {written} (and .json, .csv beside it)", err=True)
    except OSError as exc:
        click.echo(f"warning: could not write the reports ({exc}); the output above is the full report", err=True)
    sys.exit(EXIT_ATTENTION if any(i.attention for i in outcome.plan.items) else EXIT_OK)


if __name__ == "__main__":
    main()
