"""support.py's command line (`python support.py`, installed as `cohabs-support`): two commands, one habit."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, TypeVar

import click

from cohabs.shared.cli import NO_CONSENT, SETTINGS, Consent, Exit, epilog, stop_exit, version_option
from cohabs.shared.command import (
    REPORTS,
    Command,
    Habits,
    Invocation,
    Outcome,
    rate_options,
    run_command,
    run_options,
)
from cohabs.shared.errors import CannotRun
from cohabs.shared.reports import Provenance
from cohabs.shared.settings import Settings
from cohabs.support import disputes, transfers
from cohabs.support.items import WRITES, Action, Incident, Item, Plan
from cohabs.support.report import render, report_json, totals_lines, write_reports
from cohabs.support.run import Options, SupportRun, World, run

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
F = TypeVar("F", bound=Callable[..., Any])


def _percent(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    """A percentage as a Decimal, never through float: it decides amounts of money."""
    try:
        percent = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if not 0 <= percent < 100:
        raise click.BadParameter(f"{value} is not in [0, 100)")
    return percent


def support_options(f: F) -> F:
    """The options both support commands take: the shared ones, and support's own database."""
    f = click.option(
        "--database",
        metavar="NAME",
        help="The database with houses, leases, payments [default: env SUPPORT_DB_NAME, else "
        f"{Settings().support_db_name}].",
    )(f)
    f = rate_options(f)
    f = run_options(
        quiet="Print only the items that need a person, and the totals.",
        verbose="Print every item with the Stripe id it made or found.",
    )(f)
    return click.pass_context(f)  # type: ignore[return-value]


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
@support_options
def disputes_command(
    ctx: click.Context, /, bank_country: str, due_days: int, cancel_won_requests: bool, **shared: Any
) -> None:
    """Ask tenants whose payment was disputed to pay again, by bank transfer, and record it in a new row."""
    rules = disputes.Rules(bank_country=bank_country, due_days=due_days, cancel_won=cancel_won_requests)
    _run(ctx, Incident.DISPUTES, lambda options: dataclasses.replace(options, disputes=rules), **shared)


@main.command("transfers", epilog=EPILOG)
@click.option(
    "--platform-fee",
    callback=_percent,
    default="0",
    show_default=True,
    metavar="PERCENT",
    help="Keep this share of each payment on the platform (rounded down to the cent); 0 pays houses in full.",
)
@support_options
def transfers_command(ctx: click.Context, /, platform_fee: Decimal, **shared: Any) -> None:
    """Pay each settled rent payment out to its house's connected account, once."""
    rules = transfers.Rules(fee_percent=platform_fee)
    _run(ctx, Incident.TRANSFERS, lambda options: dataclasses.replace(options, transfers=rules), **shared)


def _run(
    ctx: click.Context, incident: Incident, rules: Callable[[Options], Options], database: str | None, **shared: Any
) -> None:
    habits = Habits(**shared)
    options = rules(Options(dry_run=habits.dry_run, live=habits.live))
    command = Command(
        name=f"support {incident.value}" + (" (dry run)" if habits.dry_run else ""),
        prefix=f"support-{incident.value}-{'plan' if habits.dry_run else 'run'}",
        writes=not habits.dry_run,
        interrupted=INTERRUPTED,
        # Support's own database, never DB_NAME: that is the sync's, whose `leases` has another shape.
        configure=lambda settings: dataclasses.replace(settings, db_name=database or settings.support_db_name),
    )
    run_command(ctx, habits, command, partial(_support, incident, options))


def _support(incident: Incident, options: Options, invocation: Invocation) -> Outcome:
    privacy, provenance = invocation.privacy, invocation.provenance
    world = World(echo=invocation.echo, confirm=_confirm(provenance, invocation.consent), stop=invocation.stop)
    done = run(incident, invocation.settings, options, world)
    lines = render(done, provenance.target, invocation.habits.detail, tool=provenance.tool)
    return Outcome(
        (privacy(line) for line in lines),
        partial(write_reports, done, folder=REPORTS, privacy=privacy),
        partial(report_json, done, privacy=privacy),
        exit_code(done),
    )


def exit_code(done: SupportRun) -> Exit:
    """3 only when an item needs a person: re-collections waiting for the tenant's transfer are counted, not asked."""
    if done.stopped:
        return stop_exit(done.stopped)
    return Exit.ATTENTION if any(item.attention for item in done.plan.items) else Exit.OK


def question(plan: Plan, provenance: Provenance) -> str:
    """The prompt names each write the run will make, where: Stripe's, and the database's when there are any."""
    account = f"the {provenance.stripe_mode.upper()} Stripe account (key {provenance.stripe_key})"
    count = Counter(item.action for item in plan.items if item.action in WRITES)
    if plan.incident is Incident.TRANSFERS:
        return f"Make {count[Action.TRANSFER]} transfer(s) to the houses' connected accounts in {account}? The database is only read."
    stripe = [
        f"{verb} {count[action]} {what}"
        for verb, action, what in (
            ("cancel", Action.CANCEL, "unpaid payment request(s)"),
            ("send", Action.COLLECT, "payment request(s)"),
        )
        if count[action]
    ]
    rows = count[Action.COLLECT] + count[Action.RECORD]
    database = f"add {rows} `payments` row(s) to database `{provenance.database}` on {provenance.db_host}"
    said = " and ".join(stripe) + f" in {account}" if stripe else ""
    sentence = said + (", and " if said else "") + database if rows else said
    return sentence[:1].upper() + sentence[1:] + "?"


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
        show(plan)
        return click.confirm(f"\n{question(plan, provenance)}", default=False)

    def refuse(plan: Plan) -> bool:
        show(plan)
        raise CannotRun(NO_CONSENT)

    if given is Consent.GIVEN:
        return lambda plan: True
    return ask if given is Consent.ASK else refuse
