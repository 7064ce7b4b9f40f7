"""The collection choice and the readiness audit as pure planning: rows and an account in; no MySQL, no Stripe."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cohabs.shared.errors import CannotRun
from cohabs.shared.reports import Privacy
from cohabs.sync.account import Account, Remote
from cohabs.sync.billing import UNCHOSEN, CollectionChoice, Method
from cohabs.sync.ledger import Ledger
from cohabs.sync.plan import Plan, Step, make_plan
from cohabs.sync.problems import Problem
from cohabs.sync.readiness import Readiness, State, assess
from cohabs.sync.rows import Kind, Lease, Room, Rows, User
from tests.helpers import NOW

HUBS = {"hub-bru": "eur", "hub-nyc": "usd"}
END = datetime(2027, 9, 1, 8)
SEND_INVOICE = CollectionChoice(Method.INVOICE, 10, True)


def ts(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def tenants() -> list[User]:
    return [
        User(uid, f"{name}@cohabs.com", name.title(), "Tenant", None, None, None)
        for uid, name in (("u1", "ada"), ("u2", "bob"), ("u3", "cyd"))
    ]


def lease(lease_id: str, user_id: str, start: datetime, amount: str, hub: str = "hub-bru") -> Lease:
    return Lease(lease_id, f"bru-{lease_id}", user_id, "r1", hub, "active", Decimal(amount), start, END, None)


# Three tenants, four leases: two first charged on 5 December, one on the 10th (in USD), one starting in January.
LEASES = [
    lease("l1", "u1", datetime(2026, 5, 5, 9), "700.00"),
    lease("l2", "u2", datetime(2026, 6, 5, 9), "700.00"),
    lease("l3", "u3", datetime(2026, 4, 10, 9), "950.00", hub="hub-nyc"),
    lease("l4", "u1", datetime(2027, 1, 15, 9), "650.00"),
]


def audit(
    leases: list[Lease],
    remotes: Iterable[Remote] = (),
    collection: CollectionChoice = UNCHOSEN,
    users: list[User] | None = None,
    *,
    as_planned: bool = True,
) -> tuple[Plan, Readiness]:
    rows = Rows(users or tenants(), [Room("r1", 1, None, None, None, Decimal("700.00"), None)], leases)
    account = Account.of(remotes)
    planned = make_plan(rows, account, hubs=HUBS, default_currency="eur", now=NOW, collection=collection)
    ledger = Ledger.of(rows, HUBS, "eur", NOW)
    return planned, assess(planned, account, rows, ledger, as_planned=as_planned)


def linked(
    lease_id: str,
    *,
    method: str | None = "charge_automatically",
    days: int | None = None,
    end_behavior: str | None = None,
    trial_end: datetime = datetime(2026, 12, 5, 9),
    cancel_at: datetime | None = END,
    status: str = "trialing",
    amount: int = 70000,
) -> list[Remote]:
    """Lease `lease_id` of tenant u1 linked as a sync made it: customer, product and subscription."""
    return [
        Remote(Kind.USER, "cus_u1", "u1", 1, details=(("email", "ada@cohabs.com"),)),
        Remote(Kind.ROOM, "prod_r1", "r1", 1),
        Remote(
            Kind.LEASE,
            f"sub_{lease_id}",
            lease_id,
            1,
            status=status,
            customer="cus_u1",
            product="prod_r1",
            currency="eur",
            amount=amount,
            cancel_at=ts(cancel_at) if cancel_at else None,
            trial_end=ts(trial_end),
            collection_method=method,
            days_until_due=days,
            end_behavior=end_behavior,
        ),
    ]


def stored(lease_id: str, user_id: str = "u1") -> Lease:
    """Lease `lease_id` with its subscription's id stored, as after a sync."""
    found = next(x for x in LEASES if x.id == lease_id)
    return dataclasses.replace(found, stripe_id=f"sub_{lease_id}")


def lease_step(planned: Plan, lease_id: str) -> Step:
    (found,) = [s for s in planned.steps[Kind.LEASE] if s.row_id == lease_id]
    return found


def test_the_audit_groups_subscriptions_by_first_charge_date_with_monthly_totals_per_currency() -> None:
    _, readiness = audit(LEASES)

    days = [(day, [b.lease_id for b in items]) for day, items in readiness.by_date()]
    assert days == [("2026-12-05", ["l1", "l2"]), ("2026-12-10", ["l3"]), ("2027-01-15", ["l4"])]
    assert {b.state for b in readiness.billable} == {State.NO_PAYMENT_METHOD}  # a fresh account holds none
    assert readiness.summary() == [
        "3 tenant(s) (4 leases), 2,050.00 EUR and 950.00 USD a month, are charged automatically from 2026-12-05 "
        "and have no payment method: their first invoice will fail. Collect payment methods before then, or switch "
        "them to send_invoice."
    ]
    masked = readiness.scrubbed(Privacy())
    assert [b.tenant for b in masked.billable] == [
        "ad…@cohabs.com",
        "bo…@cohabs.com",
        "cy…@cohabs.com",
        "ad…@cohabs.com",
    ]
    assert (
        readiness.billable[0].problem().startswith("tenant ada@cohabs.com, 700.00 EUR a month, first charge 2026-12-05")
    )


