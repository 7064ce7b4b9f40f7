"""A lone usable card becomes the default: what a linked customer charged automatically holds, and what the sync sets.

Stripe's copy of payment data brings cards as payment methods, but no
customer's `invoice_settings.default_payment_method`: without one, a
subscription charged automatically fails its first invoice. For each linked
customer charged automatically with no default, the sync reads its payment
methods (listing.read_payment_methods) and:

- one usable card (attached, and not expiring before the first charge): set as the default;
- none, expired cards only, or several payment methods: left for a person, and
  the readiness audit says which. One of several is never picked.

Pure: the plan, its readiness and the payment methods read in, the plan with
the defaults to set (and the readiness that says what each customer holds) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cohabs.sync.account import PaymentMethod
from cohabs.sync.billing import Method
from cohabs.sync.plan import Action, Plan
from cohabs.sync.readiness import Billable, Readiness, State
from cohabs.sync.rows import Kind

DEFAULT_FIELD = "invoice_settings"  # what a user step's repair sets to make a card the default


class Holds(StrEnum):
    """What a customer charged automatically without a default holds."""

    ONE_CARD = "one_card"  # set as the default
    NOTHING = "nothing"
    EXPIRED = "expired_only"
    SEVERAL = "several"
    NOT_A_CARD = "not_a_card"  # one payment method of another type: a person chooses


@dataclass(frozen=True, slots=True)
class Wallet:
    customer: str
    holds: Holds
    default: str | None  # the lone usable card, set as the default
    says: str  # for a person: "only cards expired by 2027-01-05: pm_… 01/2020"


def judge(customer: str, methods: Iterable[PaymentMethod], first_charge: datetime) -> Wallet:
    """What the customer holds on its first charge date, and the default to set when one card alone can pay."""
    found = list(methods)
    cards = [m for m in found if m.type == "card"]
    usable = [m for m in cards if m.usable_on(first_charge)]
    others = [m for m in found if m.type != "card"]

    def listed(items: list[PaymentMethod]) -> str:
        return ", ".join(f"{m.id} {m.expiry if m.type == 'card' else m.type}" for m in items)

    if len(usable) + len(others) > 1:
        return Wallet(
            customer,
            Holds.SEVERAL,
            None,
            f"{len(usable) + len(others)} payment methods can pay ({listed(usable + others)}): "
            "a person sets the default in Stripe",
        )
    if usable:
        return Wallet(
            customer, Holds.ONE_CARD, usable[0].id, f"its one usable card {listed(usable)} is made the default"
        )
    if others:
        return Wallet(customer, Holds.NOT_A_CARD, None, f"no card, one {listed(others)}: a person sets the default")
    if cards:
        return Wallet(customer, Holds.EXPIRED, None, f"only cards expired by {first_charge:%Y-%m-%d} ({listed(cards)})")
    return Wallet(customer, Holds.NOTHING, None, "no payment method in Stripe")


def wanting(readiness: Readiness) -> list[str]:
    """Customers that exist and are charged automatically with nothing to charge: whose payment methods to read."""
    return sorted({b.customer for b in readiness.unready() if b.customer and _charged_without_default(b)})


def _charged_without_default(b: Billable) -> bool:
    return b.method is Method.AUTOMATIC and not b.can_pay and b.state in (State.NO_PAYMENT_METHOD, State.STOPS)


def settle(
    plan: Plan, readiness: Readiness, methods: Mapping[str, list[PaymentMethod]], *, as_planned: bool
) -> tuple[Plan, Readiness]:
    """Each lone usable card set as its linked customer's default in the plan; what every other one holds, said.

    `as_planned`: the readiness as the sync leaves the account (a default it sets counts), else as it is now.
    """
    first: dict[str, datetime] = {}
    for b in readiness.unready():
        if b.customer and b.customer in methods and _charged_without_default(b):
            first[b.customer] = min(b.first_charge, first.get(b.customer, b.first_charge))
    wallets = {customer: judge(customer, methods[customer], day) for customer, day in first.items()}
    plan, setting = _set_defaults(plan, wallets)
    billable = []
    for b in readiness.billable:
        wallet = wallets.get(b.customer or "")
        if wallet is None or not _charged_without_default(b):
            billable.append(b)
        elif as_planned and wallet.customer in setting:
            billable.append(replace(b, can_pay=True, state=State.READY))
        else:
            says = wallet.says if wallet.holds is not Holds.ONE_CARD else f"{wallet.says} by a sync"
            billable.append(replace(b, holds=says))
    return plan, Readiness(billable)


def _set_defaults(plan: Plan, wallets: Mapping[str, Wallet]) -> tuple[Plan, set[str]]:
    """The lone cards in the repair of the user steps that link their customers: the new plan, the customers set."""
    if Kind.USER not in plan.active:
        return plan, set()
    steps, setting = [], set()
    for step in plan.steps[Kind.USER]:
        wallet = wallets.get(step.stripe_id or "")
        if wallet and wallet.default and step.action in (Action.KEEP, Action.ADOPT) and not step.problem:
            repair = {**(step.repair or {}), DEFAULT_FIELD: {"default_payment_method": wallet.default}}
            reason = "; ".join(filter(None, [step.reason, f"default payment method: {wallet.says}"]))
            step = replace(step, repair=repair, reason=reason)
            setting.add(wallet.customer)
        steps.append(step)
    return replace(plan, steps={**plan.steps, Kind.USER: steps}), setting


def customer_changes(plan: Plan) -> dict[str, str]:
    """User id -> what the plan does to a customer it links from the copy, or makes able to pay: for the reports."""
    changes = {}
    for step in plan.steps[Kind.USER] if Kind.USER in plan.active else ():
        repair = step.repair or {}
        default = (repair.get(DEFAULT_FIELD) or {}).get("default_payment_method")
        said = [
            f"links {step.stripe_id}, adding our metadata" if "metadata" in repair else "",
            f"makes {default} its default payment method" if default else "",
        ]
        if any(said):
            changes[step.row_id] = " and ".join(filter(None, said))
    return changes
