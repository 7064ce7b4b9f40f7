"""support.py's command line (`python support.py`, installed as `cohabs-support`): two commands, one habit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

import click

from cohabs.shared.cli import (
    NO_CONSENT,
    SETTINGS,
    Consent,
    Exit,
    consent,
    epilog,
    honour_no_color,
    invoked_as,
    live_option,
    load_environment,
    options_used,
    run_command,
    save_reports,
    say,
    stop_exit,
    version_option,
    yes_option,
)
from cohabs.shared.clock import utc_now
from cohabs.shared.errors import CannotRun
from cohabs.shared.reports import Privacy, Provenance
from cohabs.shared.secret_key import guard_key
from cohabs.shared.stopping import stop_on_signals
from cohabs.support import disputes, transfers
from cohabs.support.plan import WRITES, Action, Item, Job, Plan
from cohabs.support.report import render, report_json, totals_lines, write_reports
from cohabs.support.run import Options, World, run

REPORTS = Path("reports")
MEANINGS = {
    Exit.OK: "all done: nothing needs a person",
    Exit.CANNOT_RUN: "could not run (configuration, database login, Stripe key, lock, not confirmed), or Stripe "
    "stopped answering mid-run (the report lists what is left)",
    Exit.USAGE: "usage error (unknown command, flag or value)",
    Exit.ATTENTION: "finished, but some items were reported (never acted on) or failed; each is listed",
    Exit.INTERRUPTED: "interrupted (Ctrl-C): requests under way finished, the report lists what is left",
    Exit.TERMINATED: "terminated (SIGTERM), the same way",
}
CONFIGURATION = ("SUPPORT_DB_NAME (or --database; never DB_NAME, the sync's)", *SETTINGS)
EPILOG = epilog(MEANINGS, CONFIGURATION, "A dry run's code says the same of its plan.")
INTERRUPTED = "interrupted: run again to finish; what was made is found again, never made twice"
QUESTIONS = {
    Job.DISPUTES: "Send these payment requests",
    Job.TRANSFERS: "Make these transfers to the houses' accounts",
}


def _percent(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    """A percentage as a Decimal, never through float: it decides amounts of money."""
    try:
        percent = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if not 0 <= percent < 100:
        raise click.BadParameter(f"{value} is not in [0, 100)")
    return percent


def common(command: Callable[..., None]) -> Callable[..., None]:
    """The habits both commands share with sync.py."""
    habits: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
        click.option("--dry-run", is_flag=True, help="Print the plan; write nothing to Stripe or the database."),
        yes_option,
        live_option,
        click.option(
            "--database",
            metavar="NAME",
            help="The database with houses, leases, payments [default: env SUPPORT_DB_NAME, else cohabs_support].",
        ),
        click.option(
            "--rate-limit",
            type=click.FloatRange(min=0.1),
            help="Stripe requests per second [default: 23.75 test, 95 live; env STRIPE_RATE_LIMIT].",
        ),
        click.option(
            "--report",
            "report_path",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="Also write the JSON report to this file.",
        ),
        click.option("--quiet", "-q", is_flag=True, help="Print only the items that need a person, and the totals."),
        click.option("--verbose", "-v", is_flag=True, help="Print every item with the Stripe id it made or found."),
        click.pass_context,
    ]
    for decorate in reversed(habits):
        command = decorate(command)
    return command


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@version_option
def main() -> None:
    """Handle payment incidents as support does: a plan first, nothing done twice.

    Run a command with --dry-run first to read its plan.
    """


@main.command("disputes", epilog=EPILOG)
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
@click.option(
    "--cancel-won-requests",
    is_flag=True,
    help="Cancel the unpaid payment request of a dispute that gave the money back (won) since it was made. "
    "A paid one is never refunded by the tool: it is reported.",
)
@common
def disputes_command(
    ctx: click.Context, bank_country: str, due_days: int, cancel_won_requests: bool, **habits: Any
) -> None:
    """Ask tenants whose payment was disputed to pay again, by bank transfer, and record it in a new row."""
    rules = disputes.Rules(bank_country=bank_country, due_days=due_days, cancel_won=cancel_won_requests)
    _run(ctx, Job.DISPUTES, lambda options: dataclasses.replace(options, disputes=rules), **habits)


@main.command("transfers", epilog=EPILOG)
@click.option(
    "--platform-fee",
    callback=_percent,
    default="0",
    show_default=True,
    metavar="PERCENT",
    help="Keep this share of each payment on the platform (rounded down to the cent); 0 pays houses in full.",
)
@common
def transfers_command(ctx: click.Context, platform_fee: Decimal, **habits: Any) -> None:
    """Pay each settled rent payment out to its house's connected account, once."""
    rules = transfers.Rules(fee_percent=platform_fee)
    _run(ctx, Job.TRANSFERS, lambda options: dataclasses.replace(options, transfers=rules), **habits)


