"""Pure planning: rows and the account's contents in, one step per row out.

Nothing here talks to Stripe or MySQL, so every decision can be tested and
shown in a dry run before a single call is made. It is also the one
definition of "correct": `--verify` reports every step that is not a plain
keep (verify.py), so the sync, the dry run and the audit cannot disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from stripe.params import CustomerCreateParams, ProductCreateParams, SubscriptionCreateParams

from cohabs.shared.clock import to_unix, unix_date
from cohabs.shared.money import InvalidAmount, format_minor, to_minor
from cohabs.sync.account import CUSTOMER_DETAILS, Account, Remote
from cohabs.sync.billing import (
    ANCHOR_KEPT,
    CREATE_INVOICE,
    REPLACED_FOR_RENT_DAY,
    UNCHOSEN,
    CollectionChoice,
    InvalidLease,
    Method,
    Mode,
    Terms,
    terms_for,
)
from cohabs.sync.copied_customers import NOTHING_COPIED, Copied, MapRow, copied_customers
from cohabs.sync.kinds import LINK_KEYS
from cohabs.sync.limits import (
    MAX_NAME,
    MAX_PRODUCT_DESCRIPTION,
    MAX_SUBSCRIPTION_DESCRIPTION,
    clip,
    clipped,
    customer_params,
    email_problem,
)
from cohabs.sync.problems import Drift, Problem
from cohabs.sync.rows import Kind, Lease, Room, Rows, User, room_label, room_labels

# Subscription statuses that bill no more; every other status still can.
ENDED_SUBSCRIPTION = frozenset({"canceled", "incomplete_expired"})
# What a collection switch sets on a linked subscription: neither changes an amount nor prorates.
COLLECTION_FIELDS = frozenset({"collection_method", "days_until_due"})


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
    collection: CollectionChoice = UNCHOSEN
    # The tenant's leases in another currency whose subscriptions this run cancels: this one is made after them.
    after: tuple[str, ...] = ()
    # A subscription of this lease's that bills on another day, still in its free period: cancelled first.
    replaces: str | None = None

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
            "trial_end": to_unix(self.terms.trial_end),
            "metadata": {LINK_KEYS[Kind.LEASE]: self.lease_id},
            "collection_method": self.collection.method.value,
            # Set, not left to the account's default: without a payment method the rent stays owed as an
            # open invoice; pause or cancel would stop it silently. The anchor keeps the rent day (billing.py).
            "trial_settings": {
                "end_behavior": {"missing_payment_method": CREATE_INVOICE, "billing_cycle_anchor": ANCHOR_KEPT}
            },
        }
        config = self.terms.anchor_config()
        if config is not None:
            params["billing_cycle_anchor_config"] = config
        if self.collection.method is Method.INVOICE and self.collection.days_until_due is not None:
            params["days_until_due"] = self.collection.days_until_due
        if self.terms.cancel_at is not None:
            params["cancel_at"] = to_unix(self.terms.cancel_at)
        if self.description:
            params["description"] = clip(self.description, MAX_SUBSCRIPTION_DESCRIPTION)
        return params


@dataclass(frozen=True, slots=True)
class Switch:
    """A linked subscription that still bills, moved to the chosen collection method: no amount, no proration."""

    was: str  # in words: "charged automatically"
    becomes: str  # "invoiced by email, due in 10 days"

    def says(self) -> str:
        return f"collection: {self.was} → {self.becomes}"


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
    bills: bool = False  # a kept or adopted subscription that can still bill
    repair: Mapping[str, Any] | None = None  # fields to set again on a kept or adopted object
    notes: tuple[str, ...] = ()
    problem: Problem | None = None  # why the row is not synced (skipped, or kept for a person to decide)
    drift: Drift | None = None  # what is wrong with its Stripe object, when the plan knows better than the link
    switch: Switch | None = None  # a linked subscription's collection method changes (its fields are in repair)

    @property
    def settled(self) -> bool:
        """Linked, and nothing to do nor to decide: the only state `--verify` accepts."""
        return self.action is Action.KEEP and not self.repair and not self.cancel and self.problem is None


@dataclass
class Plan:
    """Steps for every row; only the `active` kinds are executed and reported."""

    steps: dict[Kind, list[Step]] = field(default_factory=lambda: {k: [] for k in Kind})
    notes: list[str] = field(default_factory=list)
    active: frozenset[Kind] = frozenset(Kind)
    deferred: list[Step] = field(default_factory=list)  # a canary's other rows: left for the full run


def live(remote: Remote) -> bool:
    return remote.status not in ENDED_SUBSCRIPTION


def bills(remote: Remote) -> bool:
    """Whether Stripe will still charge it: live, and not set to stop when its free period ends."""
    stops_first = (
        remote.status == "trialing"
        and remote.trial_end is not None
        and remote.cancel_at is not None
        and remote.cancel_at <= remote.trial_end
    )
    return live(remote) and not stops_first


Link = tuple[Action, str | None, str | None, str]  # action, object kept or adopted, stale stored id, why


def _link(
    kind: Kind,
    row_id: str,
    stored: str | None,
    account: Account,
    rows: Collection[str],
    candidates: list[Remote] | None = None,
) -> Link:
    """Keep a stored id the account confirms, else adopt what links back, else create.

    `rows` holds the ids of this kind's rows: an object whose link names none
    of them (or nothing) was edited by hand, and is kept and repaired rather
    than given a second object. `candidates` narrows (and orders) what may be
    adopted; by default every object linking to the row, oldest first.
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
        elif remote is not None:
            reason = f"stored id {stored} belongs to {kind.value} row {remote.link}"
        else:
            other = next((k for k in Kind if k is not kind and account.find(k, stored)), None)
            reason = f"stored id {stored} is not in this Stripe account" + (
                f" as a {kind.singular} (it is a {other.singular} object)" if other else ""
            )
    found = account.linked_to(kind, row_id) if candidates is None else candidates
    if found:
        why = f"{found[0].id} already links to this row (created by an earlier run)"
        if len(found) > 1:
            why += f"; {len(found) - 1} more also do: {', '.join(r.id for r in found[1:])}"
        return Action.ADOPT, found[0].id, stale_id, "; ".join(filter(None, [reason, why]))
    return Action.CREATE, None, stale_id, reason


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
    kind: Kind,
    row_id: str,
    label: str,
    link: Link,
    repair: dict[str, Any],
    notes: tuple[str, ...] = (),
) -> Step:
    action, stripe_id, stale_id, reason = link
    from_row = sorted(repair.keys() - {"metadata"} - COLLECTION_FIELDS)
    if from_row:
        reason = "; ".join(filter(None, [reason, f"{', '.join(from_row)} set again from the row"]))
    return Step(kind, row_id, label, action, stripe_id, stale_id, reason, repair=repair or None, notes=notes)


