"""Pure planning: rows and the account's contents in, one step per row out.

Nothing here talks to Stripe or MySQL, so every decision can be tested and
shown in a dry run before a single call is made.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from stripe.params import CustomerCreateParams, ProductCreateParams, SubscriptionCreateParams

from .account import CUSTOMER_DETAILS, LINK_KEYS, Account, Remote
from .billing import InvalidLease, Mode, Terms, contract_price, terms_for
from .money import InvalidAmount, format_minor, to_minor
from .problems import Problem
from .rows import Kind, Lease, Room, Rows, User, room_label, room_labels

# What Stripe accepts as an email, closely enough that it will not reject one
# we let through: one @, no spaces, a dot in the domain, 512 characters at most.
_EMAIL = re.compile(
    r"^[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
# Stripe's length limits: customer email 512, customer and product names 256
# and 250 (250 for both keeps it simple), product descriptions 40,000,
# subscription descriptions 500, phone numbers 20.
MAX_EMAIL = 512
MAX_NAME = 250
MAX_PRODUCT_DESCRIPTION = 40_000
MAX_SUBSCRIPTION_DESCRIPTION = 500


class Action(StrEnum):
    CREATE = "create"
    KEEP = "keep"
    ADOPT = "adopt"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Billing:
    """What a lease's subscription bills; the money a reviewer checks in the plan."""

    lease_id: str
    user_id: str
    room_id: str
    amount: int  # minor units
    currency: str
    terms: Terms
    description: str | None

    def params(self, customer: str, product: str) -> SubscriptionCreateParams:
        params: SubscriptionCreateParams = {
            "customer": customer,
            "items": [
                {
                    "price_data": {
                        "currency": self.currency,
                        "product": product,
                        "unit_amount": self.amount,
                        "recurring": {"interval": "month"},
                    }
                }
            ],
            "trial_end": _ts(self.terms.trial_end),
            "metadata": {LINK_KEYS[Kind.LEASE]: self.lease_id},
        }
        if self.terms.cancel_at is not None:
            params["cancel_at"] = _ts(self.terms.cancel_at)
        if self.description:
            params["description"] = _clip(self.description, MAX_SUBSCRIPTION_DESCRIPTION)
        return params


@dataclass(frozen=True, slots=True)
class Step:
    kind: Kind
    row_id: str
    label: str
    action: Action
    stripe_id: str | None = None  # the object kept or adopted
    stale_id: str | None = None  # the row's stored id when it is replaced
    reason: str = ""
    params: CustomerCreateParams | ProductCreateParams | None = None  # create params (users, rooms)
    billing: Billing | None = None  # leases
    cancel: bool = False  # an ended lease whose subscription is not cancelled yet
    repair: Mapping[str, Any] | None = None  # fields to set again on a kept or adopted object
    notes: tuple[str, ...] = ()
    problem: Problem | None = None  # why a skipped row is not synced


@dataclass
class Plan:
    """Steps for every row; only the `active` kinds are executed and reported."""

    steps: dict[Kind, list[Step]] = field(default_factory=lambda: {k: [] for k in Kind})
    notes: list[str] = field(default_factory=list)
    active: frozenset[Kind] = frozenset(Kind)
    deferred: list[Step] = field(default_factory=list)  # a canary's other rows: left for the full run


def _ts(moment: datetime) -> int:
    return int(moment.timestamp()) if moment.tzinfo else int((moment - datetime(1970, 1, 1)).total_seconds())


def idempotency_key(kind: Kind, row_id: str, params: Mapping[str, Any], replacing: str | None) -> str:
    """Same row, same request, same stored id → same key; anything changed → a fresh key.

    The stored id is part of it so that replacing an object deleted in Stripe
    creates a new one instead of replaying the old creation. Holds no personal
    data: the row's primary key and a digest.
    """
    material = json.dumps([params, replacing], sort_keys=True, default=str)
    digest = hashlib.sha256(material.encode()).hexdigest()[:24]
    return f"cohabs-relink:{kind.singular}:{row_id}:{digest}"


