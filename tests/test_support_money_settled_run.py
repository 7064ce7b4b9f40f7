"""support.py against the fake for round 3's money facts (issue 22): a charge that settled in another
currency, a house account outside the platform's region, a refused transfer, prevented disputes with and
without money withdrawn, and a tenant who already holds a cash balance."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe

from cohabs.shared.settings import Settings
from cohabs.support.items import Action, Incident, Problem
from devkit.fake_stripe import FakeStripe, Fault
from devkit.mysql import Server
from devkit.support_account import Seeded, read_rows, seed
from devkit.support_dump import SupportDump, row_id
from tests.helpers import ELIGIBLE, ours, support, support_cli

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")

USD_IN_EUR = {"usd": ("eur", Decimal("0.92"))}


def seed_with(settings: Settings, server: Server, fake: FakeStripe, **options: Any) -> Seeded:
    conn = server.connect(settings.db_name)
    try:
        return seed(fake, read_rows(conn), **options)
    finally:
        conn.close()


def report(folder: Path, pattern: str) -> dict[str, Any]:
    (path,) = (folder / "reports").glob(pattern)
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)


# ----- the currency the money settled in -----------------------------------------------------------------------


def test_the_fake_funds_a_transfer_only_in_the_currency_its_charge_settled_in(
    settings: Settings, mysql_server: Server, fake: FakeStripe, support_data: SupportDump
) -> None:
    seeded = seed_with(settings, mysql_server, fake, currencies={row_id("flagey"): "usd"}, settlement=USD_IN_EUR)
    charge_id = seeded.charges[row_id("paid-2")]
    shown = client(fake).v1.charges.retrieve(charge_id, params={"expand": ["balance_transaction"]})
    settled: Any = shown.balance_transaction
    assert (shown.amount, shown.currency) == (88000, "usd")
    assert (settled.amount, settled.currency, settled.exchange_rate) == (80960, "eur", 0.92)
    destination = seeded.accounts[row_id("flagey")]
    with pytest.raises(stripe.InvalidRequestError, match="balance transaction"):
        client(fake).v1.transfers.create(
            params={"amount": 88000, "currency": "usd", "destination": destination, "source_transaction": charge_id}
        )
    made = client(fake).v1.transfers.create(
        params={"amount": 80960, "currency": "eur", "destination": destination, "source_transaction": charge_id}
    )
    # Stripe puts it in the charge's group, generating group_<PaymentIntent id> for both.
    intent = fake.objects["charges"][charge_id]["payment_intent"]
    assert made.transfer_group == fake.objects["charges"][charge_id]["transfer_group"] == f"group_{intent}"


def test_a_usd_rent_settled_in_euros_is_reported_with_both_currencies_and_never_paid_out(
    settings: Settings, mysql_server: Server, fake: FakeStripe, support_data: SupportDump, tmp_path: Path
) -> None:
    seeded = seed_with(settings, mysql_server, fake, currencies={row_id("flagey"): "usd"}, settlement=USD_IN_EUR)
    done = support_cli(settings, tmp_path, "transfers", "--yes")
    assert done.returncode == 3, done.stdout + done.stderr
    assert ours(fake, "transfers") == []
    charge = seeded.charges[row_id("paid-2")]
    account = seeded.accounts[row_id("flagey")]
    assert f"charge {charge} is in USD like account {account}; it took 880.00 USD, which settled in " in done.stdout
    assert "the platform's balance as 809.60 EUR, so a transfer funded by it must be in EUR" in done.stdout
    items = {i["payment_id"]: i for i in report(tmp_path, "support-transfers-run-*.json")["items"]}
    for payment in ELIGIBLE:
        assert (items[payment]["problem"], items[payment]["amount"], items[payment]["currency"]) == (
            "currency_mismatch",
            88000,
            "usd",
        )
    assert items[row_id("paid-1")]["action"] == "done"  # the seed's transfer, made in EUR as Stripe requires


def test_a_house_account_outside_the_platforms_region_is_named_and_never_sent_to(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    fake.objects["accounts"][seeded.accounts[row_id("flagey")]]["country"] = "US"
    done = support_cli(settings, tmp_path, "transfers", "--yes")
    assert done.returncode == 3
    assert not [r for r in fake.writes() if r.path == "/v1/transfers"]
    assert "separate charges and transfers need both in one region" in done.stdout
    fake.payments.platform["country"] = "US"  # a US platform pays it
    assert sorted(t["metadata"]["cohabs_payment_id"] for t in ours_after(settings, fake)) == sorted(ELIGIBLE)


def ours_after(settings: Settings, fake: FakeStripe) -> list[dict[str, Any]]:
    support(settings, Incident.TRANSFERS)
    return ours(fake, "transfers")


def test_a_transfer_stripe_refuses_is_never_counted_as_done(
    settings: Settings, fake: FakeStripe, seeded: Seeded
) -> None:
    fake.inject(Fault("status", "POST", "/v1/transfers", count=3, status=400, code="parameter_invalid"))
    outcome = support(settings, Incident.TRANSFERS)
    assert ours(fake, "transfers") == []
    refused = [i for i in outcome.plan.items if i.payment_id in ELIGIBLE]
    assert [(i.action, i.problem, i.failed) for i in refused] == [(Action.REPORT, Problem.STRIPE, True)] * 3
    assert outcome.plan.totals(Action.TRANSFER) == {}


# ----- prevented disputes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("withdrawn", [True, False])
def test_a_prevented_dispute_is_re_collected_only_when_its_balance_transactions_took_money(
    settings: Settings, mysql_server: Server, fake: FakeStripe, support_data: SupportDump, withdrawn: bool
) -> None:
    seeded = seed_with(settings, mysql_server, fake, dispute_status="prevented", dispute_withdraw=withdrawn)
    (dispute_id,) = seeded.disputes.values()
    assert bool(fake.objects["disputes"][dispute_id]["balance_transactions"]) is withdrawn
    outcome = support(settings, Incident.DISPUTES)
    (item,) = [i for i in outcome.plan.items if i.subject == f"dispute {dispute_id}"]
    if withdrawn:
        assert item.action is Action.COLLECT and "1,500.00 EUR withdrawn" in item.reason
        assert [r["metadata"]["cohabs_dispute_id"] for r in ours(fake, "payment_intents")] == [dispute_id]
    else:
        assert (item.action, item.problem) == (Action.DONE, None)
        assert "nothing withdrawn" in item.reason
        assert ours(fake, "payment_intents") == []


# ----- the tenant's cash balance ---------------------------------------------------------------------------------


def test_money_the_tenant_already_holds_is_said_before_and_after_stripe_takes_it(
    settings: Settings, fake: FakeStripe, seeded: Seeded, support_data: SupportDump, tmp_path: Path
) -> None:
    customer = seeded.customers[support_data.payment("disputed")["leaseId"]]
    seeded.payments.fund_cash_balance(customer, 50000, "eur")  # sent earlier, for nothing waiting
    shown = client(fake).v1.customers.cash_balance.retrieve(customer)
    assert (shown.to_dict()["available"], shown.settings.reconciliation_mode) == ({"eur": 50000}, "automatic")

    dry = support_cli(settings, tmp_path, "disputes", "--dry-run")
    said = "the tenant already holds 500.00 EUR in their cash balance: Stripe takes 500.00 EUR of it"
    assert dry.returncode == 3 and said in dry.stdout
    assert "Tenant pays: 500.00 EUR from their cash balance at once" in dry.stdout
    assert ours(fake, "payment_intents") == []

    done = support_cli(settings, tmp_path, "disputes", "--yes")
    assert done.returncode == 3 and said in done.stdout
    (request,) = ours(fake, "payment_intents")
    assert request["next_action"]["display_bank_transfer_instructions"]["amount_remaining"] == 100000
    assert "Tenant pays: 1,000.00 EUR remaining by bank transfer" in done.stdout
    assert seeded.payments.cash[(customer, "eur")] == 0
    (item,) = [i for i in report(tmp_path, "support-disputes-run-*.json")["items"] if i["problem"] == "cash_balance"]
    assert (item["from_cash_balance"], item["action"]) == (50000, "collect")


def test_many_tenants_cash_balances_are_read_in_the_customers_list(
    settings: Settings, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    customer = many_seeded.customers[many_data.payment("disputed")["leaseId"]]
    many_seeded.payments.fund_cash_balance(customer, 20000, "eur")
    plan = support(settings, Incident.DISPUTES, dry_run=True).plan
    asked = [r.path for r in fake.requests if r.method == "GET" and "customers" in r.path]
    assert asked == ["/v1/customers"]  # one page of customers, each with its cash balance; none asked alone
    held = [i for i in plan.items if i.problem is Problem.CASH_BALANCE]
    assert [(i.action, i.from_cash) for i in held] == [(Action.COLLECT, 20000)]
    assert sum(1 for i in plan.items if i.action is Action.COLLECT) == 41
