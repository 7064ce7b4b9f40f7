"""What every report of every job carries, whatever the job: where it ran, safe text, files that never collide.

Job-agnostic on purpose: sync.py and support.py both write their Markdown,
JSON and CSV through these pieces; what goes *in* a report is each job's own.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cohabs import __version__
from cohabs.shared.settings import Settings, mask_key, redact

# Anything around an @, valid address or not: a malformed email quoted in a
# reason ("arnaud@", "a@@b.com") is as personal as a valid one.
_EMAIL = re.compile(r"[^\s'\"<>(),;:|`]*@[^\s'\"<>(),;:|`]*")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def mask_email(email: str) -> str:
    """`arnaud@cohabs.com` → `ar…@cohabs.com`: enough to recognise, not enough to write to.

    A sub-address stays whole (`it+3@cohabs.com` → `it…+3@cohabs.com`): it is what tells apart tenants
    who share a mailbox, and alone it reaches nobody. Reports show each row's id beside its email too.
    """
    local, _, domain = email.partition("@")
    base, plus, tag = local.partition("+")
    return f"{base[:2]}…{plus}{tag}@{domain}"


class Privacy:
    """The one filter every line a report or the console shows goes through.

    Keys are always masked; emails unless the operator asked for them.
    """

    def __init__(self, include_emails: bool = False) -> None:
        self.include_emails = include_emails

    def __call__(self, text: str) -> str:
        text = redact(text)
        return text if self.include_emails else _EMAIL.sub(lambda m: mask_email(m.group(0)), text)

    def describe(self) -> str:
        return "included (--include-emails)" if self.include_emails else "masked (--include-emails shows them)"


@dataclass(frozen=True)
class Provenance:
    """Where a run read and wrote, with what, and when: the head of every report."""

    tool: str  # the command as the person ran it: "python sync.py", "cohabs-support" (cli.invoked_as)
    command: str  # what ran, in words: "sync", "dry run", "verify"
    database: str
    db_host: str
    stripe_mode: str  # "test", "live" or "none"
    stripe_key: str  # masked
    api_base: str | None  # None: Stripe's own
    options: tuple[str, ...]
    started: datetime
    finished: datetime | None = None
    version: str = __version__
    env_file: str | None = None  # the .env the settings came from; None: the environment and defaults only

    @classmethod
    def of(
        cls,
        settings: Settings,
        command: str,
        options: Sequence[str],
        started: datetime,
        *,
        tool: str,
        env_file: Path | None = None,
    ) -> Provenance:
        return cls(
            env_file=str(env_file) if env_file else None,
            tool=tool,
            command=command,
            database=settings.db_name,
            db_host=f"{settings.db_host}:{settings.db_port}",
            stripe_mode=settings.mode or "none",
            stripe_key=mask_key(settings.stripe_key),
            api_base=settings.stripe_api_base,
            options=tuple(options),
            started=started,
        )

    def finish(self, at: datetime) -> Provenance:
        return replace(self, finished=at)

    @property
    def stripe(self) -> str:
        if self.stripe_mode == "none":
            return "not read (no STRIPE_SECRET_KEY)"
        where = f", API {self.api_base} (not Stripe's)" if self.api_base else ""
        return f"{self.stripe_mode.upper()} mode, key {self.stripe_key}{where}"

    @property
    def target(self) -> str:
        return f"database `{self.database}` on {self.db_host}; Stripe {self.stripe}"

    def fields(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in the order a reviewer reads them."""
        return [
            ("tool", f"{self.tool} {self.version}"),
            ("run", self.command),
            ("options", " ".join(self.options) or "(none)"),
            ("settings", self.env_file or "no .env: the environment and defaults"),
            ("database", f"{self.database} on {self.db_host}"),
            ("Stripe", self.stripe),
            ("started", _utc(self.started)),
            ("finished", _utc(self.finished) if self.finished else "(did not finish)"),
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "version": self.version,
            "command": self.command,
            "options": list(self.options),
            "settings_file": self.env_file,
            "database": {"name": self.database, "host": self.db_host},
            "stripe": {"mode": self.stripe_mode, "key": self.stripe_key, "api_base": self.api_base},
            "started": self.started.isoformat() + "Z",
            "finished": self.finished.isoformat() + "Z" if self.finished else None,
        }


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