def email_problem(email: str | None) -> str | None:
    if not email:
        return "email is empty"
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        return f"email {email!r} would be rejected by Stripe"
    return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(
    kind: Kind, row_id: str, stored: str | None, account: Account, rows: Collection[str]
) -> tuple[Action, str | None, str | None, str]:
    """Keep a stored id the account confirms, else adopt what links back, else create.

    `rows` holds the ids of this kind's rows: an object whose link names none
    of them (or nothing) was edited by hand, and is kept and repaired rather
    than given a second object.
    """
    stale_id, reason = None, ""
    if stored:
        remote = account.find(kind, stored)
        if remote is not None and remote.link == row_id:
            return Action.KEEP, stored, None, ""
        if remote is not None and (not remote.link or remote.link not in rows):
            was = f"{LINK_KEYS[kind]}={remote.link!r}" if remote.link else f"no {LINK_KEYS[kind]}"
            return Action.KEEP, stored, None, f"{stored} had {was} (edited by hand?): link restored"
        stale_id = stored
        if remote is None and not account.read:
            reason = f"stored id {stored} was not checked: no Stripe account was read"
        elif remote is None:
            reason = f"stored id {stored} is not in this Stripe account"
        else:
            reason = f"stored id {stored} belongs to {kind.value} row {remote.link}"
    found = account.linked_to(kind, row_id)
    if found:
        why = f"{found[0].id} already links to this row (created by an earlier run)"
        if len(found) > 1:
            why += f"; {len(found) - 1} more also do: {', '.join(r.id for r in found[1:])}"
        return Action.ADOPT, found[0].id, stale_id, "; ".join(filter(None, [reason, why]))
    return Action.CREATE, None, stale_id, reason


def _user_params(user: User) -> CustomerCreateParams:
    # The billing minimum: name, email, phone, address and the link. Never
    # password, salt, birthdate, gender, socials or bio (they are not even read).
    params: CustomerCreateParams = {"metadata": {LINK_KEYS[Kind.USER]: user.id}}
    if user.email:
        params["email"] = user.email
    name = " ".join(filter(None, [user.first_name, user.last_name]))
    if name:
        params["name"] = _clip(name, MAX_NAME)
    if user.phone:
        params["phone"] = user.phone[:20]
    if user.address:
        params["address"] = {"line1": _clip(user.address, 200)}
    return params


def _repair(
    kind: Kind, row_id: str, stripe_id: str | None, account: Account, wanted: Mapping[str, Any]
) -> dict[str, Any]:
    """What to set again on an object that drifted: its link, and a customer's billing details."""
    remote = account.find(kind, stripe_id or "")
    if remote is None:
        return {}
    repair: dict[str, Any] = {}
    if remote.link != row_id:
        repair["metadata"] = {LINK_KEYS[kind]: row_id}
    have = dict(remote.details)
    for key in CUSTOMER_DETAILS:
        # Only a value someone changed is set again: an account that does not echo a field, or
        # stores an email in another case, must not cost a write on every run.
        theirs, ours = have.get(key), wanted.get(key)
        if theirs is not None and ours is not None and theirs.casefold() != str(ours).casefold():
            repair[key] = ours
    return repair


def _kept(
    kind: Kind, row_id: str, label: str, link: tuple[Action, str | None, str | None, str], repair: dict[str, Any]
) -> Step:
    action, stripe_id, stale_id, reason = link
    if repair.keys() - {"metadata"}:
        reason = "; ".join(
            filter(None, [reason, f"{', '.join(sorted(repair.keys() - {'metadata'}))} set again from the row"])
        )
    return Step(kind, row_id, label, action, stripe_id, stale_id, reason, repair=repair or None)


