"""Pure planning of round 3's money facts: the settlement currency, the platform's region, the transfer
group Stripe shows, and the tenant's cash balance (issue 22)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from cohabs.support import disputes, transfers
from cohabs.support.items import Action, Item, Problem
from cohabs.support.objects import CashBalance, Settled, StripeAccount, cash_balance_from, charge_from
from cohabs.support.report import pay_lines
from devkit.support_dump import row_id
from tests.test_support_planning import (
    DISPUTE,
    FLAGEY,
    account_for,
    by_subject,
    charge,
    plan_disputes,
    rows_of,
)

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