def plan_user(user: User, account: Account, rows: Collection[str], copied: Copied = NOTHING_COPIED) -> Step:
    link = _link(Kind.USER, user.id, user.stripe_id, account, rows)
    label = user.email or user.id
    decision = copied.decide(user.id, needs_one=link[0] is Action.CREATE)
    if decision is not None:
        why = "; ".join(filter(None, [link[3], decision.reason]))
        if decision.customer is None:  # nothing is created for the user until a person decides
            return Step(Kind.USER, user.id, label, Action.SKIP, stale_id=link[2], reason=why, problem=Problem.COPIED)
        link = (Action.ADOPT, decision.customer, link[2], why)
    action, stripe_id, stale_id, reason = link
    problem = email_problem(user.email)
    params, notes = customer_params(user)
    if action is not Action.CREATE:
        wanted: Mapping[str, Any] = {} if problem else params
        repair = _repair(Kind.USER, user.id, stripe_id, account, wanted)
        return _kept(Kind.USER, user.id, label, link, repair, notes if repair.keys() - {"metadata"} else ())
    if problem:
        return Step(
            Kind.USER, user.id, label, Action.SKIP, stale_id=stale_id, reason=problem, problem=Problem.BAD_EMAIL
        )
    return Step(Kind.USER, user.id, label, Action.CREATE, stale_id=stale_id, reason=reason, params=params, notes=notes)


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

    def skip(problem: Problem, why: str) -> Step:
        return Step(Kind.ROOM, room.id, label, Action.SKIP, stale_id=stale_id, reason=why, problem=problem)

    price, source = room_price(room)
    if room.base_rent is None and room.rent is None:
        return skip(Problem.NO_PRICE, "no price: baseRent and rent are both NULL")
    try:
        amount = to_minor(price, currency)
    except InvalidAmount as exc:
        return skip(Problem.BAD_AMOUNT, f"{source}: {exc}")
    notes = [f"price from {source}" + (" (baseRent is NULL)" if source == "rent" else "")]
    if currency_note:
        notes.append(currency_note)
    name = label[:1].upper() + label[1:]  # the label already says where the room is
    params: ProductCreateParams = {
        "name": clipped("product name", name, MAX_NAME, notes),
        "metadata": {LINK_KEYS[Kind.ROOM]: room.id},
        "default_price_data": {
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": "month"},
            "metadata": {LINK_KEYS[Kind.ROOM]: room.id},
        },
    }
    if room.description:
        params["description"] = clipped("description", room.description, MAX_PRODUCT_DESCRIPTION, notes)
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