def plan_user(user: User, account: Account, rows: Collection[str]) -> Step:
    link = _link(Kind.USER, user.id, user.stripe_id, account, rows)
    action, stripe_id, stale_id, reason = link
    label = user.email or user.id
    problem = email_problem(user.email)
    if action is not Action.CREATE:
        wanted: Mapping[str, Any] = {} if problem else _user_params(user)
        return _kept(Kind.USER, user.id, label, link, _repair(Kind.USER, user.id, stripe_id, account, wanted))
    if problem:
        return Step(
            Kind.USER, user.id, label, Action.SKIP, stale_id=stale_id, reason=problem, problem=Problem.BAD_EMAIL
        )
    return Step(Kind.USER, user.id, label, Action.CREATE, stale_id=stale_id, reason=reason, params=_user_params(user))


def room_price(room: Room) -> tuple[Decimal | None, str]:
    if room.base_rent is not None:
        return room.base_rent, "baseRent"
    return room.rent, "rent"


def plan_room(room: Room, account: Account, currency: str, currency_note: str | None, rows: Collection[str]) -> Step:
    link = _link(Kind.ROOM, room.id, room.stripe_id, account, rows)
    action, stripe_id, stale_id, reason = link
    label = room_label(room)
    if action is not Action.CREATE:
        return _kept(Kind.ROOM, room.id, label, link, _repair(Kind.ROOM, room.id, stripe_id, account, {}))
    price, source = room_price(room)
    if room.base_rent is None and room.rent is None:
        return Step(
            Kind.ROOM,
            room.id,
            label,
            Action.SKIP,
            stale_id=stale_id,
            reason="no price: baseRent and rent are both NULL",
            problem=Problem.NO_PRICE,
        )
    try:
        amount = to_minor(price, currency)
    except InvalidAmount as exc:
        return Step(
            Kind.ROOM,
            room.id,
            label,
            Action.SKIP,
            stale_id=stale_id,
            reason=f"{source}: {exc}",
            problem=Problem.BAD_AMOUNT,
        )
    notes = [f"price from {source}" + (" (baseRent is NULL)" if source == "rent" else "")]
    if currency_note:
        notes.append(currency_note)
    name = label.capitalize() + (f" — {room.location}" if room.location else "")
    params: ProductCreateParams = {
        "name": _clip(name, MAX_NAME),
        "metadata": {LINK_KEYS[Kind.ROOM]: room.id},
        "default_price_data": {
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": "month"},
            "metadata": {LINK_KEYS[Kind.ROOM]: room.id},
        },
    }
    if room.description:
        params["description"] = _clip(room.description, MAX_PRODUCT_DESCRIPTION)
    return Step(
        Kind.ROOM, room.id, label, Action.CREATE, stale_id=stale_id, reason=reason, params=params, notes=tuple(notes)
    )


def room_currencies(
    leases: list[Lease], hubs: Mapping[str, str], default: str
) -> tuple[dict[str, str], dict[str, str]]:
    """A room lists its price in the currency of its latest lease's hub."""
    seen: dict[str, list[tuple[datetime, str]]] = {}
    for lease in leases:
        currency = hubs.get(lease.hub_id or "")
        if lease.room_id and currency and lease.start is not None:
            seen.setdefault(lease.room_id, []).append((lease.start, currency))
    currencies, notes = {}, {}
    for room_id, found in seen.items():
        latest = max(found)[1]
        currencies[room_id] = latest
        if len({c for _, c in found}) > 1:
            notes[room_id] = f"leases in several currencies; price listed in {latest.upper()} (latest lease)"
    return currencies, notes


