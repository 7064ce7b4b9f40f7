"""support.py's pure planning: the money rules on the support data's situations, no Stripe, no MySQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from cohabs.support import disputes, transfers
from cohabs.support.objects import Charge, Dispute, Intent, Transfer, intent_from
from cohabs.support.plan import Action, Item, Plan, Problem
from cohabs.support.report import NEXT_STEPS, next_steps
from cohabs.support.rows import House, Lease, Payment, PaymentRows, Ref, ref_of, stripe_id
from cohabs.support.run import SupportRun
from devkit.support_dump import charge_id, generate, row_id

NOW = datetime(2026, 11, 26, 12, 0, 0)
FLAGEY, PARVIS, LOUIS = "acct_1TestFlagey10xyz", "acct_1TestP9OT3xOBxQ", "acct_1TestP90T3x0BxQ"


def rows_of(**changes: dict[str, Any]) -> PaymentRows:
    """The synthetic support data as rows, with some payments changed (by name)."""
    dump = generate()
    for name, values in changes.items():
        dump.payment(name).update(values)
    return PaymentRows(
        [House(h["id"], h["name"], bool(h["active"]), bool(h["deleted"]), h["stripeAccountId"]) for h in dump.houses],
        [Lease(x["id"], x["startDate"], x["endDate"], x["rentAmount"], x["houseId"], x["status"]) for x in dump.leases],
        [
            Payment(
                p["id"],
                p["amount"],
                p["paid"],
                bool(p["pending"]),
                bool(p["disputed"]),
                p["dueDate"],
                stripe_id(p["stripeChargeId"]),
                stripe_id(p["stripeInvoiceId"]),
                p["leaseId"],
                p["comment"],
            )
            for p in dump.payments
        ],
    )


def charge(name: str, amount: int, **fields: Any) -> Charge:
    ident = charge_id("ch" if name == "disputed" else "py", name)
    values: dict[str, Any] = {
        "id": ident,
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "currency": "eur",
        "status": "succeeded",
        "captured": True,
        "refunded": False,
        "disputed": False,
        "customer": "cus_tenant",
        "description": "Rent December 2022 - Parvis 69",
        "payment_intent": "pi_3Test" + name,
        "transfer_group": None,
        "created": 1_671_148_545,
    }
    return Charge(**(values | fields))


DISPUTE = Dispute(
    "dp_1", 150000, "eur", "needs_response", charge_id("ch", "disputed"), "pi_3Testdisputed", 1_700_000_000
)


DEFAULT_RULES = disputes.Rules()


def plan_disputes(rows: PaymentRows, *facts: disputes.Facts, rules: disputes.Rules = DEFAULT_RULES) -> list[Item]:
    return disputes.plan_disputes(rows, facts, now=NOW, rules=rules, id_width=32).items


def test_empty_ids_and_what_a_stored_id_points_at() -> None:
    assert [stripe_id(v) for v in ("", " NULL ", "null", None)] == [None] * 4
    assert stripe_id(" py_3Abc ") == "py_3Abc"
    assert [ref_of(v) for v in ("ch_1", "py_1", "pi_1", "src_1")] == [
        Ref.CHARGE,
        Ref.CHARGE,
        Ref.PAYMENT_INTENT,
        Ref.UNKNOWN,
    ]


def test_a_dispute_that_took_money_is_re_collected_by_bank_transfer_with_its_new_row() -> None:
    (item,) = plan_disputes(rows_of(), disputes.Facts(DISPUTE, charge("disputed", 150000)))

    assert item.action is Action.COLLECT and item.problem is None
    assert (item.payment_id, item.house, item.account) == (row_id("disputed"), "Parvis 69", PARVIS)
    assert item.money == "1,500.00 EUR"
    collection = item.collection
    assert collection is not None and collection.params is not None
    assert collection.params == {
        "amount": 150000,
        "currency": "eur",
        "customer": "cus_tenant",
        "allowed_payment_method_types": ["customer_balance"],
        "payment_method_data": {"type": "customer_balance"},
        "payment_method_options": {
            "customer_balance": {
                "funding_type": "bank_transfer",
                "bank_transfer": {"type": "eu_bank_transfer", "eu_bank_transfer": {"country": "FR"}},
            }
        },
        "confirm": True,
        "description": "RENT DECEMBER 2022 - PARVIS 69",
        "metadata": {
            "cohabs_dispute_id": "dp_1",
            "cohabs_payment_id": collection.row.id,
            "cohabs_disputed_payment_id": row_id("disputed"),
            "cohabs_lease_id": row_id("lease-parvis"),
        },
    }
    row = collection.row
    assert row.id == disputes.new_payment_id("dp_1", 32) and len(row.id) == 32
    assert (row.source_id, row.amount, row.comment) == (
        row_id("disputed"),
        Decimal("1500.00"),
        "Created from the dispute ID: dp_1",
    )
    assert "due 2026-12-03" in item.reason  # seven days after the request


def test_an_invoice_names_the_request_and_other_currencies_use_their_own_transfer() -> None:
    facts = disputes.Facts(replace(DISPUTE, currency="usd"), charge("disputed", 150000), invoice="ABCD-0007")
    (item,) = plan_disputes(rows_of(), facts, rules=disputes.Rules(bank_country="NL"))
    assert item.collection is not None and item.collection.params is not None
    assert item.collection.params["description"] == "INVOICE - ABCD-0007"
    assert item.collection.params["payment_method_options"] == {
        "customer_balance": {"funding_type": "bank_transfer", "bank_transfer": {"type": "us_bank_transfer"}}
    }
    (chf,) = plan_disputes(rows_of(), replace(facts, dispute=replace(DISPUTE, currency="chf")))
    assert (chf.action, chf.problem) == (Action.REPORT, Problem.CURRENCY)


def test_a_row_holding_the_payment_intent_matches_too() -> None:
    rows = rows_of(disputed={"stripeChargeId": "pi_3Testdisputed"})
    (item,) = plan_disputes(rows, disputes.Facts(DISPUTE, charge("disputed", 150000)))
    assert item.action is Action.COLLECT and item.payment_id == row_id("disputed")


def test_a_dispute_already_handled_is_never_handled_again() -> None:
    new_id = disputes.new_payment_id("dp_1", 32)
    request = Intent("pi_new", 150000, "eur", "requires_action", "cus_tenant", None, "dp_1", 1_700_000_100)
    rows = rows_of()
    recorded = replace(
        rows,
        payments=[
            *rows.payments,
            Payment(
                new_id,
                Decimal(1500),
                Decimal(0),
                True,
                False,
                NOW,
                "pi_new",
                None,
                row_id("lease-parvis"),
                "Created from the dispute ID: dp_1",
            ),
        ],
    )
    facts = disputes.Facts(DISPUTE, charge("disputed", 150000))

    (done,) = plan_disputes(recorded, replace(facts, found=(request,)))
    assert (done.action, done.problem, done.stripe_id) == (Action.DONE, None, "pi_new")
    # The request exists but the run died before its row: the row is written, nothing is asked twice.
    (record,) = plan_disputes(rows, replace(facts, found=(request,)))
    assert record.action is Action.RECORD and record.collection is not None
    assert record.collection.existing == request and record.collection.params is None
    # The row exists but its request cannot be found: still handled, and said.
    (lost,) = plan_disputes(recorded, facts)
    assert (lost.action, lost.problem) == (Action.DONE, Problem.REQUEST_MISSING)


def test_a_dispute_re_collected_by_hand_is_never_re_collected_again() -> None:
    rows = rows_of()
    facts = disputes.Facts(DISPUTE, charge("disputed", 150000))
    by_hand = replace(
        rows.payments[0], id="handmade", charge_id="pi_hand", comment="Created from the dispute ID: dp_1 (by Ana)"
    )
    (done,) = plan_disputes(replace(rows, payments=[*rows.payments, by_hand]), facts)
    assert (done.action, done.problem, done.collection) == (Action.DONE, None, None)
    assert "handmade" in done.reason

    # A bank transfer request of the disputed amount that names no dispute: a person checks first.
    hand = Intent("pi_hand", 150000, "eur", "requires_action", "cus_tenant", None, None, 1_700_000_100)
    (held,) = plan_disputes(rows, replace(facts, unnamed=(replace(hand, bank_transfer=True),)))
    assert (held.action, held.problem, held.collection) == (Action.REPORT, Problem.MAYBE_HANDLED, None)
    # Another amount is no re-collection of this dispute, nor is rent a row holds (by its request or charge).
    (other,) = plan_disputes(rows, replace(facts, unnamed=(replace(hand, amount=5000, bank_transfer=True),)))
    assert other.action is Action.COLLECT
    rent = replace(hand, latest_charge=rows.payments[0].charge_id, bank_transfer=True)
    assert rows.payments[0].charge_id
    (paid_rent,) = plan_disputes(rows, replace(facts, unnamed=(rent,)))
    assert paid_rent.action is Action.COLLECT


def test_a_request_is_a_bank_transfer_when_only_the_customer_balance_can_pay_it() -> None:
    base = {"id": "pi_1", "amount": 1, "currency": "eur", "status": "requires_action", "created": 1}
    assert intent_from({**base, "allowed_payment_method_types": ["customer_balance"]}).bank_transfer
    assert intent_from({**base, "payment_method_types": ["customer_balance"]}).bank_transfer
    assert not intent_from({**base, "payment_method_types": ["card", "customer_balance"]}).bank_transfer
    assert not intent_from(base).bank_transfer


@pytest.mark.parametrize(
    ("status", "action", "problem"),
    [
        ("lost", Action.COLLECT, None),
        ("under_review", Action.COLLECT, None),
        ("won", Action.REPORT, Problem.NOTHING_WITHDRAWN),
        ("warning_needs_response", Action.REPORT, Problem.NOTHING_WITHDRAWN),
    ],
)
def test_only_a_dispute_that_withdrew_the_money_is_re_collected(
    status: str, action: Action, problem: Problem | None
) -> None:
    (item,) = plan_disputes(rows_of(), disputes.Facts(replace(DISPUTE, status=status), charge("disputed", 150000)))
    assert (item.action, item.problem) == (action, problem)


def test_the_payment_intent_stands_in_for_a_charge_without_customer_or_description() -> None:
    bare = charge("disputed", 150000, customer=None, description=None)
    intent = Intent("pi_3Testdisputed", 150000, "eur", "succeeded", "cus_other", None, None, 1, "Rent Nov - Parvis")
    (item,) = plan_disputes(rows_of(), disputes.Facts(DISPUTE, bare, intent=intent))
    assert item.collection is not None and item.collection.params is not None
    assert item.collection.params["customer"] == "cus_other"
    assert item.collection.params["description"] == "RENT NOV - PARVIS"
    (nobody,) = plan_disputes(rows_of(), disputes.Facts(DISPUTE, bare))
    assert nobody.problem is Problem.NO_CUSTOMER


def test_disputes_and_disputed_rows_that_do_not_match_are_reported() -> None:
    stranger = replace(DISPUTE, id="dp_2", charge="ch_nobody", payment_intent="pi_nobody")
    items = plan_disputes(rows_of(), disputes.Facts(stranger, charge("nobody", 5000, id="ch_nobody")))
    assert [(i.subject, i.problem) for i in items] == [
        ("dispute dp_2", Problem.NO_ROW),
        (f"payment {row_id('disputed')}", Problem.NO_DISPUTE),
    ]


# ----- transfers -----------------------------------------------------------------------------------------------


def account_for(rows: PaymentRows, **charges: Charge | None) -> transfers.PayoutFacts:
    """Flagey and Parvis connected, Louis's look-alike not; paid-1 already transferred; charges as given."""
    found: dict[str, Charge | None] = {charge_id("py", f"paid-{n}"): charge(f"paid-{n}", 88000) for n in range(1, 5)}
    found |= {c.id if c else k: c for k, c in charges.items()}
    done = [Transfer("tr_old", 88000, "eur", FLAGEY, charge_id("py", "paid-1"), 1_671_200_000)]
    return transfers.PayoutFacts({FLAGEY: True, PARVIS: True, LOUIS: False}, done, found)