class Code(str):
    """A table cell shown as code (ids): kept verbatim, never escaped."""


class Ours(str):
    """A table cell of our own words (advice), whose code spans are ours: shown as code, the rest made inert."""


_CODE_SPAN = re.compile(r"(`[^`|]+`)")


def md_ours(text: str) -> str:
    """Our own text in a cell: its code spans stay code (never escaped backticks), everything else is md_text."""
    parts = _CODE_SPAN.split(" ".join(str(text).split()))
    return "".join(part if n % 2 else _MARKDOWN_SPECIAL.sub(r"\\\1", part) for n, part in enumerate(parts))


def md_text(text: str) -> str:
    """Plain text made inert in Markdown: one line, no character that opens a table cell, link or emphasis."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def md_code(text: str) -> str:
    """A code span whose fence is longer than any backtick run inside it."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Ours):
        return md_ours(value)
    return md_code(value) if isinstance(value, Code) else md_text(str(value))


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """A Markdown table with every cell escaped: a `|` in a lease name cannot break its row."""
    yield "| " + " | ".join(md_text(h) for h in header) + " |"
    yield "|" + "---|" * len(header)
    for row in rows:
        yield "| " + " | ".join(md_cell(cell) for cell in row) + " |"


def provenance_markdown(provenance: Provenance, privacy: Privacy) -> Iterator[str]:
    yield from ("## Where and how it ran", "")
    yield from md_table(("", ""), [*provenance.fields(), ("emails", privacy.describe())])


def claim_stem(folder: Path, prefix: str, started: datetime) -> Path:
    """A report name no other run holds: `<prefix>-<UTC time>[-n]`, claimed by creating its Markdown file.

    Exclusive creation makes the claim atomic, so three runs in one second, or
    two processes at once, each get their own set of files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{prefix}-{started:%Y%m%d-%H%M%S}"
    for n in range(1, 10_000):
        stem = folder / (base if n == 1 else f"{base}-{n}")
        try:
            stem.with_suffix(".md").open("x", encoding="utf-8").close()
        except FileExistsError:
            continue
        return stem
    raise FileExistsError(f"no free report name for {base} in {folder}")


@dataclass(frozen=True)
class JsonReport:
    """A JSON report: its head (provenance first), then its rows under `key`."""

    head: Mapping[str, Any]
    rows: Iterable[Mapping[str, Any]]
    key: str = "rows"

    @classmethod
    def of(
        cls,
        provenance: Provenance,
        privacy: Privacy,
        fields: Mapping[str, Any],
        rows: Iterable[Mapping[str, Any]],
        key: str = "rows",
    ) -> JsonReport:
        emails = "included" if privacy.include_emails else "masked"
        return cls({"provenance": provenance.as_json(), "emails": emails, **fields}, rows, key)


@dataclass(frozen=True)
class CsvTable:
    header: Sequence[str]
    rows: Iterable[Sequence[object]]


def write_markdown(path: Path, lines: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)


def write_json(path: Path, report: JsonReport) -> None:
    """The head, then one row per line as it comes: a 60,000-row report never sits in memory whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(dict(report.head), ensure_ascii=False)[:-1] + f', "{report.key}": [')
        for index, row in enumerate(report.rows):
            out.write(("," if index else "") + "\n  " + json.dumps(row, ensure_ascii=False))
        out.write("\n]}\n")


def write_csv(path: Path, provenance: Provenance, table: CsvTable) -> None:
    """A table for spreadsheets, headed by `#` lines saying where it ran (skip them with comment='#')."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        for label, value in provenance.fields():
            out.write(f"# {label}: {value}\n")
        writer.writerow(table.header)
        writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)


def write_report_set(
    folder: Path,
    prefix: str,
    provenance: Provenance,
    markdown: Iterable[str],
    data: JsonReport,
    table: CsvTable | None = None,
) -> list[Path]:
    """A run's Markdown, JSON and (optionally) CSV under one stem no other run holds; returns the paths."""
    stem = claim_stem(folder, prefix, provenance.started)
    paths = [stem.with_suffix(".md"), stem.with_suffix(".json")]
    write_json(paths[1], data)
    if table is not None:
        paths.append(stem.with_suffix(".csv"))
        write_csv(paths[2], provenance, table)
    write_markdown(paths[0], markdown)
    return paths