def plan_lease(
    lease: Lease,
    account: Account,
    users: Mapping[str, Step],
    rooms: Mapping[str, Step],
    hubs: Mapping[str, str],
    now: datetime,
    customer_currency: dict[str, str],
    *,
    hints: Mapping[tuple[Kind, str], str],
    rows: Collection[str],
) -> Step:
    link = _link(Kind.LEASE, lease.id, lease.stripe_id, account, rows)
    action, stripe_id, stale_id, reason = link
    label = lease.name or lease.id

    def skip(problem: Problem, why: str) -> Step:
        return Step(Kind.LEASE, lease.id, label, Action.SKIP, stale_id=stale_id, reason=why, problem=problem)

    terms: Terms | None = None
    try:
        terms = terms_for(lease, now)
    except InvalidLease as exc:
        if action is Action.CREATE:
            return skip(Problem.BAD_LEASE, str(exc))
    if action is not Action.CREATE:
        remote = account.find(Kind.LEASE, stripe_id or "")
        if remote and remote.customer and remote.currency:
            customer_currency.setdefault(remote.customer, remote.currency)
        cancel = terms is not None and terms.mode is Mode.ENDED and remote is not None and remote.status != "canceled"
        kept = _kept(Kind.LEASE, lease.id, label, link, _repair(Kind.LEASE, lease.id, stripe_id, account, {}))
        return replace(
            kept, cancel=cancel, reason="; ".join(filter(None, [kept.reason, _billing_drift(lease, remote, hubs)]))
        )
    assert terms is not None
    user = users.get(lease.user_id or "")
    room = rooms.get(lease.room_id or "")
    for kind, ref, dep in ((Kind.USER, lease.user_id, user), (Kind.ROOM, lease.room_id, room)):
        if dep is None:
            if not ref:
                return skip(Problem.MISSING_REFERENCE, f"{kind.singular}Id is NULL")
            hint = hints.get((kind, ref))
            return skip(
                Problem.MISSING_REFERENCE, f"{kind.singular} {ref} does not exist" + (f"; {hint}" if hint else "")
            )
    assert user is not None and room is not None
    currency = hubs.get(lease.hub_id or "")
    if currency is None:
        return skip(Problem.UNKNOWN_HUB, f"unknown hub {lease.hub_id!r}: map it in HUB_CURRENCIES (hubId=currency)")
    try:
        amount = to_minor(lease.rent_amount, currency)
    except InvalidAmount as exc:
        return skip(Problem.BAD_AMOUNT, f"rentAmount: {exc}")
    for dep in (user, room):
        if dep.action is Action.SKIP:
            return skip(Problem.DEPENDENCY, f"{dep.kind.singular} {dep.row_id} is not synced: {dep.reason}")
    customer_key = user.stripe_id or f"user:{user.row_id}"
    billed_in = customer_currency.setdefault(customer_key, currency)
    if billed_in != currency:
        return skip(
            Problem.CURRENCY_CONFLICT,
            f"user {user.row_id} is already billed in {billed_in.upper()}; "
            f"Stripe allows one currency per customer, this lease is in {currency.upper()}",
        )
    billing = Billing(lease.id, user.row_id, room.row_id, amount, currency, terms, lease.name)
    return Step(Kind.LEASE, lease.id, label, Action.CREATE, stale_id=stale_id, reason=reason, billing=billing)


def _billing_drift(lease: Lease, remote: Remote | None, hubs: Mapping[str, str]) -> str:
    """A kept subscription that bills otherwise than its lease: said, not changed (that would prorate)."""
    expected = contract_price(lease, hubs)
    if remote is None or expected is None or (remote.amount, remote.currency) == expected:
        return ""
    amount, currency = expected
    billed = format_minor(remote.amount, remote.currency) if remote.amount is not None and remote.currency else "?"
    return (
        f"bills {billed} a month but the lease says {format_minor(amount, currency)}: left as is, review it in Stripe"
    )


