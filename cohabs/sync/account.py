"""What the Stripe account already holds, indexed by id and by the row it links to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cohabs.sync.rows import Kind

CUSTOMER_DETAILS = ("email", "name", "phone")


@dataclass(frozen=True, slots=True)
class Remote:
    """The few fields of a Stripe object the sync compares; the rest stays in Stripe."""

    kind: Kind
    id: str
    link: str | None
    created: int
    status: str | None = None
    customer: str | None = None
    product: str | None = None
    currency: str | None = None  # a subscription's price; a customer's once it was billed (Stripe keeps it)
    amount: int | None = None
    details: tuple[tuple[str, str | None], ...] = ()  # customers: email, name, phone as Stripe has them
    cancel_at: int | None = None  # subscriptions: when Stripe stops billing
    trial_end: int | None = None  # subscriptions: when the free period ends and the first charge comes
    # How a subscription collects; None where the account does not say (Stripe's defaults then apply).
    collection_method: str | None = None
    days_until_due: int | None = None
    end_behavior: str | None = None  # trial_settings.end_behavior.missing_payment_method
    # Something Stripe can charge: a customer's invoice default or default source, a subscription's own.
    can_pay: bool = False
    # Subscriptions: what fixes the day of month it bills on (billing.py says why the sync sets all three).
    anchor: int | None = None  # billing_cycle_anchor
    anchor_day: int | None = None  # billing_cycle_anchor_config.day_of_month
    anchor_at_trial_end: str | None = None
    cancel_comment: str | None = (
        None  # cancellation_details.comment: the sync's own marks why it cancelled  # trial_settings.end_behavior.billing_cycle_anchor: now (default), unchanged
    )

    def billing_day(self) -> int | None:
        """The day of month Stripe bills it on (clamped in shorter months), by its documented rules."""
        if self.anchor is None:
            return None
        # A trial's end resets an anchor at or before it to the trial end, unless told to leave it unchanged.
        resets = (
            self.status == "trialing"
            and self.trial_end is not None
            and self.anchor <= self.trial_end
            and self.anchor_at_trial_end != "unchanged"
        )
        if self.anchor_day and not resets:
            return self.anchor_day
        return datetime.fromtimestamp(self.trial_end if resets and self.trial_end else self.anchor, UTC).day


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """The fields of a customer's payment method the choice needs."""

    id: str
    type: str
    exp_month: int | None = None  # cards only
    exp_year: int | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> PaymentMethod:
        card = obj.get("card") or {}
        return cls(str(obj["id"]), str(obj.get("type")), card.get("exp_month"), card.get("exp_year"))

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else "no expiry"

    def usable_on(self, day: datetime) -> bool:
        """A card is valid until the end of its expiry month: usable if that is not before `day`."""
        if self.type != "card" or not self.exp_month or not self.exp_year:
            return False
        month_after = datetime(self.exp_year + self.exp_month // 12, self.exp_month % 12 + 1, 1)
        return day.replace(tzinfo=None) < month_after


@dataclass
class Account:
    by_id: dict[Kind, dict[str, Remote]] = field(default_factory=lambda: {k: {} for k in Kind})
    by_link: dict[Kind, dict[str, list[Remote]]] = field(default_factory=lambda: {k: {} for k in Kind})
    read: bool = True  # False: no account was read (a dry run without a key), so no stored id was checked

    @classmethod
    def of(cls, remotes: Iterable[Remote]) -> Account:
        account = cls()
        for remote in remotes:
            if remote.id in account.by_id[remote.kind]:
                continue  # seen twice (a list that repeats an object at a page edge): still one object
            account.by_id[remote.kind][remote.id] = remote
            if remote.link:
                account.by_link[remote.kind].setdefault(remote.link, []).append(remote)
        for links in account.by_link.values():
            for found in links.values():
                found.sort(key=lambda r: (r.created, r.id))
        return account

    def find(self, kind: Kind, stripe_id: str) -> Remote | None:
        return self.by_id[kind].get(stripe_id)

    def linked_to(self, kind: Kind, row_id: str) -> list[Remote]:
        return self.by_link[kind].get(row_id, [])

    def size(self) -> int:
        return sum(len(objs) for objs in self.by_id.values())
