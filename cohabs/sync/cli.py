"""The sync's command line (`python sync.py`, installed as `cohabs-relink`): flags in, a run, reports out."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click

from cohabs.shared.cli import (
    NO_CONSENT,
    SETTINGS,
    Consent,
    Exit,
    consent,
    emails_option,
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
from cohabs.shared.reports import JsonReport, Privacy, Provenance
from cohabs.shared.secret_key import guard_key
from cohabs.shared.settings import COLLECTION_METHODS, MAX_DAYS_UNTIL_DUE, Settings
from cohabs.shared.stopping import stop_on_signals
from cohabs.sync.copied_customers import parse_customer_map
from cohabs.sync.progress import Progress
from cohabs.sync.rows import Kind
from cohabs.sync.run import Confirm, Options, World, run
from cohabs.sync.run import verify as audit_account
from cohabs.sync.run_report import Heading, Report, render
from cohabs.sync.run_report_files import report_json, write_reports
from cohabs.sync.verify_report import audit_json, write_audit_reports
from cohabs.sync.verify_report import render as render_audit

REPORTS = Path("reports")

MEANINGS = {
    Exit.OK: "all done: every row is linked (--verify: nothing to fix, every tenant can pay)",
    Exit.CANNOT_RUN: "could not run (configuration, database login, Stripe key, lock, not confirmed), or Stripe "
    "stopped answering mid-run (the report lists what is left)",
    Exit.USAGE: "usage error (unknown flag or value, flags that exclude each other)",
    Exit.ATTENTION: "finished, but some rows were not synced (--verify: problems found, or tenants who cannot pay "
    "yet); each is listed",
    Exit.PARTIAL: "finished what was asked (--limit, --only), rows remain for a full run",
    Exit.INTERRUPTED: "interrupted (Ctrl-C): requests under way finished, the report lists what is left",
    Exit.TERMINATED: "terminated (SIGTERM), the same way",
}
CONFIGURATION = ("DB_NAME", *SETTINGS, "HUB_CURRENCIES", "COLLECTION_METHOD", "DAYS_UNTIL_DUE")
INTERRUPTED = "interrupted: run again to finish; objects already created are adopted, not made twice"


def exit_code(report: Report) -> Exit:
    """Rows not synced outrank rows left for later; only a run that leaves nothing says "all done"."""
    if report.stopped:
        return stop_exit(report.stopped)
    if report.unsynced:
        return Exit.ATTENTION
    if report.remaining:
        return Exit.PARTIAL
    return Exit.OK


@click.command(
    epilog=epilog(MEANINGS, CONFIGURATION, "A dry run's code says the same of its plan."),
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    help="Also write the JSON report to this file.",
)
@live_option
@yes_option
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0.1),
    help="Stripe requests per second for the account [default: 24.25 test, 97 live; env STRIPE_RATE_LIMIT].",
)
@click.option(
    "--endpoint-rate-limit",
    type=click.FloatRange(min=0.1),
    help="Stripe requests per second for each endpoint [default: 24.25; env STRIPE_ENDPOINT_RATE_LIMIT].",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Canary: sync only N leases, with the users and rooms they need; exits 4 while rows remain.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Audit the database against the account; change nothing. Asks Stripe to preview the next invoice of "
    "every subscription that bills: one request each, on its own endpoint at 25/s (1,000 leases: about 40 s).",
)
@click.option("--no-previews", is_flag=True, help="With --verify: skip Stripe's invoice previews, a quick check.")
@click.option(
    "--collection-method",
    type=click.Choice(COLLECTION_METHODS),
    help="How tenants pay: Stripe charges a saved payment method, or emails each invoice. Once chosen, linked "
    "subscriptions that still bill are switched too [default: charge_automatically for new subscriptions, linked "
    "ones unchanged; env COLLECTION_METHOD].",
)
@click.option(
    "--days-until-due",
    type=click.IntRange(1, MAX_DAYS_UNTIL_DUE),
    help="send_invoice: days a tenant has to pay each invoice [env DAYS_UNTIL_DUE].",
)
@click.option(
    "--customer-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV deciding which customer Stripe's copy brought is whose: a stripe_customer_id column, and "
    "old_customer_id, user_id or email.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the counts and the rows not synced.")
@click.option("--verbose", "-v", is_flag=True, help="Print a line for every row.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Stripe requests in flight at once [default: 0.6 x the account's rate limit, 8 to 64].",
)
@emails_option
@version_option
@click.pass_context
def main(
    ctx: click.Context,
    dry_run: bool,
    only: tuple[str, ...],
    report_path: Path | None,
    live: bool,
    yes: bool,
    rate_limit: float | None,
    endpoint_rate_limit: float | None,
    limit: int | None,
    verify: bool,
    no_previews: bool,
    quiet: bool,
    verbose: bool,
    concurrency: int | None,
    include_emails: bool,
    collection_method: str | None,
    days_until_due: int | None,
    customer_map: Path | None,
) -> None:
    """Link every user, room and lease to the fresh Stripe account, safely re-runnable.

    Run with --dry-run first to read the plan, then --limit 5 for a canary, then without either to sync.
    """
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    if verify:
        clash = [flag for flag, given in (("--dry-run", dry_run), ("--limit", limit), ("--only", only)) if given]
        if clash:
            raise click.UsageError(f"--verify reads everything and writes nothing: drop {', '.join(clash)}")
    if no_previews and not verify:
        raise click.UsageError("--no-previews goes with --verify")
    started = utc_now()
    privacy = Privacy(include_emails)
    tool = invoked_as(ctx)
    command = "verify" if verify else "dry run" if dry_run else "sync"
    options = Options(
        dry_run=dry_run,
        kinds=frozenset(Kind(k) for k in only) if only else frozenset(Kind),
        live=live,
        workers=concurrency,
        limit=limit,
    )

    def body() -> Exit:
        environment = load_environment()
        honour_no_color(ctx)
        say(environment.describe())
        settings = environment.settings
        if rate_limit is not None:
            settings = dataclasses.replace(settings, rate_limit=rate_limit)
        if endpoint_rate_limit is not None:
            settings = dataclasses.replace(settings, endpoint_rate_limit=endpoint_rate_limit)
        settings = _collection(settings, collection_method, days_until_due)
        mapping = (
            parse_customer_map(customer_map.read_text(encoding="utf-8-sig"), str(customer_map)) if customer_map else ()
        )
        notice = guard_key(settings, writes=not (dry_run or verify), allow_live=live)
        if notice:
            say(notice)
        provenance = Provenance.of(
            settings, command, options_used(ctx), started, tool=tool, env_file=environment.env_file
        )
        world = World(
            echo=(lambda text: None) if quiet else (lambda text: say(privacy(text))),
            confirm=_confirm(provenance, privacy, consent(yes)),
            progress=(lambda totals: Progress(sys.stderr, totals).tick) if sys.stderr.isatty() and not quiet else None,
        )
        files: Callable[[Provenance], list[Path]]
        data: Callable[[Provenance], JsonReport]
        if verify:
            audit = audit_account(settings, world, mapping, previews=not no_previews).scrubbed(privacy)
            lines = render_audit(audit, provenance)
            files = partial(write_audit_reports, audit, folder=REPORTS, privacy=privacy)
            data = partial(audit_json, audit, privacy=privacy)
            code = Exit.OK if audit.clean else Exit.ATTENTION
        else:
            with stop_on_signals(world.stop):
                report = run(settings, dataclasses.replace(options, customer_map=mapping), world).scrubbed(privacy)
            lines = render(report, 0 if quiet else 2 if verbose else 1, target=provenance.target)
            files = partial(write_reports, report, folder=REPORTS, privacy=privacy)
            data = partial(report_json, report, privacy=privacy)
            code = exit_code(report)
        for line in lines:
            click.echo(line)
        save_reports(provenance.finish(utc_now()), files, data, report_path)
        return code

    run_command(body, INTERRUPTED)


def _collection(settings: Settings, method: str | None, days: int | None) -> Settings:
    """The flags over the settings. DAYS_UNTIL_DUE is read with send_invoice only; --days-until-due asks for it."""
    method = method or settings.collection_method
    if days is not None and method != "send_invoice":
        raise click.UsageError("--days-until-due is for --collection-method send_invoice only")
    if method == "send_invoice" and days is None and settings.days_until_due is None:
        raise click.UsageError(
            "send_invoice needs --days-until-due N (or DAYS_UNTIL_DUE): the days a tenant has to pay each invoice"
        )
    if method == "send_invoice":
        days = days if days is not None else settings.days_until_due
    return dataclasses.replace(settings, collection_method=method, days_until_due=days)


def _confirm(provenance: Provenance, privacy: Privacy, given: Consent) -> Confirm:
    """What a sync does before its first write: go on (--yes), ask the person, or show the plan and stop."""

    def show(preview: Report, heading: Heading) -> None:
        for line in render(preview.scrubbed(privacy), 1, target=provenance.target, heading=heading):
            click.echo(line)

    def ask(preview: Report) -> bool:
        show(preview, Heading.TO_APPLY)
        mode = provenance.stripe_mode.upper()
        switch = (
            f", switch {len(preview.switched)} linked subscription(s) to {preview.collection.method}"
            if preview.switched
            else ""
        )
        return click.confirm(
            f"\nCreate these objects in the {mode} Stripe account (key {provenance.stripe_key}){switch} and write "
            f"their ids to database `{provenance.database}` on {provenance.db_host}?",
            default=False,
        )

    def refuse(preview: Report) -> bool:
        show(preview, Heading.NOT_APPLIED)
        raise CannotRun(NO_CONSENT)

    if given is Consent.GIVEN:
        return lambda preview: True
    return ask if given is Consent.ASK else refuse