def by_subject(plan: Plan) -> dict[str, Item]:
    return {item.subject: item for item in plan.items}


def test_paid_rent_goes_once_to_its_house_and_every_anomaly_is_reported() -> None:
    rows = rows_of()
    plan = transfers.plan_transfers(rows, account_for(rows), transfers.Rules())
    items = by_subject(plan)

    def problem(name: str) -> Problem | None:
        return items[f"payment {row_id(name)}"].problem

    moved = [i for i in plan.items if i.action is Action.TRANSFER]
    assert sorted(i.payment_id or "" for i in moved) == sorted(row_id(f"paid-{n}") for n in (2, 3, 4))
    for n in (2, 3, 4):
        item = items[f"payment {row_id(f'paid-{n}')}"]
        assert item.payout is not None
        assert item.payout.params == {
            "amount": 88000,
            "currency": "eur",
            "destination": FLAGEY,
            "source_transaction": charge_id("py", f"paid-{n}"),
            "transfer_group": f"cohabs-payment-{item.payment_id}",
            "description": "Rent Flagey 10, due 2022-12-15",
            "metadata": {
                "cohabs_payment_id": item.payment_id,
                "cohabs_lease_id": row_id("lease-current"),
                "cohabs_house_id": row_id("flagey"),
            },
        }
    assert items[f"payment {row_id('paid-1')}"].action is Action.DONE
    assert problem("paid-1") is None
    assert [problem(n) for n in ("unpaid-1", "unpaid-2")] == [Problem.PAID_ZERO] * 2
    assert problem("pending") is Problem.PENDING
    pending_without_charge = items[f"payment {row_id('pending-no-charge')}"].reason
    assert "pending=1" in pending_without_charge and "no charge id" in pending_without_charge
    assert problem("disputed") is Problem.DISPUTED
    assert [problem(f"late-{m}") for m in (10, 11, 12)] == [Problem.DUE_AFTER_LEASE] * 3
    louis = items[f"house {row_id('louis')}"]
    assert louis.problem is Problem.HOUSE_WITHOUT_PAYMENT
    assert louis.more == (Problem.ACCOUNT_MISSING,)  # and the report advises on both
    assert NEXT_STEPS[Problem.ACCOUNT_MISSING] in next_steps(SupportRun(plan, dry_run=True), "cohabs-support")
    assert f"{LOUIS} of house Louis 880 does not exist" in louis.reason
    assert f"differs from {PARVIS}, house Parvis 69, only by O against 0" in louis.reason
    assert plan.totals(Action.TRANSFER) == {"eur": 3 * 88000}
    assert plan.totals(Action.COLLECT) == {}
    assert all(i.action is not Action.TRANSFER for i in plan.items if i.problem)


