"""A read-only audit: the plan a sync would make, read as a list of what is not right.

`--verify` accepts a row only when the sync's plan would simply keep it
(plan.Step.settled): everything else is either repaired by a sync or reported
by it as not synced, in the same words. So the two cannot disagree.

Then Stripe itself is asked what each subscription that bills will invoice
next (previews.py); what it says against the lease is a finding too, unless
the plan already names the same cause for that lease.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cohabs.sync.account import Account
from cohabs.sync.billing import CollectionChoice
from cohabs.sync.kinds import LINK_KEYS
from cohabs.sync.payment_methods import DEFAULT_FIELD
from cohabs.sync.plan import COLLECTION_FIELDS, Action, Plan, Step, bills
from cohabs.sync.previews import Preview, judge
from cohabs.sync.problems import Drift, Problem
from cohabs.sync.rows import Kind, Lease


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    row_id: str | None  # None for an object no row links to
    label: str
    problem: str
    drift: Drift
    previewed: bool = False  # found in Stripe's invoice preview, not in the plan


def billing_subscriptions(plan: Plan, account: Account) -> list[str]:
    """The linked subscriptions Stripe will still invoice and the sync leaves billing: one preview each."""
    return [
        step.stripe_id
        for step in plan.steps[Kind.LEASE]
        if step.stripe_id
        and step.action in (Action.KEEP, Action.ADOPT)
        and not step.cancel
        and (remote := account.find(Kind.LEASE, step.stripe_id)) is not None
        and bills(remote)
    ]


def judged(
    plan: Plan,
    leases: Mapping[str, Lease],
    previews: Mapping[str, Preview | None],
    hubs: Mapping[str, str],
    collection: CollectionChoice,
    now: datetime,
) -> list[Finding]:
    """What Stripe's previews say against each lease.

    A lease the plan already reports for a person is left to that finding, and a collection switch the plan
    makes is its own finding: each cause is stated once.
    """
    method = collection.method.value if collection.chosen else None
    found = []
    for step in plan.steps[Kind.LEASE]:
        if step.stripe_id is None or step.stripe_id not in previews or step.row_id not in leases or step.problem:
            continue
        for difference in judge(leases[step.row_id], previews[step.stripe_id], hubs, method, now):
            if difference.drift is not Drift.COLLECTION or step.switch is None:
                text = f"{step.stripe_id}: {difference.text}"
                found.append(Finding(Kind.LEASE, step.row_id, step.label, text, difference.drift, previewed=True))
    return found


def audit(plan: Plan, account: Account) -> list[Finding]:
    """Every step of the plan that is not a plain keep, as a finding."""
    return [_finding(step, account) for kind in Kind for step in plan.steps[kind] if not step.settled]


def _finding(step: Step, account: Account) -> Finding:
    if step.problem is Problem.STRAY:
        return Finding(step.kind, None, step.row_id, step.reason, Drift.UNCLAIMED)
    if step.action is not Action.KEEP:
        replacing = step.billing is not None and step.billing.replaces
        text = step.reason if replacing else f"not linked: {step.reason or 'no Stripe id stored'}"
        return Finding(step.kind, step.row_id, step.label, text, step.drift or _link_drift(step, account))
    if step.problem is not None:
        return Finding(step.kind, step.row_id, step.label, step.reason, step.drift or Drift.ROW_INVALID)
    # Kept, with something a sync sets right: said in the present tense, not as the plan's to-do.
    repair = dict(step.repair or {})
    fields = sorted(repair.keys() - {"metadata", DEFAULT_FIELD} - COLLECTION_FIELDS)
    default = (repair.get(DEFAULT_FIELD) or {}).get("default_payment_method")
    said = [
        f"{step.stripe_id} does not link back to this row ({LINK_KEYS[step.kind]} was changed)"
        if "metadata" in repair
        else "",
        f"{step.stripe_id} has no default payment method but one usable card, {default}" if default else "",
        f"{step.stripe_id} has another {', '.join(fields)} than the row" if fields else "",
        f"{step.stripe_id} is {step.switch.was}, not {step.switch.becomes} as chosen" if step.switch else "",
        f"the lease is over but {step.stripe_id} is not cancelled" if step.cancel else "",
    ]
    return Finding(step.kind, step.row_id, step.label, "; ".join(filter(None, said)), _kept_drift(step, repair))


def _kept_drift(step: Step, repair: dict[str, object]) -> Drift:
    if step.cancel:
        return Drift.NOT_CANCELLED
    if "metadata" in repair:
        return Drift.LINKED_ELSEWHERE
    if repair.keys() - COLLECTION_FIELDS - {DEFAULT_FIELD}:
        return Drift.DETAILS
    return Drift.NO_DEFAULT if DEFAULT_FIELD in repair else Drift.COLLECTION


def _link_drift(step: Step, account: Account) -> Drift:
    """Why a row is not linked, from the id it stores."""
    stored = step.stale_id
    if not stored:
        return Drift.NOT_LINKED
    remote = account.find(step.kind, stored)
    if remote is not None:
        return Drift.NOT_LINKED if remote.link == step.row_id else Drift.LINKED_ELSEWHERE
    if any(account.find(kind, stored) for kind in Kind if kind is not step.kind):
        return Drift.WRONG_KIND
    return Drift.MISSING