def make_plan(
    rows: Rows,
    account: Account,
    *,
    hubs: Mapping[str, str],
    default_currency: str,
    now: datetime,
    kinds: Collection[Kind] = tuple(Kind),
    hints: Mapping[tuple[Kind, str], str] | None = None,
    limit: int | None = None,
) -> Plan:
    plan = Plan()
    user_ids = {u.id for u in rows.users}
    room_ids = {r.id for r in rows.rooms}
    lease_ids = {x.id for x in rows.leases}
    for user in rows.users:
        plan.steps[Kind.USER].append(plan_user(user, account, user_ids))
    currencies, currency_notes = room_currencies(rows.leases, hubs, default_currency)
    for room in rows.rooms:
        plan.steps[Kind.ROOM].append(
            plan_room(room, account, currencies.get(room.id, default_currency), currency_notes.get(room.id), room_ids)
        )
    labels = room_labels(rows.rooms)
    plan.steps[Kind.ROOM] = [replace(s, label=labels[s.row_id]) for s in plan.steps[Kind.ROOM]]
    users = {s.row_id: s for s in plan.steps[Kind.USER]}
    rooms = {s.row_id: s for s in plan.steps[Kind.ROOM]}
    customer_currency: dict[str, str] = {}
    ordered = sorted(rows.leases, key=lambda lease: (lease.start or datetime.max, lease.id))
    # Links that already exist fix a customer's currency before new leases are weighed.
    ordered.sort(key=lambda lease: lease.stripe_id is None)
    first_of: dict[tuple[object, ...], str] = {}
    for lease in ordered:
        step = plan_lease(lease, account, users, rooms, hubs, now, customer_currency, hints=hints or {}, rows=lease_ids)
        if step.action is Action.CREATE:
            # The same tenant, room and dates twice would bill twice: the copy waits for a person.
            original = first_of.setdefault((lease.user_id, lease.room_id, lease.start, lease.end), lease.id)
            if original != lease.id:
                step = _held_back(
                    step,
                    Problem.DUPLICATE,
                    f"duplicate of lease {original} (same user, room and dates): not billed twice; "
                    "void or delete one of them, then rerun",
                )
        plan.steps[Kind.LEASE].append(step)
    by_email: dict[str, list[str]] = {}
    for user in rows.users:
        if user.email:
            by_email.setdefault(user.email.lower(), []).append(user.id)
    plan.notes += [
        f"users {', '.join(ids)} share the email {email}: each gets its own customer; check they are not one person"
        for email, ids in by_email.items()
        if len(ids) > 1
    ]
    for kind in Kind:
        for remotes in account.by_link[kind].values():
            if len(remotes) > 1:
                plan.notes.append(
                    f"{len(remotes)} Stripe objects link to {kind.singular} {remotes[0].link}: "
                    f"{', '.join(r.id for r in remotes)} (the oldest is used; review the others)"
                )
    plan.active = frozenset(kinds)
    if Kind.LEASE in kinds:
        plan.steps[Kind.LEASE] = [
            _wait_for_dependencies(step, users, rooms, plan.active) for step in plan.steps[Kind.LEASE]
        ]
    if limit is not None:
        _canary(plan, limit)
    return plan


def _canary(plan: Plan, limit: int) -> None:
    """Keep only `limit` leases to create, with the users and rooms they need: a first run that touches little."""
    chosen = [s for s in plan.steps[Kind.LEASE] if s.action is Action.CREATE and s.billing][:limit]
    users = {s.billing.user_id for s in chosen if s.billing}
    rooms = {s.billing.room_id for s in chosen if s.billing}
    keep = {Kind.USER: users, Kind.ROOM: rooms, Kind.LEASE: {s.row_id for s in chosen}}
    for kind, ids in keep.items():
        plan.deferred += [s for s in plan.steps[kind] if s.row_id not in ids]
        plan.steps[kind] = [s for s in plan.steps[kind] if s.row_id in ids]


def _wait_for_dependencies(
    step: Step, users: Mapping[str, Step], rooms: Mapping[str, Step], active: frozenset[Kind]
) -> Step:
    """With --only, a lease whose user or room still needs creating must wait for a full run."""
    if step.action is not Action.CREATE or step.billing is None:
        return step
    for dep in (users[step.billing.user_id], rooms[step.billing.room_id]):
        if dep.kind not in active and dep.action is Action.CREATE:
            return _held_back(
                step,
                Problem.NEEDS_FULL_RUN,
                f"{dep.kind.singular} {dep.row_id} has no Stripe object yet; sync {dep.kind.value} first",
            )
    return step


def _held_back(step: Step, problem: Problem, why: str) -> Step:
    """A lease that could be created, turned into a skip: nothing is sent, the reason is reported."""
    return replace(step, action=Action.SKIP, reason=why, billing=None, problem=problem)