def test_a_platform_fee_is_kept_rounded_down_to_the_cent() -> None:
    rows = rows_of()
    plan = transfers.plan_transfers(rows, account_for(rows), transfers.Rules(fee_percent=Decimal("2.5")))
    assert {i.amount for i in plan.items if i.action is Action.TRANSFER} == {85800}
    assert transfers.fee_of(88001, transfers.Rules(fee_percent=Decimal("2.5"))) == 2200  # 2200.025 → 2200


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"status": "pending", "captured": False}, Problem.CHARGE_NOT_SUCCEEDED),
        ({"refunded": True, "amount_refunded": 88000}, Problem.CHARGE_REFUNDED),
        ({"amount_refunded": 100}, Problem.CHARGE_REFUNDED),
        ({"disputed": True}, Problem.CHARGE_DISPUTED),
        ({"amount_captured": 80000}, Problem.AMOUNT_MISMATCH),
    ],
)
def test_a_charge_that_did_not_keep_the_money_is_never_paid_out(fields: dict[str, Any], problem: Problem) -> None:
    rows = rows_of()
    spoiled = charge("paid-2", 88000, **fields)
    plan = transfers.plan_transfers(rows, account_for(rows, x=spoiled), transfers.Rules())
    item = by_subject(plan)[f"payment {row_id('paid-2')}"]
    assert (item.action, item.problem) == (Action.REPORT, problem)


