"""The one skeleton both commands stand on: the option groups they share, and one path from options to exit code.

A command (sync.py, support.py) declares only its own options. It hands
`run_command` a `Command` (what the run is called, what its own options change
in the settings) and a body that turns an `Invocation` into an `Outcome` (lines
for the console, reports, an exit code). Everything else happens here, once,
in the same order for both: the settings line, the key guard, provenance,
signals, the console, the reports, and a stop before any change reported as
such.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from cohabs.shared.cli import (
    Consent,
    Exit,
    consent,
    exit_with,
    honour_no_color,
    invoked_as,
    load_environment,
    options_used,
    save_reports,
    say,
    stop_exit,
)
from cohabs.shared.clock import utc_now
from cohabs.shared.errors import AccountUnreadable
from cohabs.shared.reports import (
    JsonReport,
    Privacy,
    Provenance,
    md_text,
    provenance_markdown,
    write_report_set,
)
from cohabs.shared.secret_key import guard_key
from cohabs.shared.settings import DEFAULT_ENDPOINT_RATE, Settings, default_rate
from cohabs.shared.stopping import StopFlag, Stopped, StopReason, stop_on_signals

F = TypeVar("F", bound=Callable[..., Any])
REPORTS = Path("reports")  # where every run's reports go, relative to where it runs


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        for option in reversed(decorators):
            command = option(command)
        return command

    return decorate


def run_options(*, quiet: str, verbose: str) -> Callable[[F], F]:
    """What every run of either command takes: dry run, consent, live key, JSON report, how much to print."""
    return _stack(
        click.option("--dry-run", is_flag=True, help="Print the plan; write nothing to Stripe or the database."),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation on a terminal."),
        click.option(
            "--live",
            is_flag=True,
            help="Allow a live key (sk_live_/rk_live_) to write. Read-only runs do not need it.",
        ),
        click.option(
            "--report",
            "report_path",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="Also write the JSON report to this file.",
        ),
        click.option("--quiet", "-q", is_flag=True, help=quiet),
        click.option("--verbose", "-v", is_flag=True, help=verbose),
    )


def rate_help() -> tuple[str, str]:
    """The two rate options' help, with the defaults a run uses (settings.py), never a copy of them."""
    test, live = default_rate(live=False), default_rate(live=True)
    return (
        f"Stripe requests per second for the account [default: {test:g} test, {live:g} live; env STRIPE_RATE_LIMIT].",
        f"Stripe requests per second for each endpoint [default: {DEFAULT_ENDPOINT_RATE:g}; "
        "env STRIPE_ENDPOINT_RATE_LIMIT].",
    )


def rate_options(f: F) -> F:
    """Stripe's limits are settings, not constants: an account whose limits Stripe raised says so here."""
    account, endpoint = rate_help()
    return _stack(
        click.option("--rate-limit", type=click.FloatRange(min=0.1), help=account),
        click.option("--endpoint-rate-limit", type=click.FloatRange(min=0.1), help=endpoint),
    )(f)


@dataclass(frozen=True)
class Habits:
    """The shared options' values, as `run_options` and `rate_options` declare them."""

    dry_run: bool = False
    yes: bool = False
    live: bool = False
    report_path: Path | None = None
    quiet: bool = False
    verbose: bool = False
    rate_limit: float | None = None
    endpoint_rate_limit: float | None = None

    @property
    def detail(self) -> int:
        """How much the console shows: 0 with -q, 2 with -v, else 1."""
        return 0 if self.quiet else 2 if self.verbose else 1

    def check(self) -> None:
        if self.quiet and self.verbose:
            raise click.UsageError("--quiet and --verbose exclude each other")

    def apply(self, settings: Settings) -> Settings:
        """The flags over the settings: a flag given wins over the environment and .env."""
        if self.rate_limit is not None:
            settings = dataclasses.replace(settings, rate_limit=self.rate_limit)
        if self.endpoint_rate_limit is not None:
            settings = dataclasses.replace(settings, endpoint_rate_limit=self.endpoint_rate_limit)
        return settings


