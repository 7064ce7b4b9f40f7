"""Linking the customers Stripe's copy of payment data brought, and their lone cards: pure planning, the map.

A copied customer keeps its id and email but carries none of our metadata. A
user is linked to one only when exactly one unlinked customer has its email
(in any case) and no other user has that email; otherwise a person decides,
and nothing is created for that user. A customer no user matches is never
touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pytest

from cohabs.shared.errors import CannotRun
from cohabs.sync.account import Account, PaymentMethod, Remote
from cohabs.sync.copied_customers import MapRow, Names, parse_customer_map
from cohabs.sync.payment_methods import Holds, judge
from cohabs.sync.plan import Action, Plan, Step, make_plan
from cohabs.sync.problems import Problem
from cohabs.sync.rows import Kind, Rows, User
from tests.helpers import HUBS, NOW, lease, room, user


def copied(stripe_id: str, email: str | None, link: str | None = None) -> Remote:
    return Remote(Kind.USER, stripe_id, link, 1, details=(("email", email), ("name", None), ("phone", None)))


def plan_of(users: list[User], remotes: Iterable[Remote], mapping: Iterable[MapRow] = ()) -> Plan:
    leases = [lease(f"l-{u.id}", u.id) for u in users]
    return make_plan(
        Rows(users, [room()], leases),
        Account.of(remotes),
        hubs=HUBS,
        default_currency="eur",
        now=NOW,
        customer_map=tuple(mapping),
    )


def users_of(plan: Plan) -> dict[str, Step]:
    return {s.row_id: s for s in plan.steps[Kind.USER]}


def test_one_unlinked_customer_with_the_email_in_any_case_is_linked_with_our_metadata() -> None:
    steps = users_of(plan_of([user("ada", "Ada@Cohabs.com")], [copied("cus_Ada", "ada@COHABS.com")]))
    ada = steps["ada"]
    assert (ada.action, ada.stripe_id) == (Action.ADOPT, "cus_Ada")
    assert ada.repair == {"metadata": {"cohabs_user_id": "ada"}}  # the email differs only in case: not rewritten
    assert "copied customer cus_Ada has this user's email and no other user's" in ada.reason


def test_ambiguity_goes_to_a_person_and_nothing_is_created_for_that_user() -> None:
    users = [user("ada", "ada@cohabs.com"), user("bob", "shared@cohabs.com"), user("cy", "shared@cohabs.com")]
    remotes = [
        copied("cus_A1", "ada@cohabs.com"),
        copied("cus_A2", "ADA@cohabs.com"),
        copied("cus_S", "shared@cohabs.com"),
    ]
    plan = plan_of(users, remotes)
    steps = users_of(plan)
    for user_id in ("ada", "bob", "cy"):
        assert (steps[user_id].action, steps[user_id].problem) == (Action.SKIP, Problem.COPIED), user_id
    assert "cus_A1, cus_A2" in steps["ada"].reason
    assert "users cy have too" in steps["bob"].reason
    leases = {s.row_id: s for s in plan.steps[Kind.LEASE]}
    assert all(s.action is Action.SKIP and s.problem is Problem.DEPENDENCY for s in leases.values())
    # The shared email is a person's question now, not "each gets its own customer".
    assert not any("share the email" in note for note in plan.notes)


def test_a_customer_linked_stored_or_matching_no_user_is_never_taken() -> None:
    users = [user("ada", "ada@cohabs.com"), user("bob", "bob@cohabs.com", stripe_id="cus_Bob")]
    remotes = [
        copied("cus_Linked", "ada@cohabs.com", link="someone-else"),  # carries a link: not a copy to take
        copied("cus_Bob", "ada@cohabs.com"),  # stored by bob's row: bob's, whatever its email
        copied("cus_Nobody", "nobody@cohabs.com"),
    ]
    plan = plan_of(users, remotes)
    steps = users_of(plan)
    assert steps["ada"].action is Action.CREATE
    assert (steps["bob"].action, steps["bob"].stripe_id) == (Action.KEEP, "cus_Bob")  # the copy kept its id
    touched = {s.stripe_id for s in plan.steps[Kind.USER] if s.repair or s.action is Action.ADOPT}
    assert "cus_Nobody" not in touched and "cus_Linked" not in touched


def test_two_rows_storing_one_unlinked_customer_are_never_both_linked_to_it() -> None:
    users = [user("ada", stripe_id="cus_Same"), user("bob", stripe_id="cus_Same")]
    for link in (None, "a-deleted-user"):
        steps = users_of(plan_of(users, [copied("cus_Same", "ada@example.com", link=link)]))
        assert {(steps[u].action, steps[u].problem) for u in ("ada", "bob")} == {(Action.SKIP, Problem.COPIED)}


def test_a_linked_user_keeps_its_customer_and_a_rerun_after_linking_keeps_it_too() -> None:
    first = users_of(plan_of([user("ada")], [copied("cus_Ada", "ada@example.com")]))["ada"]
    assert first.action is Action.ADOPT
    # After the run: the metadata is on the customer and the id in the row.
    again = users_of(plan_of([user("ada", stripe_id="cus_Ada")], [copied("cus_Ada", "ada@example.com", link="ada")]))
    assert again["ada"].settled
    # An earlier version's customer stays the user's even beside a copy with the same email: nothing new.
    upgrade = [Remote(Kind.USER, "cus_Old", "ada", 1), copied("cus_Copy", "ada@example.com")]
    kept = users_of(plan_of([user("ada", stripe_id="cus_Old")], upgrade))["ada"]
    assert kept.settled and kept.stripe_id == "cus_Old"


def test_the_map_decides_where_email_cannot() -> None:
    users = [user("bob", "shared@cohabs.com"), user("cy", "shared@cohabs.com", stripe_id="cus_OldCy")]
    remotes = [copied("cus_S1", "shared@cohabs.com"), copied("cus_S2", "shared@cohabs.com")]
    mapping = [
        MapRow(2, ((Names.USER, "bob"),), "cus_S1"),
        MapRow(3, ((Names.OLD_CUSTOMER, "cus_OldCy"),), "cus_S2"),
    ]
    steps = users_of(plan_of(users, remotes, mapping))
    assert (steps["bob"].action, steps["bob"].stripe_id) == (Action.ADOPT, "cus_S1")
    assert (steps["cy"].action, steps["cy"].stripe_id, steps["cy"].stale_id) == (Action.ADOPT, "cus_S2", "cus_OldCy")
    assert "customer map line 2" in steps["bob"].reason


def test_bad_and_contradicting_map_rows_are_named_and_nothing_is_guessed() -> None:
    users = [user("ada", "ada@cohabs.com"), user("bob", "bob@cohabs.com")]
    remotes = [copied("cus_A", "ada@cohabs.com"), copied("cus_X", "x@cohabs.com"), copied("cus_Y", "y@cohabs.com")]
    mapping = [
        MapRow(2, ((Names.EMAIL, "nobody@cohabs.com"),), "cus_X"),
        MapRow(3, ((Names.USER, "bob"),), "cus_Missing"),
        MapRow(4, ((Names.USER, "ada"),), "cus_X"),
        MapRow(5, ((Names.EMAIL, "ADA@cohabs.com"),), "cus_Y"),  # ada again, another customer
    ]
    plan = plan_of(users, remotes, mapping)
    steps = users_of(plan)
    notes = "\n".join(plan.notes)
    assert "line 2" in notes and "no user has email nobody@cohabs.com" in notes
    assert "line 3" in notes and "cus_Missing is not in this Stripe account" in notes
    # Ada's rows contradict each other: neither they nor her email decide, a person does.
    assert (steps["ada"].action, steps["ada"].problem) == (Action.SKIP, Problem.COPIED)
    assert "lines 4, 5" in steps["ada"].reason
    # Bob's row names a customer the account does not hold: the map meant to decide, so nothing else does.
    assert (steps["bob"].action, steps["bob"].problem) == (Action.SKIP, Problem.COPIED)


def test_the_map_file_is_read_by_its_header() -> None:
    text = "old_customer_id,stripe_customer_id\ncus_Old1,cus_New1\n,cus_New2\n"
    rows = parse_customer_map(text, "map.csv")
    assert rows == (
        MapRow(2, ((Names.OLD_CUSTOMER, "cus_Old1"),), "cus_New1"),
        MapRow(3, (), "cus_New2"),
    )
    assert parse_customer_map("Email , Customer_ID\nada@x.com,cus_1\n", "m")[0].names == ((Names.EMAIL, "ada@x.com"),)
    with pytest.raises(CannotRun, match="needs a header"):
        parse_customer_map("cus_Old1,cus_New1\n", "map.csv")


FIRST_CHARGE = datetime(2027, 3, 15)


def card(ident: str, month: int, year: int) -> PaymentMethod:
    return PaymentMethod(ident, "card", month, year)


@pytest.mark.parametrize(
    ("methods", "holds", "default"),
    [
        ([card("pm_1", 3, 2027)], Holds.ONE_CARD, "pm_1"),  # valid to the end of its expiry month
        ([card("pm_1", 2, 2027)], Holds.EXPIRED, None),  # expires before the first charge
        ([card("pm_1", 12, 2026), card("pm_2", 1, 2020)], Holds.EXPIRED, None),
        ([card("pm_old", 1, 2020), card("pm_1", 12, 2030)], Holds.ONE_CARD, "pm_1"),  # one usable among expired
        ([card("pm_1", 12, 2030), card("pm_2", 6, 2029)], Holds.SEVERAL, None),  # never one of several
        ([card("pm_1", 12, 2030), PaymentMethod("pm_sepa", "sepa_debit")], Holds.SEVERAL, None),
        ([PaymentMethod("pm_sepa", "sepa_debit")], Holds.NOT_A_CARD, None),
        ([], Holds.NOTHING, None),
    ],
    ids=["one", "expired", "expired-only", "one-usable", "several", "card-and-debit", "debit", "none"],
)
def test_only_a_lone_usable_card_becomes_the_default(
    methods: list[PaymentMethod], holds: Holds, default: str | None
) -> None:
    wallet = judge("cus_1", methods, FIRST_CHARGE)
    assert (wallet.holds, wallet.default) == (holds, default)


def test_a_card_expiring_in_december_is_valid_through_the_year_end() -> None:
    assert card("pm_1", 12, 2026).usable_on(datetime(2026, 12, 31, 23))
    assert not card("pm_1", 12, 2026).usable_on(datetime(2027, 1, 1))