@dataclass(frozen=True, slots=True)
class _Weighed:
    """A lease with what is known of it before leases are weighed against each other."""

    lease: Lease
    link: Link
    terms: Terms | None
    invalid: str  # why the money rules cannot bill it ("" when they can)
    bills: bool  # linked to a subscription that can still bill

    @property
    def linked(self) -> bool:
        return self.link[0] in (Action.KEEP, Action.ADOPT)

    @property
    def ongoing(self) -> bool:
        """Active or signed and not over: it wins a tenant's currency and a duplicate's one subscription."""
        return self.terms is not None and self.terms.mode is not Mode.ENDED

    def order(self) -> tuple[bool, bool, bool, datetime, str]:
        # Links that exist come first (Stripe already fixed their customer's currency), then
        # ongoing leases before ended ones, a subscription that bills before one that does not,
        # then the earlier lease.
        return (not self.linked, not self.ongoing, not self.bills, self.lease.start or datetime.max, self.lease.id)


def _weigh(lease: Lease, account: Account, rows: Collection[str], now: datetime) -> _Weighed:
    terms, invalid = None, ""
    try:
        terms = terms_for(lease, now)
    except InvalidLease as exc:
        invalid = str(exc)
    candidates, cancelled = None, []
    if terms is not None and terms.mode is not Mode.ENDED:
        # An ongoing lease adopts only a subscription that still bills. One cancelled in Stripe is
        # kept (and reported) while the row stores its id; once a person clears the id, or the sync
        # could not store it, the lease gets a new one.
        linked = account.linked_to(Kind.LEASE, lease.id)
        candidates = [r for r in linked if live(r)]
        cancelled = [r for r in linked if not live(r)]
    link = _link(Kind.LEASE, lease.id, lease.stripe_id, account, rows, candidates)
    stored = account.find(Kind.LEASE, link[1] or "")
    if link[0] is Action.KEEP and stored and not live(stored) and stored.cancel_comment == REPLACED_FOR_RENT_DAY:
        # A run cancelled it to replace it, and stopped before the new one was stored: finished now.
        why = f"{stored.id} was cancelled to bill on the rent day"
        found = candidates or []
        link = (Action.ADOPT, found[0].id, stored.id, why) if found else (Action.CREATE, None, stored.id, why)
    if link[0] is Action.CREATE and cancelled:
        # It is what the new one replaces, so the request's key differs from the one that made it.
        why = f"{cancelled[-1].id} is {cancelled[-1].status} and the row no longer stores it: a new one replaces it"
        link = (Action.CREATE, None, cancelled[-1].id, "; ".join(filter(None, [link[3], why])))
    remote = account.find(Kind.LEASE, link[1] or "")
    return _Weighed(lease, link, terms, invalid, remote is not None and live(remote))


