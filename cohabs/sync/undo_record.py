"""What `--undo REPORT` reads from a sync's JSON report: which objects that run created, where, and for whom.

A report is refused, with nothing changed, unless it is the report of a real
sync run (not a dry run, `--verify` or an undo) written by a version that
records what an undo needs: the Stripe account the run wrote to, and on each
row whether the run created the object (`made`) or only kept or adopted it.
Whether it was written against this database and this account is checked once
both are known (`check_target`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohabs.shared.errors import CannotRun
from cohabs.sync.rows import Kind

KINDS = {kind.singular: kind for kind in Kind}
NOT_A_SYNC = {
    "dry-run": "a dry run's report: a dry run changes nothing, so there is nothing to undo",
    "verify": "a --verify report: an audit changes nothing, so there is nothing to undo",
    "undo": "an undo's own report: undo the sync run's report instead (a sync run again redoes what was undone)",
    "undo-plan": "an undo's dry run report: it changed nothing",
}


class Refused(CannotRun):
    """The report cannot be undone here; nothing was read from Stripe or changed."""


@dataclass(frozen=True, slots=True)
class Made:
    """One object the run created, and the row it linked it to."""

    kind: Kind
    row_id: str
    label: str
    stripe_id: str


@dataclass(frozen=True)
class RunRecord:
    path: Path
    started: str
    tool: str  # the command and version that wrote the report
    database: str
    db_host: str
    stripe_mode: str
    stripe_account: str
    made: tuple[Made, ...]  # in the report's order: users, rooms, then leases
    left_alone: int  # objects the run only kept or adopted: an undo never touches them

    def of_kind(self, kind: Kind) -> list[Made]:
        """The run's objects of one kind, newest first."""
        return [m for m in reversed(self.made) if m.kind is kind]


def read_record(path: Path) -> RunRecord:
    """The report at `path`, or Refused saying why it cannot be undone."""
    data = _load(path)
    provenance = data.get("provenance")
    mode = data.get("mode")
    if not isinstance(provenance, dict) or not isinstance(data.get("rows"), list) or mode is None:
        raise Refused(f"{path} is not a report of `sync.py` (no provenance, mode or rows): nothing was changed")
    if mode in NOT_A_SYNC:
        raise Refused(f"{path} is {NOT_A_SYNC[mode]}; nothing was changed")
    if mode != "sync":
        raise Refused(f"{path} is a report of `{mode}`, not of a sync run; nothing was changed")
    tool = f"{provenance.get('tool', 'sync.py')} {provenance.get('version', '(unknown version)')}"
    _check_complete(path, data, tool)
    database = provenance.get("database") or {}
    return RunRecord(
        path=path,
        started=str(provenance.get("started") or ""),
        tool=tool,
        database=str(database.get("name") or ""),
        db_host=str(database.get("host") or ""),
        stripe_mode=str((provenance.get("stripe") or {}).get("mode") or ""),
        stripe_account=str(data["stripe_account"]),
        made=tuple(_made(row) for row in data["rows"] if _is_made(row)),
        left_alone=sum(1 for row in data["rows"] if _left_alone(row)),
    )


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Refused(f"no report at {path}: give the JSON report a sync run wrote (reports/sync-….json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"cannot read {path}: {exc}; nothing was changed") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (give the .json report, not the Markdown or CSV one)" if path.suffix != ".json" else ""
        raise Refused(f"{path} is not a JSON report{hint}: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise Refused(f"{path} is not a report of `sync.py`: nothing was changed")
    return data


def _check_complete(path: Path, data: dict[str, Any], tool: str) -> None:
    """An earlier version's report lacks what an undo needs: say what, and change nothing."""
    missing = []
    if "stripe_account" not in data:
        missing.append("the Stripe account it wrote to")
    if any(isinstance(row, dict) and "made" not in row for row in data["rows"]):
        missing.append("which objects the run created, as opposed to kept or adopted (`made` on each row)")
    if missing:
        raise Refused(
            f"{path} was written by {tool}, which did not record {' nor '.join(missing)}; an undo cannot tell "
            "this run's objects from earlier runs' without it. Nothing was changed: remove that run's objects by "
            "hand (its report lists them), or undo a report written by this version"
        )
    if not data["stripe_account"]:
        raise Refused(
            f"{path} does not name its Stripe account: the key could not read it (GET /v1/account) during that "
            "run, so an undo cannot prove it acts on the same account. Nothing was changed"
        )


def _is_made(row: Any) -> bool:
    return isinstance(row, dict) and row.get("made") is True and bool(row.get("stripe_id")) and row.get("kind") in KINDS


def _left_alone(row: Any) -> bool:
    return isinstance(row, dict) and row.get("made") is False and bool(row.get("stripe_id"))


def _made(row: dict[str, Any]) -> Made:
    return Made(KINDS[row["kind"]], str(row["row_id"]), str(row.get("label") or ""), str(row["stripe_id"]))


def check_target(record: RunRecord, *, database: str, db_host: str, stripe_mode: str, stripe_account: str) -> None:
    """Refuse an undo aimed at another database or another Stripe account than the run's."""
    if (database, db_host) != (record.database, record.db_host):
        raise Refused(
            f"{record.path} was written for database `{record.database}` on {record.db_host}, not `{database}` on "
            f"{db_host} (DB_NAME, DB_HOST, DB_PORT): nothing was changed"
        )
    if stripe_account != record.stripe_account or stripe_mode != record.stripe_mode:
        raise Refused(
            f"{record.path} was written against Stripe account {record.stripe_account} ({record.stripe_mode} mode); "
            f"the key reaches {stripe_account} ({stripe_mode} mode): nothing was changed"
        )