def test_missing_charges_shared_charges_other_houses_and_closed_houses_are_reported() -> None:
    rows = rows_of(**{"paid-3": {"stripeChargeId": charge_id("py", "paid-2")}})
    account = account_for(rows)
    account = replace(
        account,
        charges={**account.charges, charge_id("py", "paid-4"): None},
        transfers=[*account.transfers, Transfer("tr_x", 88000, "eur", PARVIS, charge_id("py", "paid-2"), 1)],
    )
    items = by_subject(transfers.plan_transfers(rows, account, transfers.Rules()))
    assert items[f"payment {row_id('paid-2')}"].problem is Problem.SHARED_CHARGE
    assert items[f"payment {row_id('paid-4')}"].problem is Problem.CHARGE_MISSING

    rows = rows_of()
    elsewhere = replace(
        account_for(rows), transfers=[Transfer("tr_x", 88000, "eur", PARVIS, charge_id("py", "paid-2"), 1)]
    )
    items = by_subject(transfers.plan_transfers(rows, elsewhere, transfers.Rules()))
    assert items[f"payment {row_id('paid-2')}"].problem is Problem.TRANSFERRED_ELSEWHERE

    closed = replace(rows, houses=[replace(h, active=h.name != "Flagey 10") for h in rows.houses])
    items = by_subject(transfers.plan_transfers(closed, account_for(closed), transfers.Rules()))
    assert items[f"payment {row_id('paid-2')}"].problem is Problem.HOUSE_CLOSED


