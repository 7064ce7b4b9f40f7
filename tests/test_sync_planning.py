"""The sync's pure planning: rows and the account's index in, one step per row out; no MySQL, no Stripe."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cohabs.sync.account import Account, Remote
from cohabs.sync.billing import Mode
from cohabs.sync.plan import Action, Plan, Step, make_plan
from cohabs.sync.problems import Drift, Problem
from cohabs.sync.rows import Kind, Lease, Room, Rows, User
from tests.helpers import END, HUBS, NOW, lease, room, user


def ts(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def subscription(
    stripe_id: str, lease_id: str, *, status: str = "trialing", amount: int = 68500, created: int = 1
) -> Remote:
    """A subscription billing lease `lease_id` as planned here: customer cus_u1, product prod_r1, EUR."""
    return Remote(
        Kind.LEASE,
        stripe_id,
        lease_id,
        created,
        status=status,
        customer="cus_u1",
        product="prod_r1",
        currency="eur",
        amount=amount,
        cancel_at=ts(END),
    )


LINKED_USER, LINKED_ROOM = Remote(Kind.USER, "cus_u1", "u1", 1), Remote(Kind.ROOM, "prod_r1", "r1", 1)


def plan(
    users: list[User],
    rooms: list[Room],
    leases: list[Lease],
    remotes: Iterable[Remote] = (),
    kinds: tuple[Kind, ...] = tuple(Kind),
    limit: int | None = None,
) -> Plan:
    rows, account = Rows(users, rooms, leases), Account.of(remotes)
    return make_plan(rows, account, hubs=HUBS, default_currency="eur", now=NOW, kinds=kinds, limit=limit)


def price(product: Step) -> Any:
    """What a room's product is priced at (its create parameters' default price)."""
    assert product.kind is Kind.ROOM and product.params is not None
    return dict(product.params)["default_price_data"]


def step(planned: Plan, kind: Kind, row_id: str) -> Step:
    (found,) = [s for s in planned.steps[kind] if s.row_id == row_id]
    return found


def test_an_empty_account_gets_one_create_per_row_carrying_its_link_and_its_money() -> None:
    planned = plan([user()], [room()], [lease()])

    customer, product, created = (
        step(planned, Kind.USER, "u1"),
        step(planned, Kind.ROOM, "r1"),
        planned.steps[Kind.LEASE][0],
    )
    assert [s.action for s in (customer, product, created)] == [Action.CREATE] * 3
    assert customer.params == {"metadata": {"cohabs_user_id": "u1"}, "email": "u1@example.com", "name": "Ada Tenant"}
    assert product.params is not None and product.params["metadata"] == {"cohabs_room_id": "r1"}
    assert price(product)["unit_amount"] == 70000
    billing = created.billing
    assert billing is not None and (billing.amount, billing.currency) == (68500, "eur")
    assert billing.terms.mode is Mode.ONGOING
    params = billing.params("cus_1", "prod_1")
    assert params["customer"] == "cus_1" and params["metadata"] == {"cohabs_lease_id": "l1"}
    assert params["trial_end"] == ts(datetime(2026, 12, 1, 16))  # free until the next rent date
    assert params["cancel_at"] == ts(END)
    assert planned.notes == [] and planned.deferred == []


def test_stored_ids_the_account_confirms_are_kept_and_need_nothing() -> None:
    remotes = [LINKED_USER, LINKED_ROOM, subscription("sub_1", "l1")]
    planned = plan([user(stripe_id="cus_u1")], [room(stripe_id="prod_r1")], [lease(stripe_id="sub_1")], remotes)

    for kind, row_id, stripe_id in (
        (Kind.USER, "u1", "cus_u1"),
        (Kind.ROOM, "r1", "prod_r1"),
        (Kind.LEASE, "l1", "sub_1"),
    ):
        kept = step(planned, kind, row_id)
        assert (kept.action, kept.stripe_id, kept.settled) == (Action.KEEP, stripe_id, True)
    assert step(planned, Kind.LEASE, "l1").bills


def test_an_object_that_links_back_is_adopted_the_oldest_first_never_created_again() -> None:
    older, newer = Remote(Kind.USER, "cus_old", "u1", 10), Remote(Kind.USER, "cus_new", "u1", 20)
    adopted = step(plan([user()], [], [], [newer, older]), Kind.USER, "u1")

    assert (adopted.action, adopted.stripe_id) == (Action.ADOPT, "cus_old")
    assert "cus_old already links to this row" in adopted.reason and "1 more also do: cus_new" in adopted.reason


def test_a_stored_id_the_account_lacks_is_replaced_and_the_reason_names_it() -> None:
    gone = step(plan([user(stripe_id="cus_gone")], [], []), Kind.USER, "u1")
    assert (gone.action, gone.stale_id) == (Action.CREATE, "cus_gone")
    assert gone.reason == "stored id cus_gone is not in this Stripe account"

    other_kind = step(plan([user(stripe_id="prod_r1")], [room()], [], [LINKED_ROOM]), Kind.USER, "u1")
    assert other_kind.action is Action.CREATE and other_kind.stale_id == "prod_r1"
    assert "as a user (it is a room object)" in other_kind.reason

    unread = make_plan(
        Rows([user(stripe_id="cus_u1")], [], []), Account(read=False), hubs=HUBS, default_currency="eur", now=NOW
    )
    assert "stored id cus_u1 was not checked: no Stripe account was read" in unread.steps[Kind.USER][0].reason


def test_an_id_stored_by_two_rows_stays_with_the_row_its_metadata_names() -> None:
    planned = plan([], [room("r1", stripe_id="prod_r1"), room("r2", stripe_id="prod_r1")], [], [LINKED_ROOM])

    assert step(planned, Kind.ROOM, "r1").action is Action.KEEP
    second = step(planned, Kind.ROOM, "r2")
    assert (second.action, second.stale_id) == (Action.CREATE, "prod_r1")
    assert second.reason == "stored id prod_r1 belongs to rooms row r1"


def test_an_object_edited_by_hand_is_kept_and_repaired_not_given_a_second_one() -> None:
    edited = Remote(Kind.USER, "cus_u1", None, 1, details=(("email", "someone-else@example.com"), ("name", None)))
    kept = step(plan([user(stripe_id="cus_u1")], [], [], [edited]), Kind.USER, "u1")

    assert (kept.action, kept.stripe_id) == (Action.KEEP, "cus_u1")
    assert kept.repair == {"metadata": {"cohabs_user_id": "u1"}, "email": "u1@example.com"}
    assert "no cohabs_user_id (edited by hand?): link restored" in kept.reason
    assert "email set again from the row" in kept.reason
    assert not kept.settled

    # A field the account does not echo, or an email in another case, costs no write.
    echoed = Remote(Kind.USER, "cus_u1", "u1", 1, details=(("email", "U1@Example.com"), ("name", None)))
    assert step(plan([user(stripe_id="cus_u1")], [], [], [echoed]), Kind.USER, "u1").settled


def test_rows_stripe_would_refuse_are_skipped_each_with_its_problem() -> None:
    users = [user("u1"), user("u-bad", email="not an email")]
    rooms = [room("r1"), room("r-free", rent=None)]
    leases = [
        lease("l-ghost", user_id="ghost"),
        lease("l-hub", hub="atlantis"),
        lease("l-zero", amount="0.00"),
        lease("l-dates", end=datetime(2026, 4, 1)),
        lease("l-bad-user", user_id="u-bad"),
        lease("l-free-room", room_id="r-free"),
    ]
    planned = plan(users, rooms, leases)

    assert step(planned, Kind.USER, "u-bad").problem is Problem.BAD_EMAIL
    assert step(planned, Kind.ROOM, "r-free").reason == "no price: baseRent and rent are both NULL"
    expected = {
        "l-ghost": (Problem.MISSING_REFERENCE, "user ghost does not exist"),
        "l-hub": (Problem.UNKNOWN_HUB, "unknown hub 'atlantis': map it in HUB_CURRENCIES (hubId=currency)"),
        "l-zero": (Problem.BAD_AMOUNT, "is not positive"),
        "l-dates": (Problem.BAD_LEASE, "is not after startDate"),
        "l-bad-user": (Problem.DEPENDENCY, "user u-bad is not synced"),
        "l-free-room": (Problem.DEPENDENCY, "room r-free is not synced"),
    }
    for lease_id, (problem, said) in expected.items():
        skipped = step(planned, Kind.LEASE, lease_id)
        assert (skipped.action, skipped.problem) == (Action.SKIP, problem), lease_id
        assert said in skipped.reason, (lease_id, skipped.reason)
        assert skipped.billing is None


def test_a_copy_of_an_ongoing_lease_is_held_back_and_billed_once() -> None:
    planned = plan([user()], [room()], [lease("l1"), lease("l1-copy")])

    assert step(planned, Kind.LEASE, "l1").action is Action.CREATE
    copy = step(planned, Kind.LEASE, "l1-copy")
    assert (copy.action, copy.problem) == (Action.SKIP, Problem.DUPLICATE)
    assert copy.reason.startswith("duplicate of lease l1 (same user, room and dates): not billed twice")


def test_a_tenant_who_moved_hubs_gets_both_leases_linked_and_the_ended_one_goes_first() -> None:
    # Multi-currency customers: Stripe refuses only two active subscriptions in different currencies.
    ended_eur = lease("l-old", status="finished", start=datetime(2025, 1, 1), end=datetime(2026, 1, 1))
    ongoing_usd = lease("l-new", hub="hub-nyc", start=datetime(2026, 6, 1), end=END)
    planned = plan([user()], [room()], [ended_eur, ongoing_usd])

    billed = step(planned, Kind.LEASE, "l-new")
    assert billed.action is Action.CREATE and billed.billing is not None and billed.billing.currency == "usd"
    assert billed.billing.after == ("l-old",)  # made once the EUR one is cancelled
    ended = step(planned, Kind.LEASE, "l-old")
    assert ended.action is Action.CREATE and ended.billing is not None and ended.billing.currency == "eur"
    assert ended.billing.terms.mode is Mode.ENDED and ended.problem is None
    # The room lists its price in its latest lease's currency, and says why.
    product = step(planned, Kind.ROOM, "r1")
    assert price(product)["currency"] == "usd"
    assert "leases in several currencies; price listed in USD (latest lease)" in product.notes


def test_only_two_currencies_billing_at_the_same_time_conflict_and_the_reason_names_what_decided() -> None:
    # The customer was billed in USD before, by a subscription now cancelled: that fixes nothing.
    billed_usd = Remote(Kind.USER, "cus_u1", "u1", 1, currency="usd")
    planned = plan([user(stripe_id="cus_u1")], [room()], [lease("l1")], [billed_usd])
    assert step(planned, Kind.LEASE, "l1").action is Action.CREATE

    # Two ongoing leases in two currencies: the one that starts first decides, and the reason says so.
    later = lease("l2", hub="hub-nyc", start=datetime(2026, 7, 1), end=END)
    both = plan([user()], [room()], [lease("l1"), later])
    refused = step(both, Kind.LEASE, "l2")
    assert (refused.action, refused.problem) == (Action.SKIP, Problem.CURRENCY_CONFLICT)
    assert refused.reason == (
        "user u1 is billed in EUR by ongoing lease l1 (a subscription this run creates); Stripe refuses active "
        "subscriptions in two currencies for one customer, this lease is in USD; the lease linked in Stripe first, "
        "else the one that starts first, decides"
    )

    # An ended lease next to a live subscription in another currency: making it would put both active at once.
    live_usd = Remote(Kind.LEASE, "sub_1", "l2", 1, status="trialing", customer="cus_u1", currency="usd")
    over = lease("l3", status="finished", start=datetime(2025, 1, 1), end=datetime(2026, 1, 1))
    linked = plan([user(stripe_id="cus_u1")], [room()], [later, over], [billed_usd, live_usd])
    ended = step(linked, Kind.LEASE, "l3")
    assert (ended.action, ended.problem) == (Action.SKIP, Problem.CURRENCY_CONFLICT)
    assert "by ongoing lease l2 (its live subscription)" in ended.reason


def test_an_ended_lease_gets_a_cancelled_subscription_or_its_live_one_cancelled() -> None:
    def over(stripe_id: str | None = None) -> Lease:
        return lease(status="finished", start=datetime(2025, 1, 1), end=datetime(2026, 1, 1), stripe_id=stripe_id)

    new = step(plan([user()], [room()], [over()]), Kind.LEASE, "l1")
    assert new.action is Action.CREATE and new.billing is not None and new.billing.terms.mode is Mode.ENDED

    remotes = [LINKED_USER, LINKED_ROOM, subscription("sub_1", "l1")]
    users, rooms = [user(stripe_id="cus_u1")], [room(stripe_id="prod_r1")]
    linked = step(plan(users, rooms, [over("sub_1")], remotes), Kind.LEASE, "l1")
    assert (linked.action, linked.cancel, linked.problem) == (Action.KEEP, True, None)
    assert not linked.settled


def test_a_subscription_billing_otherwise_than_its_lease_is_reported_never_changed() -> None:
    remotes = [LINKED_USER, LINKED_ROOM, subscription("sub_1", "l1", amount=70000)]
    users, rooms = [user(stripe_id="cus_u1")], [room(stripe_id="prod_r1")]
    kept = step(plan(users, rooms, [lease(stripe_id="sub_1")], remotes), Kind.LEASE, "l1")

    assert (kept.action, kept.problem, kept.drift) == (Action.KEEP, Problem.BILLING_DRIFT, Drift.WRONG_AMOUNT)
    assert "bills 700.00 EUR a month but the lease says 685.00 EUR: left as is, review it in Stripe" in kept.reason
    assert kept.repair is None and not kept.cancel


def test_a_subscription_cancelled_in_stripe_is_reported_until_a_person_clears_the_id() -> None:
    remotes = [LINKED_USER, LINKED_ROOM, subscription("sub_1", "l1", status="canceled")]
    users, rooms = [user(stripe_id="cus_u1")], [room(stripe_id="prod_r1")]

    stored = step(plan(users, rooms, [lease(stripe_id="sub_1")], remotes), Kind.LEASE, "l1")
    assert (stored.action, stored.problem, stored.drift) == (
        Action.KEEP,
        Problem.CANCELLED_IN_STRIPE,
        Drift.CANCELLED_EARLY,
    )
    assert "not billed again by the sync" in stored.reason

    cleared = step(plan(users, rooms, [lease()], remotes), Kind.LEASE, "l1")
    assert (cleared.action, cleared.stale_id) == (Action.CREATE, "sub_1")  # a fresh key: not the cancelled one
    assert "sub_1 is canceled and the row no longer stores it: a new one replaces it" in cleared.reason


def test_objects_no_row_keeps_are_listed_for_a_person_and_cancelled_ones_are_not() -> None:
    remotes = [
        Remote(Kind.USER, "cus_deleted", "u-deleted", 1),
        subscription("sub_stray", "l-deleted"),
        subscription("sub_over", "l-gone", status="canceled"),
    ]
    planned = plan([], [], [], remotes)

    (customer,) = planned.steps[Kind.USER]
    assert (customer.row_id, customer.action, customer.problem) == ("cus_deleted", Action.SKIP, Problem.STRAY)
    assert "carries cohabs_user_id=u-deleted but no user row has that id" in customer.reason
    (stray,) = planned.steps[Kind.LEASE]
    assert stray.row_id == "sub_stray" and stray.drift is Drift.UNCLAIMED
    assert stray.reason.endswith("and it is trialing: it can bill")


def test_only_leases_wait_for_the_users_and_rooms_still_to_be_created() -> None:
    planned = plan([user()], [room()], [lease()], kinds=(Kind.LEASE,))

    assert planned.active == frozenset({Kind.LEASE})
    held = planned.steps[Kind.LEASE][0]
    assert (held.action, held.problem, held.billing) == (Action.SKIP, Problem.NEEDS_FULL_RUN, None)
    assert held.reason == "user u1 has no Stripe object yet; sync users first"


def test_a_canary_keeps_n_leases_and_only_the_users_and_rooms_they_need() -> None:
    users, rooms = [user("u1"), user("u2")], [room("r1"), room("r2")]
    planned = plan(users, rooms, [lease("l1", "u1", "r1"), lease("l2", "u2", "r2")], limit=1)

    kept = {kind: [s.row_id for s in steps] for kind, steps in planned.steps.items()}
    assert kept == {Kind.USER: ["u1"], Kind.ROOM: ["r1"], Kind.LEASE: ["l1"]}
    assert sorted(s.row_id for s in planned.deferred) == ["l2", "r2", "u2"]


def test_users_sharing_an_email_each_get_a_customer_and_a_note() -> None:
    planned = plan([user("u1", email="same@example.com"), user("u2", email="SAME@example.com")], [], [])

    assert [s.action for s in planned.steps[Kind.USER]] == [Action.CREATE, Action.CREATE]
    assert planned.notes == [
        "users u1, u2 share the email same@example.com: each gets its own customer; check they are not one person"
    ]


def test_an_object_listed_twice_is_one_object_linked_once() -> None:
    twice = Remote(Kind.LEASE, "sub_1", "lease-1", 100, status="active")
    account = Account.of([twice, Remote(Kind.LEASE, "sub_2", "lease-1", 200), twice])
    assert account.size() == 2
    assert [r.id for r in account.linked_to(Kind.LEASE, "lease-1")] == ["sub_1", "sub_2"]