def test_send_invoice_needs_an_email_not_a_payment_method() -> None:
    users = tenants()
    users[1] = User("u2", None, "Bob", "Tenant", None, None, "cus_u2")  # linked, its email since removed
    customer = Remote(Kind.USER, "cus_u2", "u2", 1, details=(("email", None),))
    _, readiness = audit(LEASES[:2], [customer], SEND_INVOICE, users)

    states = {b.lease_id: (b.state, b.how()) for b in readiness.billable}
    assert states == {
        "l1": (State.READY, "invoiced by email, due in 10 days"),
        "l2": (State.NO_EMAIL, "invoiced by email, due in 10 days, no email"),
    }
    (sentence,) = readiness.summary()
    assert sentence.startswith(
        "1 tenant(s), 700.00 EUR a month, are invoiced by email from 2026-12-05 but have no email"
    )


def test_a_payment_method_on_the_customer_or_the_subscription_makes_a_tenant_ready() -> None:
    customer = Remote(Kind.USER, "cus_u1", "u1", 1, details=(("email", "ada@cohabs.com"),), can_pay=True)
    users = tenants()
    users[0] = User("u1", "ada@cohabs.com", "Ada", "Tenant", None, None, "cus_u1")
    _, readiness = audit(LEASES, [customer], users=users)
    assert {b.lease_id for b in readiness.unready()} == {"l2", "l3"}

    customer_and_room, subscription = linked("l1")[:2], linked("l1")[2]
    on_subscription = [*customer_and_room, dataclasses.replace(subscription, can_pay=True)]
    _, readiness = audit([stored("l1")], on_subscription, users=users)
    assert [b.state for b in readiness.billable] == [State.READY]


def test_a_trial_end_that_pauses_or_cancels_without_a_payment_method_is_named_as_stopping_the_rent() -> None:
    _, readiness = audit([stored("l1")], linked("l1", end_behavior="pause"))
    (paused,) = readiness.billable
    assert (paused.state, paused.end_behavior) == (State.STOPS, "pause")
    assert "rent stops without an invoice" in readiness.summary()[0]
    # An earlier version set none: Stripe's default creates the invoice, which is the sync's own choice.
    _, readiness = audit([stored("l1")], linked("l1", end_behavior=None, method=None))
    assert [(b.state, b.end_behavior, b.method) for b in readiness.billable] == [
        (State.NO_PAYMENT_METHOD, "create_invoice", Method.AUTOMATIC)
    ]


def test_new_subscriptions_carry_the_method_and_an_explicit_end_behaviour() -> None:
    planned, _ = audit(LEASES[:1], collection=SEND_INVOICE)
    billing = lease_step(planned, "l1").billing
    assert billing is not None
    params = billing.params("cus_1", "prod_1")
    assert (params["collection_method"], params["days_until_due"]) == ("send_invoice", 10)
    assert params["trial_settings"] == {
        "end_behavior": {"missing_payment_method": "create_invoice", "billing_cycle_anchor": "unchanged"}
    }
    default = lease_step(audit(LEASES[:1])[0], "l1").billing
    assert default is not None
    plain = default.params("cus_1", "prod_1")
    assert plain["collection_method"] == "charge_automatically" and "days_until_due" not in plain


def test_a_chosen_method_switches_linked_subscriptions_that_bill_and_only_those() -> None:
    switched = lease_step(audit([stored("l1")], linked("l1"), SEND_INVOICE)[0], "l1")
    assert switched.repair == {"collection_method": "send_invoice", "days_until_due": 10}
    assert switched.switch is not None and switched.reason.endswith(
        "collection: charged automatically → invoiced by email, due in 10 days"
    )
    back = lease_step(
        audit(
            [stored("l1")], linked("l1", method="send_invoice", days=7), CollectionChoice(Method.AUTOMATIC, None, True)
        )[0],
        "l1",
    )
    assert back.repair == {"collection_method": "charge_automatically"}
    new_days = lease_step(audit([stored("l1")], linked("l1", method="send_invoice", days=7), SEND_INVOICE)[0], "l1")
    assert new_days.repair == {"collection_method": "send_invoice", "days_until_due": 10}

    unchanged = [
        audit([stored("l1")], linked("l1"))[0],  # no method chosen: linked ones keep theirs
        audit([stored("l1")], linked("l1", method="send_invoice", days=10), SEND_INVOICE)[0],  # already so
        audit([stored("l1")], linked("l1", cancel_at=datetime(2026, 12, 5, 9)), SEND_INVOICE)[0],  # stops first
        audit([stored("l1")], linked("l1", status="canceled"), SEND_INVOICE)[0],
    ]
    for planned in unchanged:
        step = lease_step(planned, "l1")
        assert step.switch is None and "collection_method" not in (step.repair or {})
    drifted = lease_step(audit([stored("l1")], linked("l1", amount=71000), SEND_INVOICE)[0], "l1")
    assert drifted.switch is None and drifted.problem is Problem.BILLING_DRIFT  # a person's call, as before


def test_the_plan_counts_a_switch_as_done_and_verify_reads_the_account_as_it_is() -> None:
    _, planned = audit([stored("l1")], linked("l1"), SEND_INVOICE)
    _, now = audit([stored("l1")], linked("l1"), SEND_INVOICE, as_planned=False)
    assert [(b.method, b.state) for b in planned.billable] == [(Method.INVOICE, State.READY)]
    assert [(b.method, b.state) for b in now.billable] == [(Method.AUTOMATIC, State.NO_PAYMENT_METHOD)]


def test_the_choice_is_checked_before_anything_runs() -> None:
    with pytest.raises(CannotRun, match="send_invoice needs the days"):
        CollectionChoice.of("send_invoice", None)
    assert CollectionChoice.of(None, 10) == UNCHOSEN  # nothing chosen: the days are not read
    assert CollectionChoice.of("charge_automatically", 10) == CollectionChoice(Method.AUTOMATIC, None, True)