def test_an_earlier_transfer_is_found_by_its_charge_its_row_or_its_group_and_never_paid_again() -> None:
    rows = rows_of()
    paid_2, source = row_id("paid-2"), charge_id("py", "paid-2")

    def item_with(*earlier: Transfer, **charges: Charge | None) -> Item:
        account = account_for(rows, **charges)
        account = replace(account, transfers=[*account.transfers, *earlier])
        return by_subject(transfers.plan_transfers(rows, account, transfers.Rules()))[f"payment {paid_2}"]

    # Our metadata names the row even where the transfer does not echo its charge.
    by_row = item_with(Transfer("tr_row", 88000, "eur", FLAGEY, None, 1, payment=paid_2))
    assert (by_row.action, by_row.stripe_id) == (Action.DONE, "tr_row")
    # Reversed: the house did not keep it, and paying again is a person's decision.
    back = item_with(Transfer("tr_back", 88000, "eur", FLAGEY, source, 1, amount_reversed=88000))
    assert (back.action, back.problem, back.payout) == (Action.REPORT, Problem.TRANSFER_REVERSED, None)
    assert "reversed" in back.stripe_state
    partly_back = item_with(Transfer("tr_part", 88000, "eur", FLAGEY, source, 1, amount_reversed=100))
    assert partly_back.action is Action.DONE
    # A transfer in the charge's group that names no charge may be this rent: reported, not paid.
    grouped = charge("paid-2", 88000, transfer_group="rent-flagey-2022-12")
    unclear = item_with(Transfer("tr_group", 88000, "eur", FLAGEY, None, 1, "rent-flagey-2022-12"), x=grouped)
    assert (unclear.action, unclear.problem) == (Action.REPORT, Problem.TRANSFER_UNCLEAR)
    assert item_with(x=grouped).action is Action.TRANSFER


def test_every_problem_comes_with_advice_for_the_report() -> None:
    assert set(NEXT_STEPS) == set(Problem)
