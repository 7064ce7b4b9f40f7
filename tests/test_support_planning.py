"""support.py's pure planning: the money rules on the support data's situations, no Stripe, no MySQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from cohabs.support import disputes, transfers
from cohabs.support.items import Action, Item, Plan, Problem, Settlement
from cohabs.support.objects import (
    CashBalance,
    Charge,
    Dispute,
    Intent,
    Settled,
    StripeAccount,
    Transfer,
    Withdrawal,
    cash_balance_from,
    charge_from,
    dispute_from,
    intent_from,
    withdrawal_from,
)
from cohabs.support.report import NEXT_STEPS, next_steps, pay_lines
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
    values |= fields
    # What reached the balance: the same money, unless a test says it settled otherwise.
    values.setdefault("settled", Settled("txn_" + name, values["amount_captured"], values["currency"], None))
    return Charge(**values)


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

    # Its request waits for the tenant: listed as such, nothing to do, nobody needed.
    (waiting,) = plan_disputes(recorded, replace(facts, found=(request,)))
    assert (waiting.action, waiting.problem, waiting.stripe_id) == (Action.WAIT, None, "pi_new")
    (done,) = plan_disputes(recorded, replace(facts, found=(replace(request, status="succeeded"),)))
    assert (done.action, done.problem, done.stripe_id) == (Action.DONE, None, "pi_new")
    # Canceled while the dispute keeps the money: the money is not re-collected, and a person hears of it.
    (canceled,) = plan_disputes(recorded, replace(facts, found=(replace(request, status="canceled"),)))
    assert (canceled.action, canceled.problem) == (Action.REPORT, Problem.REQUEST_CANCELED)
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
        ("won", Action.DONE, None),  # over, and the money came back: nothing owed, nobody needed
        ("warning_closed", Action.DONE, None),
        ("warning_needs_response", Action.REPORT, Problem.NOTHING_WITHDRAWN),  # may still become a chargeback
    ],
)
def test_only_a_dispute_that_withdrew_the_money_is_re_collected(
    status: str, action: Action, problem: Problem | None
) -> None:
    (item,) = plan_disputes(rows_of(), disputes.Facts(replace(DISPUTE, status=status), charge("disputed", 150000)))
    assert (item.action, item.problem) == (action, problem)


@pytest.mark.parametrize("status", ["prevented", "escalated_to_somewhere_new"])
@pytest.mark.parametrize(
    ("withdrawal", "action", "problem"),
    [
        (Withdrawal(150000, "eur"), Action.COLLECT, None),  # money left: re-collected as any lost payment
        (Withdrawal(0, None), Action.DONE, None),  # no balance transaction: nothing left the balance
        (Withdrawal(0, "eur"), Action.DONE, None),  # taken and given back
        (None, Action.REPORT, Problem.MONEY_UNKNOWN),  # Stripe did not say: a person checks, nothing is guessed
    ],
)
def test_a_status_that_does_not_say_where_the_money_is_is_decided_by_the_balance_transactions(
    status: str, withdrawal: Withdrawal | None, action: Action, problem: Problem | None
) -> None:
    dispute = replace(DISPUTE, status=status, withdrawal=withdrawal)
    (item,) = plan_disputes(rows_of(), disputes.Facts(dispute, charge("disputed", 150000)))
    assert (item.action, item.problem) == (action, problem)
    assert status in item.reason or action is Action.DONE
    if action is Action.COLLECT:
        assert "1,500.00 EUR withdrawn" in item.reason and "re-collected as a lost payment" in item.reason


def test_the_money_a_dispute_took_is_read_from_its_balance_transactions() -> None:
    taken = {"amount": -138000, "currency": "EUR", "fee": 2000}
    back = {"amount": 138000, "currency": "eur", "fee": 0}
    assert withdrawal_from([taken]) == Withdrawal(138000, "eur")
    assert withdrawal_from([taken, back]) == Withdrawal(0, "eur")
    assert withdrawal_from([]) == Withdrawal(0, None)
    assert withdrawal_from(None) is None
    shown = dispute_from(
        {"id": "dp_9", "amount": 150000, "currency": "usd", "status": "prevented", "balance_transactions": [taken]}
    )
    assert shown.money_withdrawn and not shown.settled_without_loss and shown.withdrawal == Withdrawal(138000, "eur")


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
    accounts = {
        FLAGEY: StripeAccount(FLAGEY, "eur", "active"),
        PARVIS: StripeAccount(PARVIS, "eur", "active"),
        LOUIS: None,
    }
    return transfers.PayoutFacts(accounts, done, found)


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
            "description": "Rent Flagey 10, due 2022-12-15",
            "metadata": {
                "cohabs_payment_id": item.payment_id,
                "cohabs_lease_id": row_id("lease-current"),
                "cohabs_house_id": row_id("flagey"),
            },
        }
        # Stripe puts a transfer made with source_transaction in its charge's group: the plan says which.
        assert f"in transfer group group_pi_3Testpaid-{n}" in item.reason
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
        ({"amount_refunded": 100}, Problem.CHARGE_PARTLY_REFUNDED),
        ({"currency": "usd"}, Problem.CURRENCY_MISMATCH),
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
    assert (partly_back.action, partly_back.problem, partly_back.payout) == (
        Action.REPORT,
        Problem.TRANSFER_PARTLY_REVERSED,
        None,
    )
    # Paid out again after a full reversal: the house holds the rent once, done.
    again = item_with(
        Transfer("tr_back", 88000, "eur", FLAGEY, source, 1, amount_reversed=88000),
        Transfer("tr_again", 88000, "eur", FLAGEY, source, 2),
    )
    assert (again.action, again.problem) == (Action.DONE, None)
    # A transfer in the charge's group that names no charge may be this rent: reported, not paid.
    grouped = charge("paid-2", 88000, transfer_group="rent-flagey-2022-12")
    unclear = item_with(Transfer("tr_group", 88000, "eur", FLAGEY, None, 1, "rent-flagey-2022-12"), x=grouped)
    assert (unclear.action, unclear.problem) == (Action.REPORT, Problem.TRANSFER_UNCLEAR)
    assert item_with(x=grouped).action is Action.TRANSFER


def test_every_problem_comes_with_advice_for_the_report() -> None:
    assert set(NEXT_STEPS) == set(Problem)


# ----- money that came back, other currencies, re-collections waiting --------------------------------------------

WAITING = Intent(
    "pi_new", 150000, "eur", "requires_action", "cus_tenant", None, "dp_1", 1_700_000_100, payment="new-row"
)


def recorded(rows: PaymentRows, request: Intent = WAITING, **fields: Any) -> PaymentRows:
    """The rows with the re-collection row the disputes command writes for dp_1, recording `request`."""
    new_id = disputes.new_payment_id("dp_1", 32)
    disputed = next(p for p in rows.payments if p.disputed)
    values: dict[str, Any] = {
        "amount": Decimal(1500),
        "paid": Decimal(0),
        "pending": True,
        "disputed": False,
        "due": NOW,
    }
    row = replace(disputed, id=new_id, charge_id=request.id, comment="Created from the dispute ID: dp_1")
    return replace(rows, payments=[*rows.payments, replace(row, **(values | fields))])


@pytest.mark.parametrize(
    ("status", "asked", "refunded", "expected"),
    [
        ("won", WAITING, 0, (Action.REPORT, Problem.RETURNED_UNPAID)),  # unpaid: cancel it
        (
            "won",
            replace(WAITING, status="succeeded", amount_received=150000),
            0,
            (Action.REPORT, Problem.RETURNED_PAID),
        ),
        ("won", replace(WAITING, status="succeeded", amount_received=150000), 150000, (Action.DONE, None)),  # refunded
        ("won", replace(WAITING, status="canceled"), 0, (Action.DONE, None)),
        ("lost", WAITING, 0, (Action.WAIT, None)),  # closed as lost: the money stays withdrawn, the request stands
        ("warning_closed", WAITING, 0, (Action.REPORT, Problem.RETURNED_UNPAID)),
    ],
)
def test_a_dispute_that_gave_the_money_back_after_its_request_is_reported_until_resolved(
    status: str, asked: Intent, refunded: int, expected: tuple[Action, Problem | None]
) -> None:
    facts = disputes.Facts(
        replace(DISPUTE, status=status),
        charge("disputed", 150000),
        found=(asked,),
        request_charges={asked.id: charge("request", 150000, id="py_req", amount_refunded=refunded)},
    )
    (item,) = plan_disputes(recorded(rows_of(), asked), facts)
    assert (item.action, item.problem) == expected
    assert item.collection is None and item.cancels == ()  # never asked again, never canceled without the option


def test_only_an_unpaid_request_is_canceled_by_the_tool_and_the_cancel_comes_first() -> None:
    won = replace(DISPUTE, status="won")
    stranger = replace(DISPUTE, id="dp_0", charge="ch_nobody", payment_intent=None, created=1)  # planned first
    rules = disputes.Rules(cancel_won=True)
    facts = disputes.Facts(won, charge("disputed", 150000), found=(WAITING,))
    items = plan_disputes(recorded(rows_of()), disputes.Facts(stranger, None), facts, rules=rules)
    assert [(i.action, i.cancels) for i in items] == [(Action.CANCEL, ("pi_new",)), (Action.REPORT, ())]
    assert items[0].problem is None and "cancel unpaid request pi_new (1,500.00 EUR)" in items[0].reason

    # Part of it was paid: canceling would not give it back, so a person decides; never refunded by the tool.
    partly = replace(WAITING, instructions=PAY_INSTRUCTIONS)
    (item,) = plan_disputes(recorded(rows_of(), partly), replace(facts, found=(partly,)), rules=rules)
    assert (item.action, item.problem, item.more) == (Action.REPORT, Problem.RETURNED_PAID, ())
    assert "has paid 1,000.00 EUR of 1,500.00 EUR towards request pi_new" in item.reason
    paid = replace(WAITING, status="succeeded", amount_received=150000)
    (item,) = plan_disputes(recorded(rows_of(), paid), replace(facts, found=(paid,)), rules=rules)
    assert (item.action, item.problem) == (Action.REPORT, Problem.RETURNED_PAID)
    assert "refund them" in item.reason


PAY_INSTRUCTIONS_SHAPE: dict[str, Any] = {
    "type": "display_bank_transfer_instructions",
    "display_bank_transfer_instructions": {
        "amount_remaining": 50000,
        "currency": "eur",
        "reference": "QX7RKT2MZ4PA",
        "hosted_instructions_url": "https://payments.stripe.com/bank_transfers/instructions/test_abc",
        "type": "eu_bank_transfer",
        "financial_addresses": [
            {
                "type": "iban",
                "iban": {
                    "account_holder_address": {"country": "FR"},
                    "account_holder_name": "Cohabs",
                    "bic": "STRIPEFR",
                    "country": "FR",
                    "iban": "FR7612345000000000000000001",
                },
                "supported_networks": ["sepa"],
            }
        ],
    },
}
PAY_INSTRUCTIONS = intent_from(
    {
        "id": "pi_x",
        "amount": 150000,
        "currency": "eur",
        "status": "requires_action",
        "next_action": PAY_INSTRUCTIONS_SHAPE,
    }
).instructions


def test_what_the_tenant_needs_to_pay_is_read_from_the_request() -> None:
    assert PAY_INSTRUCTIONS is not None
    assert (PAY_INSTRUCTIONS.amount_remaining, PAY_INSTRUCTIONS.currency, PAY_INSTRUCTIONS.reference) == (
        50000,
        "eur",
        "QX7RKT2MZ4PA",
    )
    assert PAY_INSTRUCTIONS.url == "https://payments.stripe.com/bank_transfers/instructions/test_abc"
    (iban,) = PAY_INSTRUCTIONS.addresses
    assert iban.text == "IBAN FR7612345000000000000000001 · BIC STRIPEFR · holder Cohabs · country FR"
    waiting = replace(WAITING, instructions=PAY_INSTRUCTIONS)
    assert waiting.received == 100000 and waiting.open
    (item,) = plan_disputes(recorded(rows_of()), disputes.Facts(DISPUTE, charge("disputed", 150000), found=(waiting,)))
    assert item.action is Action.WAIT and item.instructions == PAY_INSTRUCTIONS


def test_a_charge_is_paid_out_only_in_the_currency_its_house_settles_in() -> None:
    rows = rows_of()
    usd = charge("paid-2", 88000, currency="usd")  # 880 USD on a Brussels row of 880.00
    item = by_subject(transfers.plan_transfers(rows, account_for(rows, x=usd), transfers.Rules()))[
        f"payment {row_id('paid-2')}"
    ]
    assert (item.action, item.problem, item.payout) == (Action.REPORT, Problem.CURRENCY_MISMATCH, None)
    assert "is in USD, but account acct_1TestFlagey10xyz settles in EUR" in item.reason

    unknown = account_for(rows)
    unknown = replace(unknown, accounts={**unknown.accounts, FLAGEY: StripeAccount(FLAGEY, None, "active")})
    plan = transfers.plan_transfers(rows, unknown, transfers.Rules())
    assert plan.totals(Action.TRANSFER) == {}
    assert all(i.problem is Problem.CURRENCY_MISMATCH for i in plan.items if i.payment_id in ELIGIBLE_NAMES)


ELIGIBLE_NAMES = {row_id(f"paid-{n}") for n in (2, 3, 4)}


def test_an_account_that_cannot_receive_transfers_gets_none_and_is_named() -> None:
    rows = rows_of()
    account = account_for(rows)
    account = replace(account, accounts={**account.accounts, FLAGEY: StripeAccount(FLAGEY, "eur", "inactive")})
    plan = transfers.plan_transfers(rows, account, transfers.Rules())
    items = by_subject(plan)
    assert plan.totals(Action.TRANSFER) == {}
    assert {items[f"payment {p}"].problem for p in ELIGIBLE_NAMES} == {Problem.CANNOT_RECEIVE}
    assert items[f"payment {row_id('paid-1')}"].action is Action.DONE  # what it received before stands
    assert items[f"house {row_id('flagey')}"].problem is Problem.CANNOT_RECEIVE


def test_money_that_came_back_in_part_is_reported_with_its_amounts_never_paid_again_in_full() -> None:
    rows = rows_of()
    source = charge_id("py", "paid-2")
    account = account_for(rows)
    part = Transfer("tr_part", 88000, "eur", FLAGEY, source, 1, amount_reversed=30000)
    items = by_subject(transfers.plan_transfers(rows, replace(account, transfers=[part]), transfers.Rules()))
    reversed_item = items[f"payment {row_id('paid-2')}"]
    assert reversed_item.settlement == Settlement(88000, 30000, 30000, "reversed")
    assert "holds 580.00 EUR and is owed 300.00 EUR" in reversed_item.reason

    refunded = account_for(rows, x=charge("paid-3", 88000, amount_refunded=10000))
    item = by_subject(transfers.plan_transfers(rows, refunded, transfers.Rules()))[f"payment {row_id('paid-3')}"]
    assert (item.problem, item.settlement) == (
        Problem.CHARGE_PARTLY_REFUNDED,
        Settlement(88000, 10000, 78000, "refunded"),
    )
    # Refunded after the house was paid: the house holds what the tenant got back; a person decides.
    after = account_for(rows, x=charge("paid-1", 88000, amount_refunded=10000))
    item = by_subject(transfers.plan_transfers(rows, after, transfers.Rules()))[f"payment {row_id('paid-1')}"]
    assert (item.action, item.problem) == (Action.REPORT, Problem.REFUNDED_AFTER_TRANSFER)
    assert item.settlement == Settlement(88000, 10000, 0, "refunded")


def test_a_rent_paid_out_twice_is_reported_never_done_and_never_paid_again() -> None:
    rows = rows_of()
    source = charge_id("py", "paid-2")
    twice = [Transfer(f"tr_{n}", 88000, "eur", FLAGEY, source, n) for n in (1, 2)]
    account = replace(account_for(rows), transfers=twice)
    item = by_subject(transfers.plan_transfers(rows, account, transfers.Rules()))[f"payment {row_id('paid-2')}"]
    assert (item.action, item.problem) == (Action.REPORT, Problem.PAID_OUT_TWICE)
    assert "holds 1,760.00 EUR of a 880.00 EUR rent" in item.reason


def test_the_tools_own_re_collection_waits_for_the_tenant_then_follows_the_transfer_rule() -> None:
    rows = rows_of()
    new_id = disputes.new_payment_id("dp_1", 32)
    request = replace(WAITING, payment=new_id, instructions=PAY_INSTRUCTIONS)
    # Due seven days after the request, long after the lease ended: no anomaly while the tenant has not paid.
    late = recorded(rows, request, due=datetime(2026, 12, 3))
    account = replace(account_for(late), intents={request.id: request})

    def item_for(account: transfers.PayoutFacts, rows: PaymentRows = late) -> Item:
        return by_subject(transfers.plan_transfers(rows, account, transfers.Rules()))[f"payment {new_id}"]

    waiting = item_for(account)
    assert (waiting.action, waiting.problem, waiting.attention) == (Action.WAIT, None, False)
    assert waiting.money == "1,500.00 EUR" and waiting.instructions == PAY_INSTRUCTIONS

    paid = replace(request, status="succeeded", amount_received=150000, latest_charge="py_req", instructions=None)
    account = replace(
        account, intents={request.id: paid}, charges={**account.charges, "py_req": charge("r", 150000, id="py_req")}
    )
    unrecorded = item_for(account)
    assert (unrecorded.action, unrecorded.problem) == (Action.REPORT, Problem.RECOLLECTION_PAID)

    marked = recorded(rows, request, due=datetime(2026, 12, 3), paid=Decimal(1500), pending=False)
    transfer = item_for(account, marked)
    assert transfer.action is Action.TRANSFER and transfer.payout is not None
    assert transfer.payout.params["source_transaction"] == "py_req" and transfer.payout.params["destination"] == PARVIS

    canceled = replace(account, intents={request.id: replace(request, status="canceled")})
    assert item_for(canceled).action is Action.DONE


def test_every_payment_and_house_item_carries_its_amount() -> None:
    rows = rows_of()
    plan = transfers.plan_transfers(rows, account_for(rows), transfers.Rules())
    assert all(i.money for i in plan.items), [i.subject for i in plan.items if not i.money]
    louis = by_subject(plan)[f"house {row_id('louis')}"]
    assert louis.db_amount == Decimal("685.00") and "685.00 a month" in louis.reason


# Round 3's money facts: the settlement currency, the platform's region, the transfer group Stripe shows, and
# the tenant's cash balance.

PAID_2 = f"payment {row_id('paid-2')}"
# 880.00 USD presented, settled in the platform's euro balance at 0.92: 809.60 EUR.
USD_IN_EUR = charge("paid-2", 88000, currency="usd", settled=Settled("txn_x", 80960, "eur", Decimal("0.92")))


def plan_paid_2(facts: transfers.PayoutFacts) -> Item:
    return by_subject(transfers.plan_transfers(rows_of(), facts, transfers.Rules()))[PAID_2]


def test_a_charge_settled_in_another_currency_is_reported_with_both_currencies_and_never_paid() -> None:
    # Flagey's account settles in EUR like the balance, but the tenant paid USD: what the house is owed in
    # euros is a person's call, so nothing is sent.
    item = plan_paid_2(account_for(rows_of(), x=USD_IN_EUR))
    assert (item.action, item.problem, item.payout) == (Action.REPORT, Problem.CURRENCY_MISMATCH, None)
    assert "is in USD, but account acct_1TestFlagey10xyz settles in EUR" in item.reason
    assert "it took 880.00 USD, which settled in the platform's balance as 809.60 EUR" in item.reason
    assert "must be in EUR" in item.reason and "settled as 809.60 EUR" in item.stripe_state
    assert (item.amount, item.currency) == (88000, "usd")  # the row's money, as the tenant paid it

    # A house in the tenant's currency gets nothing either: the transfer would be in EUR, converted back.
    facts = account_for(rows_of(), x=USD_IN_EUR)
    facts = replace(facts, accounts={**facts.accounts, FLAGEY: StripeAccount(FLAGEY, "usd", "active")})
    item = plan_paid_2(facts)
    assert (item.action, item.problem, item.payout) == (Action.REPORT, Problem.CURRENCY_MISMATCH, None)
    assert "is in USD like account acct_1TestFlagey10xyz; it took 880.00 USD, which settled in" in item.reason
    assert "as 809.60 EUR, so a transfer funded by it must be in EUR" in item.reason


def test_a_charge_settled_as_it_was_paid_is_transferred_in_that_currency_and_group() -> None:
    item = plan_paid_2(account_for(rows_of()))
    assert item.action is Action.TRANSFER and item.payout is not None
    assert (item.payout.params["amount"], item.payout.params["currency"]) == (88000, "eur")
    assert "transfer_group" not in item.payout.params  # Stripe sets it: the charge's group
    assert item.reason.endswith("in transfer group group_pi_3Testpaid-2")
    grouped = charge("paid-2", 88000, transfer_group="rent-2022-12")
    assert plan_paid_2(account_for(rows_of(), x=grouped)).reason.endswith("in transfer group rent-2022-12")


def test_a_charge_whose_settlement_stripe_did_not_show_is_never_paid_out() -> None:
    item = plan_paid_2(account_for(rows_of(), x=charge("paid-2", 88000, settled=None)))
    assert (item.action, item.problem, item.payout) == (Action.REPORT, Problem.SETTLEMENT_UNKNOWN, None)


def test_the_charge_reads_its_expanded_balance_transaction_and_its_group() -> None:
    shown = charge_from(
        {
            "id": "ch_1",
            "amount": 150000,
            "currency": "usd",
            "payment_intent": "pi_1",
            "balance_transaction": {"id": "txn_1", "amount": 138000, "currency": "eur", "exchange_rate": 0.92},
        }
    )
    assert shown.settled == Settled("txn_1", 138000, "eur", Decimal("0.92"))
    assert shown.group == "group_pi_1"  # what Stripe gives a transfer the charge funds
    assert replace(shown, transfer_group="rent-7").group == "rent-7"
    assert charge_from({"id": "ch_2", "amount": 1, "currency": "eur", "balance_transaction": "txn_2"}).settled is None


def test_an_account_outside_the_platforms_region_is_named_before_any_transfer() -> None:
    rows = rows_of()
    facts = account_for(rows)
    far = StripeAccount(FLAGEY, "eur", "active", country="US")
    facts = replace(
        facts, accounts={**facts.accounts, FLAGEY: far}, platform=StripeAccount("acct_p", "eur", None, country="BE")
    )
    plan = transfers.plan_transfers(rows, facts, transfers.Rules())
    assert plan.totals(Action.TRANSFER) == {}
    items = by_subject(plan)
    assert items[PAID_2].problem is Problem.OTHER_REGION
    assert "in US (US), the platform in BE (Europe)" in items[PAID_2].reason
    house = items[f"house {row_id('flagey')}"]
    assert Problem.OTHER_REGION in (house.problem, *house.more)
    # One region: a Belgian platform pays a French or a British account.
    for country in ("FR", "GB", "CH"):
        near = replace(facts, accounts={**facts.accounts, FLAGEY: replace(far, country=country)})
        assert transfers.plan_transfers(rows, near, transfers.Rules()).totals(Action.TRANSFER) == {"eur": 3 * 88000}


def test_the_cash_balance_is_read_as_stripe_shows_it() -> None:
    shown = cash_balance_from(
        {"customer": "cus_1", "available": {"EUR": 50000}, "settings": {"reconciliation_mode": "automatic"}}
    )
    assert shown == CashBalance("cus_1", {"eur": 50000}, True)
    assert not cash_balance_from(
        {"customer": "cus_1", "available": None, "settings": {"reconciliation_mode": "manual"}}
    ).automatic


def test_money_the_tenant_already_holds_is_said_with_what_stripe_takes_of_it() -> None:
    part = CashBalance("cus_tenant", {"eur": 50000}, True)
    (item,) = plan_disputes(rows_of(), disputes.Facts(DISPUTE, charge("disputed", 150000), cash=part))
    assert (item.action, item.problem, item.from_cash) == (Action.COLLECT, Problem.CASH_BALANCE, 50000)
    assert "already holds 500.00 EUR in their cash balance: Stripe takes 500.00 EUR" in item.reason
    assert "leaves 1,000.00 EUR to pay" in item.reason
    assert "500.00 EUR from their cash balance at once" in pay_lines(item, dry_run=True)[0]

    whole = CashBalance("cus_tenant", {"eur": 200000}, True)
    (item,) = plan_disputes(rows_of(), disputes.Facts(DISPUTE, charge("disputed", 150000), cash=whole))
    assert item.from_cash == 150000 and "funds it in full" in item.reason
    assert pay_lines(replace(item, instructions=None), dry_run=False) == [
        "Tenant pays: nothing more: Stripe took 1,500.00 EUR from their cash balance for it"
    ]

    manual = CashBalance("cus_tenant", {"eur": 50000}, False)
    (item,) = plan_disputes(rows_of(), disputes.Facts(DISPUTE, charge("disputed", 150000), cash=manual))
    assert (item.problem, item.from_cash) == (Problem.CASH_BALANCE, 0) and "manual" in item.reason

    for nothing in (None, CashBalance("cus_tenant", {"usd": 50000}, True), CashBalance("cus_tenant", {}, True)):
        (item,) = plan_disputes(rows_of(), disputes.Facts(DISPUTE, charge("disputed", 150000), cash=nothing))
        assert (item.action, item.problem, item.from_cash) == (Action.COLLECT, None, 0)