@dataclass
class _Leases:
    """What leases share while they are planned one after the other."""

    account: Account
    users: Mapping[str, Step]
    rooms: Mapping[str, Step]
    hubs: Mapping[str, str]
    hints: Mapping[tuple[Kind, str], str]
    collection: CollectionChoice = UNCHOSEN
    active: dict[str, list[_Active]] = field(default_factory=dict)  # user id -> its subscriptions active at once
    billed: dict[tuple[object, ...], str] = field(default_factory=dict)  # tenant, room, dates -> the lease billing

    def __post_init__(self) -> None:
        self._kept = {
            kind: {s.stripe_id: s.row_id for s in steps.values() if s.stripe_id and s.action is not Action.SKIP}
            for kind, steps in ((Kind.USER, self.users), (Kind.ROOM, self.rooms))
        }

    def owner(self, kind: Kind, stripe_id: str | None) -> str | None:
        """The row a customer or product belongs to: the row that keeps it, else the one its metadata names."""
        remote = self.account.find(kind, stripe_id or "")
        return self._kept[kind].get(stripe_id or "") or (remote.link if remote else None)

    def missing(self, kind: Kind, ref: str | None) -> str | None:
        steps = self.users if kind is Kind.USER else self.rooms
        if ref and ref in steps:
            return None
        if not ref:
            return f"{kind.singular}Id is NULL"
        hint = self.hints.get((kind, ref))
        return f"{kind.singular} {ref} does not exist" + (f"; {hint}" if hint else "")

    def duplicate_of(self, lease: Lease) -> str | None:
        """The lease already billing the same tenant, room and dates, or None after claiming them for `lease`."""
        original = self.billed.setdefault((lease.user_id, lease.room_id, lease.start, lease.end), lease.id)
        return None if original == lease.id else original

    def claim_currency(self, user_id: str, currency: str, lease_id: str, ongoing: bool) -> str | None:
        """None when Stripe lets the lease's subscription be active for `user_id`; else why not, and what decided.

        Stripe refuses two active subscriptions in different currencies for one customer (multi-currency
        customers): a cancelled one fixes nothing. An ended lease's subscription is cancelled as soon as it is
        made, and it goes first (ordered), so only two leases in two currencies billing at once conflict.
        """
        others = [a for a in self.active.get(user_id, []) if a.currency != currency]
        # An ongoing lease meets the other currency's ongoing leases; an ended one, any subscription already live.
        blocking = [a for a in others if a.ongoing and (ongoing or a.linked)]
        if blocking:
            return blocking[0].conflict(user_id, currency, ongoing)
        self.active.setdefault(user_id, []).append(_Active(currency, lease_id, ongoing, linked=False))
        return None

    def in_currency_order(self, steps: list[Step]) -> list[Step]:
        """A new subscription waits for the tenant's subscriptions in another currency that this run cancels."""
        ordered = []
        for step in steps:
            billing = step.billing
            if step.action is Action.CREATE and billing is not None and billing.terms.mode is not Mode.ENDED:
                first = tuple(
                    a.lease_id
                    for a in self.active.get(billing.user_id, [])
                    if not a.ongoing and a.currency != billing.currency
                )
                step = replace(step, billing=replace(billing, after=first)) if first else step
            ordered.append(step)
        return ordered


