"""The sync's command line (`python sync.py`, installed as `cohabs-relink`): flags in, a run, reports out."""

from __future__ import annotations

import dataclasses
import sys
from functools import partial
from pathlib import Path
from typing import Any

import click

from cohabs.shared.cli import NO_CONSENT, SETTINGS, Consent, Exit, emails_option, epilog, stop_exit, version_option
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
from cohabs.shared.reports import Privacy, Provenance
from cohabs.shared.settings import COLLECTION_METHODS, MAX_DAYS_UNTIL_DUE, Settings
from cohabs.sync.copied_customers import MapRow, parse_customer_map
from cohabs.sync.progress import Progress
from cohabs.sync.rows import Kind
from cohabs.sync.run import Confirm, Options, World, run
from cohabs.sync.run import verify as audit_account
from cohabs.sync.run_report import Heading, Report, render
from cohabs.sync.run_report_files import report_json, write_reports
from cohabs.sync.undo_cli import MEANING, undo_body
from cohabs.sync.verify_report import audit_json, write_audit_reports
from cohabs.sync.verify_report import render as render_audit

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
    epilog=epilog(MEANINGS, CONFIGURATION, f"A dry run's code says the same of its plan. {MEANING}."),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@run_options(
    quiet="Print only the counts, the rows not synced and the verdict (--verify: the verdict and its counts).",
    verbose="Print a line for every row (and every tenant in how tenants pay).",
)
@rate_options
@click.option(
    "--only",
    type=click.Choice([k.value for k in Kind]),
    multiple=True,
    help="Sync only these kinds (repeatable). Leases need their users and rooms linked already.",
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
    "--undo",
    "undo_report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Undo what the sync run that wrote this JSON report created (newest first); money is left for a person.",
)
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
    /,
    only: tuple[str, ...],
    limit: int | None,
    verify: bool,
    no_previews: bool,
    undo_report: Path | None,
    concurrency: int | None,
    include_emails: bool,
    collection_method: str | None,
    days_until_due: int | None,
    customer_map: Path | None,
    **shared: Any,
) -> None:
    """Link every user, room and lease to the fresh Stripe account, safely re-runnable.

    Run with --dry-run first to read the plan, then --limit 5 for a canary, then without either to sync.
    """
    habits = Habits(**shared)
    if verify:
        given = (("--dry-run", habits.dry_run), ("--limit", limit), ("--only", only))
        clash = [flag for flag, was in given if was]
        if clash:
            raise click.UsageError(f"--verify reads everything and writes nothing: drop {', '.join(clash)}")
    if no_previews and not verify:
        raise click.UsageError("--no-previews goes with --verify")
    if undo_report is not None:
        beside = {"--verify": verify, "--limit": limit, "--only": only, "--collection-method": collection_method}
        beside["--days-until-due"] = days_until_due
        _undo(ctx, habits, undo_report, concurrency, Privacy(include_emails), [f for f, was in beside.items() if was])
    command = Command(
        name="verify" if verify else "dry run" if habits.dry_run else "sync",
        prefix="verify" if verify else "plan" if habits.dry_run else "sync",
        writes=not (habits.dry_run or verify),
        interrupted=INTERRUPTED,
        configure=lambda settings: _collection(settings, collection_method, days_until_due),
        privacy=Privacy(include_emails),
    )
    if verify:
        run_command(ctx, habits, command, partial(_audit, customer_map, not no_previews))
    options = Options(
        dry_run=habits.dry_run,
        kinds=frozenset(Kind(k) for k in only) if only else frozenset(Kind),
        live=habits.live,
        workers=concurrency,
        limit=limit,
    )
    run_command(ctx, habits, command, partial(_sync, options, customer_map))


def _undo(
    ctx: click.Context, habits: Habits, report: Path, workers: int | None, privacy: Privacy, clash: list[str]
) -> None:
    if clash:
        raise click.UsageError(f"--undo undoes one report's run, nothing more: drop {', '.join(clash)}")
    command = Command(
        name="undo (dry run)" if habits.dry_run else "undo",
        prefix="undo-plan" if habits.dry_run else "undo",
        writes=not habits.dry_run,
        interrupted="interrupted: run the same undo again to finish; nothing is done twice",
        privacy=privacy,
    )
    run_command(ctx, habits, command, lambda invocation: undo_body(report, workers, _world(invocation), invocation))


def _world(invocation: Invocation, confirm: Confirm | None = None) -> World:
    quiet = invocation.habits.quiet
    return World(
        echo=invocation.echo,
        confirm=confirm or (lambda preview: True),
        progress=(lambda totals: Progress(sys.stderr, totals).tick) if sys.stderr.isatty() and not quiet else None,
        stop=invocation.stop,
    )


def _mapping(path: Path | None) -> tuple[MapRow, ...]:
    return parse_customer_map(path.read_text(encoding="utf-8-sig"), str(path)) if path else ()


def _audit(customer_map: Path | None, previews: bool, invocation: Invocation) -> Outcome:
    privacy = invocation.privacy
    world, mapping = _world(invocation), _mapping(customer_map)
    audit = audit_account(invocation.settings, world, mapping, previews=previews).scrubbed(privacy)
    return Outcome(
        render_audit(audit, invocation.provenance, invocation.habits.detail),
        partial(write_audit_reports, audit, folder=REPORTS, privacy=privacy),
        partial(audit_json, audit, privacy=privacy),
        Exit.OK if audit.clean else Exit.ATTENTION,
    )


def _sync(options: Options, customer_map: Path | None, invocation: Invocation) -> Outcome:
    privacy, provenance = invocation.privacy, invocation.provenance
    world = _world(invocation, _confirm(provenance, privacy, invocation.consent))
    options = dataclasses.replace(options, customer_map=_mapping(customer_map))
    report = run(invocation.settings, options, world).scrubbed(privacy)
    return Outcome(
        render(report, invocation.habits.detail, target=provenance.target),
        partial(write_reports, report, folder=REPORTS, privacy=privacy),
        partial(report_json, report, privacy=privacy),
        exit_code(report),
    )


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
