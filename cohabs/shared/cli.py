"""The habits every command line of this project shares: settings, exit codes, the live-key guard, prompts.

A command (sync.py, support.py) stays a thin click layer: it declares its
options with the decorators here, builds its run, and hands the body to
`run_command`, which turns the project's errors into exit codes.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from dotenv import load_dotenv
from dotenv.parser import parse_stream

from cohabs import __version__
from cohabs.shared.errors import CannotRun
from cohabs.shared.reports import JsonReport, Provenance, write_json
from cohabs.shared.settings import Settings, load_settings, redact
from cohabs.shared.stopping import Stopped, StopReason

F = TypeVar("F", bound=Callable[..., Any])


class Exit(IntEnum):
    """Exit codes: one meaning each, the same in every command."""

    OK = 0  # all done
    CANNOT_RUN = 1  # configuration, connection, authentication, lock, declined
    USAGE = 2  # click's own code for a bad flag or value
    ATTENTION = 3  # finished, but rows need attention; each is listed
    PARTIAL = 4  # finished what was asked (a canary, --only), rows remain for a full run
    INTERRUPTED = 130  # Ctrl-C (SIGINT): what was running finished, the rest is reported as not finished
    TERMINATED = 143  # SIGTERM, the same way


def stop_exit(reason: StopReason) -> Exit:
    """A stopped run's code: a signal's own (128 + its number), or 1 when Stripe stopped answering."""
    return {StopReason.INTERRUPTED: Exit.INTERRUPTED, StopReason.TERMINATED: Exit.TERMINATED}.get(
        reason, Exit.CANNOT_RUN
    )


# What both commands read from the environment or .env (settings.py); each adds its database's name.
SETTINGS = (
    "DB_HOST",
    "DB_PORT",
    "DB_USER",
    "DB_PASSWORD",
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_RATE_LIMIT",
    "STRIPE_ENDPOINT_RATE_LIMIT",
    "STRIPE_TIMEOUT",
    "NO_COLOR",
)


def epilog(meanings: Mapping[Exit, str], configuration: Iterable[str], note: str = "") -> str:
    """The --help footer: exit codes and settings, unwrapped (click's \\b)."""
    codes = "\n".join(f"  {code.value}  {meanings[code]}" for code in Exit if code in meanings)
    names = ", ".join(configuration)
    note = f"\n  {note}" if note else ""
    return f"\b\nExit codes:\n{codes}{note}\n\n\b\nConfiguration comes from the environment or .env:\n{names}."


PROJECT = Path(__file__).resolve().parents[2]  # the checkout holding sync.py, support.py and restore_dump.sh


@dataclass(frozen=True)
class Environment:
    """The `.env` a run read (None: the environment and defaults only), and the settings it gives."""

    env_file: Path | None
    looked: tuple[Path, ...]
    twice: tuple[str, ...] = ()  # names the `.env` sets more than once (its last value is the one used)

    @property
    def settings(self) -> Settings:
        """Read after `describe()` is said: a refused setting (a malformed key) still names where it came from."""
        return load_settings(os.environ)

    def describe(self) -> str:
        """The line every run starts with: which `.env` it read, or that it read none."""
        if self.env_file is not None:
            twice = (
                f"; it sets {', '.join(self.twice)} more than once, and its last value is used" if self.twice else ""
            )
            return f"Settings: {self.env_file} (the environment wins over it){twice}"
        places = " or ".join(str(path) for path in self.looked)
        return f"Settings: no .env ({places}): the environment and defaults only"


def env_files(folder: Path | None = None) -> tuple[Path, ...]:
    """Where a `.env` is looked for: the working directory, then the project's, as restore_dump.sh does."""
    return tuple(dict.fromkeys([(folder or Path.cwd()).resolve() / ".env", PROJECT / ".env"]))


def load_environment(folder: Path | None = None) -> Environment:
    """Settings from the environment, then the first `.env` found (the environment wins)."""
    looked = env_files(folder)
    found = next((path for path in looked if path.is_file()), None)
    if found is None:
        return Environment(None, looked)
    load_dotenv(found, override=False)
    return Environment(found, looked, repeated(dotenv_names(found)))


def dotenv_names(path: Path) -> list[str]:
    """The names a `.env` sets, in order, as often as it sets them."""
    with path.open(encoding="utf-8") as text:
        return [binding.key for binding in parse_stream(text) if binding.key]


def repeated(names: Iterable[str]) -> tuple[str, ...]:
    counts = Counter(names)
    return tuple(name for name, n in counts.items() if n > 1)


def command_name(ctx: click.Context) -> str:
    """The command's own name, as --version says it: `python sync.py` for a script, else `cohabs-relink`.

    click names the program once, from sys.argv[0] (or `python -m <module>`).
    """
    name = ctx.find_root().info_name or Path(sys.argv[0]).name
    return f"python {name}" if name.endswith(".py") else name


def invoked_as(ctx: click.Context) -> str:
    """The command as the person would type it again: the reports' provenance and their advice say it this way.

    A script is named with the Python that ran it when that is the project's own (`.venv/bin/python sync.py`,
    as the README runs it), else `python sync.py`; an installed command by its own name (`cohabs-relink`).
    """
    name = command_name(ctx)
    return name.replace("python ", f"{interpreter()} ", 1) if name.startswith("python ") else name


def interpreter(cwd: Path | None = None) -> str:
    """The Python to name in advice: the project's own (.venv/bin/python) when it lives below where the person
    is, as the README runs it; else `python`."""
    try:
        inside = Path(sys.executable).relative_to((cwd or Path.cwd()).resolve())
    except ValueError:
        return "python"
    return str(inside)


def options_used(ctx: click.Context) -> tuple[str, ...]:
    """The flags given on the command line, as typed: what a report says the run was asked to do."""
    used: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.COMMANDLINE:
            continue
        flag = max(param.opts, key=len)
        value = ctx.params[param.name]
        if param.is_flag:
            used.append(flag)
        else:
            for item in value if param.multiple else (value,):
                used.append(f"{flag} {item}")
    return tuple(used)


class Consent(Enum):
    """Who says go before a run writes."""

    GIVEN = "given"  # --yes
    ASK = "ask"  # a person at a terminal answers
    MISSING = "missing"  # no terminal to ask on and no --yes: show the plan, change nothing, exit 1


NO_CONSENT = (
    "nothing was changed: there is no terminal to ask for a yes on, and --yes was not given. "
    "Read the plan above, then run the same command with --yes to apply it"
)


def consent(yes: bool) -> Consent:
    """A run that cannot ask never writes on its own: a script or a pipe must say --yes."""
    if yes:
        return Consent.GIVEN
    return Consent.ASK if sys.stdin.isatty() else Consent.MISSING


def honour_no_color(ctx: click.Context) -> None:
    """NO_COLOR (no-color.org): set and not empty, no colour codes, even on a terminal."""
    if os.environ.get("NO_COLOR"):
        ctx.color = False


def say(text: str) -> None:
    """A message for the operator, on stderr, keys masked; click drops colour codes when it is not a terminal."""
    click.echo(redact(text), err=True)


def exit_with(body: Callable[[], Exit], interrupted: str = "interrupted") -> NoReturn:
    """Run a command's body and exit with its code; the project's errors become exit 1 with their message."""
    try:
        code = body()
    except CannotRun as exc:
        say(f"error: {exc}")
        code = Exit.CANNOT_RUN
    except Stopped as exc:
        say(f"\nstopped: {exc}")
        code = stop_exit(exc.reason)
    except KeyboardInterrupt:
        say(f"\n{interrupted}")
        code = Exit.INTERRUPTED
    sys.exit(int(code))


def version_option(f: F) -> F:
    """--version: the command as it was run, then the package's version (`cohabs-support 0.1.0`)."""

    def show(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            click.echo(f"{command_name(ctx)} {__version__}")
            ctx.exit()

    return click.option(
        "--version", is_flag=True, expose_value=False, is_eager=True, callback=show, help="Show the version and exit."
    )(f)


def emails_option(f: F) -> F:
    return click.option(
        "--include-emails",
        is_flag=True,
        help="Show tenants' emails in the output and the reports (masked by default: ar…@cohabs.com).",
    )(f)


def save_reports(
    done: Provenance,
    files: Callable[[Provenance], list[Path]],
    data: Callable[[Provenance], JsonReport] | None = None,
    report_path: Path | None = None,
) -> None:
    """Write a run's reports; a folder that cannot be written costs a warning, not the run's exit code."""
    try:
        written = files(done)
        if report_path is not None and data is not None:
            write_json(report_path, data(done))
            written.append(report_path)
    except OSError as exc:
        say(f"warning: could not write the reports ({exc}); the output above is the full report")
        return
    say("\nReports: " + ", ".join(str(path) for path in written))