@dataclass(frozen=True, slots=True)
class _Active:
    """A tenant's subscription active in this run: live in Stripe already (`linked`), or one the run creates."""

    currency: str
    lease_id: str
    ongoing: bool  # it keeps billing; False: an ended lease's, cancelled by this run
    linked: bool

    def conflict(self, user_id: str, currency: str, ongoing: bool) -> str:
        """Why a lease in `currency` cannot have its subscription next to this one, and what decided."""
        what = "its live subscription" if self.linked else "a subscription this run creates"
        if ongoing:
            rule = "the lease linked in Stripe first, else the one that starts first, decides"
        else:
            rule = "this ended lease's subscription would be active next to it while it is made and cancelled"
        return (
            f"user {user_id} is billed in {self.currency.upper()} by ongoing lease {self.lease_id} ({what}); "
            f"Stripe refuses active subscriptions in two currencies for one customer, this lease is in "
            f"{currency.upper()}; {rule}"
        )


@dataclass(frozen=True, slots=True)
class Issue:
    """Something wrong with a linked lease's subscription that only a person may settle."""

    problem: Problem  # for the run's report
    drift: Drift  # for --verify's advice
    text: str


def _linked_lease(weighed: _Weighed, label: str, ctx: _Leases) -> Step:
    """A lease whose subscription exists: keep it, repair what the sync owns, report what a person must decide."""
    lease, (action, stripe_id, stale_id, reason) = weighed.lease, weighed.link
    remote = ctx.account.find(Kind.LEASE, stripe_id or "")
    assert remote is not None
    found = _link_issues(lease, remote, ctx)
    if remote.customer and remote.currency and live(remote) and (tenant := ctx.owner(Kind.USER, remote.customer)):
        ctx.active.setdefault(tenant, []).append(_Active(remote.currency, lease.id, weighed.ongoing, linked=True))
    ended = weighed.terms is not None and weighed.terms.mode is Mode.ENDED
    found += _billing_issues(weighed, remote, ctx)
    if action is Action.KEEP and _made_on_a_clamped_day(remote, found):
        return _replacement(weighed, remote, label, ctx)
    cancel = ended and live(remote) and not found
    problems = {issue.problem for issue in found}
    if action is Action.ADOPT and problems:
        # An adopted id is not even stored while a person decides: the row stays as it is.
        why = "; ".join(filter(None, [reason, *(i.text for i in found), f"{remote.id} is left as it is"]))
        return Step(
            Kind.LEASE,
            lease.id,
            label,
            Action.SKIP,
            stripe_id,
            stale_id,
            why,
            problem=found[0].problem,
            drift=found[0].drift,
        )
    # The link metadata is the sync's own and bills nothing: restored unless which row it names is the question.
    repair = {} if Problem.LINK_CHANGED in problems else _repair(Kind.LEASE, lease.id, stripe_id, ctx.account, {})
    kept = _kept(Kind.LEASE, lease.id, label, weighed.link, repair)
    if not found:
        switch = _switch(weighed, remote, ctx.collection)
        if switch is not None:
            repair = {**repair, **ctx.collection.fields()}
            kept = replace(
                kept, repair=repair, switch=switch, reason="; ".join(filter(None, [kept.reason, switch.says()]))
            )
        return replace(kept, cancel=cancel, bills=live(remote))
    texts = [kept.reason, *(i.text for i in found), f"{remote.id} is left as it is until a person decides"]
    return replace(kept, reason="; ".join(filter(None, texts)), problem=found[0].problem, drift=found[0].drift)


def _made_on_a_clamped_day(remote: Remote, found: list[Issue]) -> bool:
    """An earlier version's subscription on another day than the rent day (it set no anchor config: its trial
    ended on a clamped date), still in its free period: nothing billed, so the sync may replace it. One whose
    anchor config someone changed is theirs to settle, as every change made in Stripe."""
    wrong_day = bool(found) and {i.drift for i in found} == {Drift.WRONG_DAY}
    return wrong_day and remote.status == "trialing" and remote.anchor_day is None


def _replacement(weighed: _Weighed, remote: Remote, label: str, ctx: _Leases) -> Step:
    """Cancelled and made again on the rent day, its trial ending on the same date, so nobody is charged."""
    day = remote.billing_day()
    why = f"{remote.id} bills on day {day} of the month, not on the rent day: replaced while nothing is billed yet"
    step = _new_lease(replace(weighed, link=(Action.CREATE, None, remote.id, why)), label, ctx)
    if step.billing is None:
        return step
    return replace(step, billing=replace(step.billing, replaces=remote.id), drift=Drift.WRONG_DAY)