@dataclass(frozen=True)
class Command:
    """One run of a command, before it starts: its name in reports, and what its own options change."""

    name: str  # provenance's words: "sync", "dry run", "verify", "support transfers (dry run)"
    prefix: str  # the report files' stem: "sync-run", "support-transfers-plan"
    writes: bool  # whether the run may write (the live-key guard)
    interrupted: str  # what a second Ctrl-C says
    configure: Callable[[Settings], Settings] = lambda settings: settings
    privacy: Privacy = field(default_factory=Privacy)


@dataclass(frozen=True)
class Invocation:
    """What a command's body runs with: its settings, where it reports, and how it talks to the person."""

    settings: Settings
    provenance: Provenance
    habits: Habits
    privacy: Privacy
    stop: StopFlag  # set by a signal (or by the gateway when Stripe stops answering)

    @property
    def consent(self) -> Consent:
        return consent(self.habits.yes)

    def echo(self, text: str) -> None:
        """Progress for the person (stderr), silent with -q."""
        if not self.habits.quiet:
            say(self.privacy(text))


@dataclass(frozen=True)
class Outcome:
    """What a run ends with: the console's lines, its report files, its JSON report, and its exit code."""

    lines: Iterable[str]
    files: Callable[[Provenance], list[Path]]
    data: Callable[[Provenance], JsonReport]
    code: Exit


Body = Callable[[Invocation], Outcome]


def run_command(ctx: click.Context, habits: Habits, command: Command, body: Body) -> NoReturn:
    """The one path from options to exit code, for every run of either command."""
    habits.check()
    started = utc_now()
    exit_with(lambda: _run(ctx, habits, command, body, started), command.interrupted)


def _run(ctx: click.Context, habits: Habits, command: Command, body: Body, started: Any) -> Exit:
    environment = load_environment()
    honour_no_color(ctx)
    say(environment.describe())  # first, so that a setting refused below still names where it was read
    settings = command.configure(habits.apply(environment.settings))
    notice = guard_key(settings, writes=command.writes, allow_live=habits.live)
    if notice:
        say(notice)
    provenance = Provenance.of(
        settings, command.name, options_used(ctx), started, tool=invoked_as(ctx), env_file=environment.env_file
    )
    invocation = Invocation(settings, provenance, habits, command.privacy, StopFlag())
    try:
        with stop_on_signals(invocation.stop):
            outcome = body(invocation)
    except Stopped as exc:
        say(f"\nstopped: {exc}")
        outcome = stopped_before_any_change(invocation, command, exc)
    except AccountUnreadable as exc:
        say(f"error: {exc}")
        outcome = stopped_before_any_change(invocation, command, Stopped(StopReason.UNREACHABLE, str(exc)))
    for line in outcome.lines:
        click.echo(line)
    save_reports(provenance.finish(utc_now()), outcome.files, outcome.data, habits.report_path)
    return outcome.code


NOTHING_CHANGED = "Nothing was changed: the run stopped before its first write."


def stopped_before_any_change(invocation: Invocation, command: Command, stop: Stopped) -> Outcome:
    """A stop that reached the skeleton came before any write (the executors hold the stops during writes): its
    cause was said on stderr; the console and a report say that nothing changed, and the run exits with its code."""
    detail = invocation.privacy(str(stop))

    def markdown(provenance: Provenance) -> Iterator[str]:
        yield from (f"# {provenance.tool}: {provenance.command}, stopped", "")
        yield from (f"**Stopped: {md_text(detail)}.** {md_text(NOTHING_CHANGED)}", "")
        yield from provenance_markdown(provenance, invocation.privacy)

    def data(provenance: Provenance) -> JsonReport:
        fields = {"stopped": stop.reason.value, "stop_detail": detail, "changed": False}
        return JsonReport.of(provenance, invocation.privacy, fields, [])

    def files(provenance: Provenance) -> list[Path]:
        return write_report_set(
            REPORTS, f"{command.prefix}-stopped", provenance, markdown(provenance), data(provenance)
        )

    lines = ["", click.style(NOTHING_CHANGED, bold=True)]
    return Outcome(lines, files, data, stop_exit(stop.reason))