def _run(
    ctx: click.Context,
    job: Job,
    rules: Callable[[Options], Options],
    *,
    dry_run: bool,
    yes: bool,
    live: bool,
    database: str | None,
    rate_limit: float | None,
    report_path: Path | None,
    quiet: bool,
    verbose: bool,
) -> None:
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    started = utc_now()
    privacy = Privacy()
    tool = invoked_as(ctx)
    options = rules(Options(dry_run=dry_run, live=live))

    def body() -> Exit:
        environment = load_environment()
        honour_no_color(ctx)
        say(environment.describe())
        # Support's own database, never DB_NAME: that is the sync's, whose `leases` has another shape.
        settings = dataclasses.replace(environment.settings, db_name=database or environment.settings.support_db_name)
        if rate_limit is not None:
            settings = dataclasses.replace(settings, rate_limit=rate_limit)
        notice = guard_key(settings, writes=not dry_run, allow_live=live)
        if notice:
            say(notice)
        command = f"support {job.value}" + (" (dry run)" if dry_run else "")
        provenance = Provenance.of(
            settings, command, options_used(ctx), started, tool=tool, env_file=environment.env_file
        )
        world = World(
            echo=(lambda text: None) if quiet else (lambda text: say(privacy(text))),
            confirm=_confirm(provenance, consent(yes)),
        )
        with stop_on_signals(world.stop):
            done = run(job, settings, options, world)
        for line in render(done, provenance.target, 0 if quiet else 2 if verbose else 1, tool=tool):
            click.echo(privacy(line))
        save_reports(
            provenance.finish(utc_now()),
            partial(write_reports, done, folder=REPORTS, privacy=privacy),
            partial(report_json, done, privacy=privacy),
            report_path,
        )
        if done.stopped:
            return stop_exit(done.stopped)
        return Exit.ATTENTION if any(i.attention for i in done.plan.items) else Exit.OK

    run_command(body, INTERRUPTED)


def _confirm(provenance: Provenance, given: Consent) -> Callable[[Plan], bool]:
    """What a run does before its first write: go on (--yes), ask the person, or show the changes and stop."""

    def show(plan: Plan) -> list[Item]:
        changes = [i for i in plan.items if i.action in WRITES]  # cancels first, as the plan lists them
        click.echo(f"\n{len(changes)} change(s):")
        for item in changes:
            click.echo(f"  {item.subject}: {item.reason}")
        for label, value in totals_lines(plan):
            click.echo(f"  {label}: {value}")
        return changes

    def ask(plan: Plan) -> bool:
        changes = show(plan)
        question = QUESTIONS[plan.job]
        if any(i.action is Action.CANCEL for i in changes):
            question = "Cancel and send these payment requests"
        return click.confirm(
            f"\n{question} in the {provenance.stripe_mode.upper()} Stripe account "
            f"(key {provenance.stripe_key}) and write to database `{provenance.database}` on {provenance.db_host}?",
            default=False,
        )

    def refuse(plan: Plan) -> bool:
        show(plan)
        raise CannotRun(NO_CONSENT)

    if given is Consent.GIVEN:
        return lambda plan: True
    return ask if given is Consent.ASK else refuse