def _link_issues(lease: Lease, remote: Remote, ctx: _Leases) -> list[Issue]:
    """The lease's user or room gone, or not the customer or product its subscription bills."""
    found = []
    refs = [
        (Kind.USER, lease.user_id, remote.customer, Drift.WRONG_CUSTOMER),
        (Kind.ROOM, lease.room_id, remote.product, Drift.WRONG_PRODUCT),
    ]
    for kind, ref, billed, drift in refs:
        gone = ctx.missing(kind, ref)
        owner = ctx.owner(kind, billed)
        if gone:
            found.append(Issue(Problem.LINK_CHANGED, drift, gone))
        elif owner != ref:
            whose = f"{kind.singular} {owner}'s" if owner else "no row's (gone from the account?)"
            text = f"its subscription bills {billed}, {whose}, not {kind.singular} {ref}'s"
            found.append(Issue(Problem.LINK_CHANGED, drift, text))
    return found


def _billing_issues(weighed: _Weighed, remote: Remote, ctx: _Leases) -> list[Issue]:
    """What in the subscription's billing only a person may settle: an invalid row, a stop, a drift, a copy."""
    if weighed.terms is None:
        return [Issue(Problem.BAD_LEASE, Drift.ROW_INVALID, weighed.invalid)]
    if weighed.terms.mode is Mode.ENDED:
        return []
    # Claimed even when cancelled: a copy must not bill what a person stopped on this one.
    original = ctx.duplicate_of(weighed.lease)
    if not live(remote):
        text = (
            f"the lease is ongoing but {remote.id} is {remote.status} in Stripe: not billed again by the sync "
            "(a person may have stopped it on purpose)"
        )
        return [Issue(Problem.CANCELLED_IN_STRIPE, Drift.CANCELLED_EARLY, text)]
    found = _drift(weighed.lease, remote, ctx.hubs)
    if original:
        text = (
            f"duplicate of lease {original} (same user, room and dates), and {remote.id} bills it a second time: "
            "cancel one of the two subscriptions in Stripe and void one lease"
        )
        found.append(Issue(Problem.DUPLICATE, Drift.BILLED_TWICE, text))
    return found


def _switch(weighed: _Weighed, remote: Remote, collection: CollectionChoice) -> Switch | None:
    """The chosen method, when it is not the linked subscription's and the subscription still bills.

    Only a method someone chose moves linked subscriptions: without one a rerun leaves them as they are.
    A subscription Stripe will not charge again (cancelled, or stopping when its trial ends) is not worth
    a write, nor one whose lease is over (the sync cancels it).
    """
    if not collection.chosen or not bills(remote) or weighed.terms is None or weighed.terms.mode is Mode.ENDED:
        return None
    was = Method(remote.collection_method or Method.AUTOMATIC.value)
    days = remote.days_until_due if was is Method.INVOICE else None
    if was is collection.method and days == collection.days_until_due:
        return None
    return Switch(was.says(days), collection.says())


def _drift(lease: Lease, remote: Remote, hubs: Mapping[str, str]) -> list[Issue]:
    """How a live subscription bills otherwise than its lease: said, never changed (that would prorate)."""
    review = "left as is, review it in Stripe"
    currency = hubs.get(lease.hub_id or "")
    if currency is None:
        text = f"unknown hub {lease.hub_id!r}, so what it should bill is unknown; {review}"
        return [Issue(Problem.UNKNOWN_HUB, Drift.ROW_INVALID, text)]
    try:
        amount = to_minor(lease.rent_amount, currency)
    except InvalidAmount as exc:
        return [Issue(Problem.BAD_AMOUNT, Drift.ROW_INVALID, f"rentAmount: {exc}; {review}")]
    found = []
    if remote.currency != currency:
        text = f"bills in {str(remote.currency).upper()} but the lease's hub is in {currency.upper()}: {review}"
        found.append(Issue(Problem.BILLING_DRIFT, Drift.WRONG_CURRENCY, text))
    elif remote.amount != amount:
        billed = format_minor(remote.amount, currency) if remote.amount is not None else "?"
        text = f"bills {billed} a month but the lease says {format_minor(amount, currency)}: {review}"
        found.append(Issue(Problem.BILLING_DRIFT, Drift.WRONG_AMOUNT, text))
    if remote.cancel_at is not None and lease.end is not None and remote.cancel_at != to_unix(lease.end):
        text = f"stops billing on {unix_date(remote.cancel_at)} but the lease ends {lease.end:%Y-%m-%d}: {review}"
        found.append(Issue(Problem.BILLING_DRIFT, Drift.WRONG_END, text))
    day = remote.billing_day()
    if day is not None and lease.start is not None and day != lease.start.day and bills(remote):
        text = f"bills on day {day} of the month but the lease's rent day is {lease.start.day}: {review}"
        found.append(Issue(Problem.BILLING_DRIFT, Drift.WRONG_DAY, text))
    return found


def _new_lease(weighed: _Weighed, label: str, ctx: _Leases) -> Step:
    lease, (_, _, stale_id, reason) = weighed.lease, weighed.link

    def skip(problem: Problem, why: str) -> Step:
        return Step(Kind.LEASE, lease.id, label, Action.SKIP, stale_id=stale_id, reason=why, problem=problem)

    if weighed.terms is None:
        return skip(Problem.BAD_LEASE, weighed.invalid)
    for kind in (Kind.USER, Kind.ROOM):
        gone = ctx.missing(kind, lease.user_id if kind is Kind.USER else lease.room_id)
        if gone:
            return skip(Problem.MISSING_REFERENCE, gone)
    user, room = ctx.users[lease.user_id or ""], ctx.rooms[lease.room_id or ""]
    currency = ctx.hubs.get(lease.hub_id or "")
    if currency is None:
        return skip(Problem.UNKNOWN_HUB, f"unknown hub {lease.hub_id!r}: map it in HUB_CURRENCIES (hubId=currency)")
    try:
        amount = to_minor(lease.rent_amount, currency)
    except InvalidAmount as exc:
        return skip(Problem.BAD_AMOUNT, f"rentAmount: {exc}")
    for dep in (user, room):
        if dep.action is Action.SKIP:
            return skip(Problem.DEPENDENCY, f"{dep.kind.singular} {dep.row_id} is not synced: {dep.reason}")
    if weighed.ongoing and (original := ctx.duplicate_of(lease)):
        # The same tenant, room and dates twice would bill twice: the copy waits for a person.
        return skip(
            Problem.DUPLICATE,
            f"duplicate of lease {original} (same user, room and dates): not billed twice; "
            "void or delete one of them, then rerun",
        )
    conflict = ctx.claim_currency(user.row_id, currency, lease.id, weighed.ongoing)
    if conflict:
        return skip(Problem.CURRENCY_CONFLICT, conflict)
    notes: list[str] = []
    if lease.name:
        clipped("lease name", lease.name, MAX_SUBSCRIPTION_DESCRIPTION, notes)
    billing = Billing(lease.id, user.row_id, room.row_id, amount, currency, weighed.terms, lease.name, ctx.collection)
    return Step(
        Kind.LEASE,
        lease.id,
        label,
        Action.CREATE,
        stale_id=stale_id,
        reason=reason,
        billing=billing,
        notes=tuple(f"{note} (the subscription's description)" for note in notes),
    )


def _strays(plan: Plan, account: Account, rows: Mapping[Kind, Collection[str]]) -> None:
    """Objects carrying a cohabs link that no row keeps: listed, never touched (a person checks them)."""
    for kind in Kind:
        kept = {s.stripe_id for s in plan.steps[kind] if s.stripe_id}
        kept |= {s.billing.replaces for s in plan.steps[kind] if s.billing and s.billing.replaces}  # cancelled first
        stored = {s.row_id: s.stripe_id for s in plan.steps[kind]}
        for remote in sorted(account.by_id[kind].values(), key=lambda r: (r.created, r.id)):
            if not remote.link or remote.id in kept or (kind is Kind.LEASE and not live(remote)):
                continue  # a cancelled subscription bills nobody: nothing for a person to do
            key = f"{LINK_KEYS[kind]}={remote.link}"
            if remote.link in rows[kind]:
                whose = f"the row keeps {stored.get(remote.link)}" if stored.get(remote.link) else "the row keeps none"
                why = f"{remote.id} also carries {key} but {whose}: a second object for one {kind.singular} row"
            else:
                why = f"{remote.id} carries {key} but no {kind.singular} row has that id (deleted from the database?)"
            if kind is Kind.LEASE:
                why += f", and it is {remote.status}: it can bill"
            # Named by the object's own id: the row it names may be another step's, or none.
            plan.steps[kind].append(
                Step(
                    kind,
                    remote.id,
                    key,
                    Action.SKIP,
                    remote.id,
                    reason=why,
                    problem=Problem.STRAY,
                    drift=Drift.UNCLAIMED,
                )
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
    collection: CollectionChoice = UNCHOSEN,
    customer_map: Sequence[MapRow] = (),
) -> Plan:
    plan = Plan()
    ids = {kind: {r.id for r in found} for kind, found in _by_kind(rows).items()}
    copied = copied_customers(rows.users, account, customer_map)
    plan.steps[Kind.USER] = [plan_user(user, account, ids[Kind.USER], copied) for user in rows.users]
    currencies, currency_notes = room_currencies(rows.leases, hubs, default_currency)
    labels = room_labels(rows.rooms)
    for room in rows.rooms:
        currency = currencies.get(room.id, default_currency)
        step = plan_room(room, account, currency, currency_notes.get(room.id), ids[Kind.ROOM])
        plan.steps[Kind.ROOM].append(replace(step, label=labels[room.id]))
    users = {s.row_id: s for s in plan.steps[Kind.USER]}
    rooms = {s.row_id: s for s in plan.steps[Kind.ROOM]}
    ctx = _Leases(account, users, rooms, hubs, hints or {}, collection)
    weighed = sorted((_weigh(lease, account, ids[Kind.LEASE], now) for lease in rows.leases), key=_Weighed.order)
    for item in weighed:
        label = item.lease.name or item.lease.id
        step = _linked_lease(item, label, ctx) if item.linked else _new_lease(item, label, ctx)
        plan.steps[Kind.LEASE].append(step)
    plan.steps[Kind.LEASE] = ctx.in_currency_order(plan.steps[Kind.LEASE])
    _strays(plan, account, ids)
    plan.notes += [*copied.notes, *_shared_emails(rows.users, copied.contested)]
    plan.active = frozenset(kinds)
    if Kind.LEASE in kinds:
        plan.steps[Kind.LEASE] = [
            _wait_for_dependencies(step, users, rooms, plan.active) for step in plan.steps[Kind.LEASE]
        ]
    if limit is not None:
        _canary(plan, limit)
    return plan


def _by_kind(rows: Rows) -> dict[Kind, Sequence[User | Room | Lease]]:
    return {Kind.USER: rows.users, Kind.ROOM: rows.rooms, Kind.LEASE: rows.leases}


def _shared_emails(users: Sequence[User], contested: Collection[str]) -> list[str]:
    """Users sharing an email each get their own customer; one the copy brought is settled by a person instead."""
    by_email: dict[str, list[str]] = {}
    for user in users:
        if user.email and user.email.strip().casefold() not in contested:
            by_email.setdefault(user.email.lower(), []).append(user.id)
    return [
        f"users {', '.join(owners)} share the email {email}: each gets its own customer; check they are not one person"
        for email, owners in by_email.items()
        if len(owners) > 1
    ]


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
