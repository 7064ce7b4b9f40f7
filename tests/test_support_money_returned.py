"""support.py when money comes back or is elsewhere: disputes won at every point, other currencies, partial
reversals and refunds, refusals replayed then fixed, and what the tenant is told to pay."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cohabs.shared.settings import Settings
from cohabs.support import disputes
from cohabs.support.items import Action, Incident, Problem, Settlement
from devkit.fake_stripe import FakeStripe, Fault, Recorded
from devkit.mysql import Server
from devkit.support_account import Seeded
from devkit.support_dump import SupportDump, row_id
from tests.helpers import ELIGIBLE, assert_each_once, ours, payments, support, support_cli

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")


def the_request(fake: FakeStripe) -> dict[str, Any]:
    (request,) = ours(fake, "payment_intents")
    return request


def tenant_pays(seeded: Seeded, support_data: SupportDump, fake: FakeStripe, amount: int = 150000) -> None:
    """The tenant's bank transfer arrives, quoting the request's reference."""
    request = the_request(fake)
    reference = request["next_action"]["display_bank_transfer_instructions"]["reference"]
    customer = seeded.customers[support_data.payment("disputed")["leaseId"]]
    seeded.payments.fund_cash_balance(customer, amount, "eur", reference)


def win(seeded: Seeded, status: str = "won") -> None:
    (dispute_id,) = seeded.disputes.values()
    seeded.payments.set_dispute_status(dispute_id, status)


def csv_items(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


# ----- disputes won or closed at every point ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["won", "warning_closed"])
def test_a_dispute_over_without_a_loss_before_any_request_asks_nothing(
    settings: Settings, fake: FakeStripe, seeded: Seeded, status: str
) -> None:
    if status == "warning_closed":  # an inquiry that took nothing and closed
        (dispute_id,) = seeded.disputes.values()
        fake.objects["disputes"][dispute_id]["status"] = status
    else:
        win(seeded, status)
    (item,) = support(settings, Incident.DISPUTES).plan.items
    assert (item.action, item.problem) == (Action.DONE, None) and status in item.reason
    assert fake.writes() == []


def test_a_dispute_won_after_its_unpaid_request_is_reported_on_every_run_then_canceled_only_when_asked(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    support(settings, Incident.DISPUTES)
    win(seeded)
    writes = len(fake.writes())

    for _ in range(2):  # every run, until someone acts
        (item,) = support(settings, Incident.DISPUTES).plan.items
        assert (item.action, item.problem) == (Action.REPORT, Problem.RETURNED_UNPAID)
        assert "cancel it" in item.reason and the_request(fake)["id"] in item.reason
    shown = support_cli(settings, tmp_path, "disputes", "--yes")
    assert shown.returncode == 3 and "What to do: The dispute gave the money back" in shown.stdout
    dry = support_cli(settings, tmp_path, "disputes", "--dry-run", "--cancel-won-requests")
    assert dry.returncode == 0 and "[will cancel] dispute" in dry.stdout
    assert dry.stdout.index("Changes planned (1)") < dry.stdout.index("[will cancel]")
    assert len(fake.writes()) == writes

    canceled = support(settings, Incident.DISPUTES, disputes=disputes.Rules(cancel_won=True))
    (item,) = canceled.plan.items
    assert (item.action, item.failed, item.problem) == (Action.CANCEL, False, None)
    request = the_request(fake)
    assert (request["status"], request["cancellation_reason"]) == ("canceled", "duplicate")
    assert [r.path for r in fake.writes()[writes:]] == [f"/v1/payment_intents/{request['id']}/cancel"]

    writes = len(fake.writes())
    (after,) = support(settings, Incident.DISPUTES, disputes=disputes.Rules(cancel_won=True)).plan.items
    assert (after.action, after.problem) == (Action.DONE, None) and "canceled" in after.reason
    assert len(fake.writes()) == writes  # a rerun sends no write
    assert len(payments(settings, mysql_server)) == 13  # the row the request made stays; nothing else is written


def test_a_dispute_won_after_the_tenant_paid_is_reported_until_refunded_and_never_refunded_by_the_tool(
    settings: Settings, fake: FakeStripe, seeded: Seeded, support_data: SupportDump
) -> None:
    support(settings, Incident.DISPUTES)
    tenant_pays(seeded, support_data, fake)
    assert the_request(fake)["status"] == "succeeded"
    (paid,) = support(settings, Incident.DISPUTES).plan.items
    assert (paid.action, paid.problem) == (Action.DONE, None)  # re-collected: nothing left to do
    win(seeded)
    writes = len(fake.writes())

    for _ in range(2):
        (item,) = support(settings, Incident.DISPUTES, disputes=disputes.Rules(cancel_won=True)).plan.items
        assert (item.action, item.problem) == (Action.REPORT, Problem.RETURNED_PAID)
        assert "the tenant paid request" in item.reason and "refund them" in item.reason
    assert len(fake.writes()) == writes  # neither canceled nor refunded

    seeded.payments.refund(the_request(fake)["latest_charge"])  # a person refunds the tenant in the dashboard
    (item,) = support(settings, Incident.DISPUTES).plan.items
    assert (item.action, item.problem) == (Action.DONE, None) and "paid and refunded" in item.reason


def test_a_dispute_lost_after_its_request_keeps_the_request_waiting(
    settings: Settings, fake: FakeStripe, seeded: Seeded
) -> None:
    support(settings, Incident.DISPUTES)
    win(seeded, "lost")  # closed against the platform: the money stays withdrawn, the re-collection stands
    (item,) = support(settings, Incident.DISPUTES).plan.items
    assert (item.action, item.problem) == (Action.WAIT, None)


# ----- currencies, partial reversals and refunds -----------------------------------------------------------------


def test_a_charge_in_another_currency_than_the_house_account_is_reported_with_both_and_never_paid(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    usd = seeded.charges[row_id("paid-2")]
    fake.objects["charges"][usd]["currency"] = "usd"  # 880 USD on a Brussels row of 880.00, house in EUR

    done = support_cli(settings, tmp_path, "transfers", "--yes")
    assert done.returncode == 3
    assert sorted(t["metadata"]["cohabs_payment_id"] for t in ours(fake, "transfers")) == sorted(ELIGIBLE[1:])
    assert seeded.payments.transfers_of(usd) == []
    assert f"charge {usd} is in USD, but account {seeded.accounts[row_id('flagey')]} settles in EUR" in done.stdout
    (report,) = (tmp_path / "reports").glob("support-transfers-run-*.csv")
    (line,) = [r for r in csv_items(report) if r["payment"] == row_id("paid-2")]
    assert (line["problem"], line["amount"], line["currency"], line["section"]) == (
        "currency_mismatch",
        "880.00",
        "USD",
        "attention",
    )


def test_a_partial_reversal_and_a_partial_refund_are_reported_with_their_amounts_never_paid_again_in_full(
    settings: Settings, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    seeded.payments.refund(seeded.charges[row_id("paid-3")], 10000)  # 100.00 of 880.00 back to the tenant
    seeded.payments.reverse_transfer(seeded.transfers[row_id("paid-1")], 30000)  # 300.00 of 880.00 back from the house
    writes = len(fake.writes())

    done = support_cli(settings, tmp_path, "transfers", "--yes")
    assert done.returncode == 3
    made = sorted(t["metadata"]["cohabs_payment_id"] for t in ours(fake, "transfers"))
    assert made == sorted([row_id("paid-2"), row_id("paid-4")])
    assert len(fake.writes()) == writes + 2
    (report,) = (tmp_path / "reports").glob("support-transfers-run-*.json")
    items = {i["payment_id"]: i for i in json.loads(report.read_text())["items"] if i["payment_id"]}
    assert items[row_id("paid-1")]["settlement"] == {"paid": 88000, "back": 30000, "owed": 30000, "how": "reversed"}
    assert items[row_id("paid-3")]["settlement"] == {"paid": 88000, "back": 10000, "owed": 78000, "how": "refunded"}
    assert "the house holds 580.00 EUR and is owed 300.00 EUR" in done.stdout
    assert "100.00 EUR of it was refunded to the tenant: the house is owed at most the 780.00 EUR left" in done.stdout
    (table,) = (tmp_path / "reports").glob("support-transfers-run-*.csv")
    (line,) = [r for r in csv_items(table) if r["payment"] == row_id("paid-1")]
    assert (line["paid"], line["reversed_or_refunded"], line["owed"]) == ("880.00", "300.00", "300.00")

    writes = len(fake.writes())
    again = support(settings, Incident.TRANSFERS)
    assert len(fake.writes()) == writes  # a rerun sends no write: nothing is ever topped up
    reversed_item = next(i for i in again.plan.items if i.payment_id == row_id("paid-1"))
    assert reversed_item.settlement == Settlement(88000, 30000, 30000, "reversed")


# ----- refusals replayed, then fixed -----------------------------------------------------------------------------


def posted(fake: FakeStripe, path: str, since: int = 0) -> list[Recorded]:
    return [r for r in fake.requests[since:] if r.method == "POST" and r.path == path]


def test_a_transfer_refused_for_a_capability_then_fixed_is_made_once_under_the_next_key(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded
) -> None:
    flagey = seeded.accounts[row_id("flagey")]

    def capability_lost(moment: str, request: Recorded) -> None:
        # Between the run's read and its first transfer, the account loses the capability: Stripe refuses
        # every transfer with a 400 it stores under the request's key.
        if moment == "received" and request.method == "POST" and request.path == "/v1/transfers":
            seeded.payments.set_transfers_capability(flagey, "inactive")

    fake.hook = capability_lost
    first = support(settings, Incident.TRANSFERS)
    fake.hook = None
    failed = [i for i in first.plan.items if i.failed]
    assert len(failed) == len(ELIGIBLE) and ours(fake, "transfers") == []
    assert all("insufficient_capabilities_for_transfer" in i.reason and not i.replayed for i in failed)
    assert all("Stripe made nothing" in i.reason for i in failed)

    # Still not fixed: the account read says so, nothing is sent, and the house's account is named.
    since = len(fake.requests)
    blocked = support(settings, Incident.TRANSFERS)
    assert posted(fake, "/v1/transfers", since) == []
    assert {i.problem for i in blocked.plan.items if i.payment_id in ELIGIBLE} == {Problem.CANNOT_RECEIVE}

    seeded.payments.set_transfers_capability(flagey, "active")  # fixed, within the day the refusals are kept
    since = len(fake.requests)
    fixed = support(settings, Incident.TRANSFERS)
    assert not any(i.failed for i in fixed.plan.items)
    keys = [r.idempotency_key or "" for r in posted(fake, "/v1/transfers", since)]
    assert sorted(k.rsplit(":", 1)[-1] for k in keys if k.endswith(":1")) == ["1"] * len(ELIGIBLE)
    assert len(keys) == 2 * len(ELIGIBLE)  # each k0 replayed its stored refusal, each k1 made the transfer
    assert all(
        r.status == 400 for r in posted(fake, "/v1/transfers", since) if not (r.idempotency_key or "").endswith(":1")
    )

    writes = len(fake.writes())
    support(settings, Incident.TRANSFERS)
    assert len(fake.writes()) == writes  # a rerun sends no write
    support(settings, Incident.DISPUTES)
    assert_each_once(settings, mysql_server, fake, seeded)


def test_a_request_refused_twice_then_fixed_is_made_once_and_the_report_says_which_answers_were_replays(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded
) -> None:
    refused = Fault("stored", "POST", "/v1/payment_intents", count=2, status=400, code="customer_tax_location_invalid")
    fake.inject(refused)

    (first,) = support(settings, Incident.DISPUTES).plan.items
    assert first.failed and not first.replayed and "replay" not in first.reason
    (second,) = support(settings, Incident.DISPUTES).plan.items  # k0 replays the first refusal; k1 is refused anew
    assert second.failed and "a new answer; 1 earlier key(s) only replayed answers Stripe stored" in second.reason
    (third,) = support(settings, Incident.DISPUTES).plan.items  # fixed: k0 and k1 replay, k2 makes the request
    assert (third.action, third.failed) == (Action.COLLECT, False)

    keys = [(r.idempotency_key or "").split(":")[4:] for r in posted(fake, "/v1/payment_intents")]
    assert keys == [[], [], ["1"], [], ["1"], ["2"]]
    writes = len(fake.writes())
    (again,) = support(settings, Incident.DISPUTES).plan.items
    assert again.action is Action.WAIT and len(fake.writes()) == writes
    support(settings, Incident.TRANSFERS)
    assert_each_once(settings, mysql_server, fake, seeded)


def test_an_error_replayed_within_the_run_is_said_to_be_a_replay(
    settings: Settings, fake: FakeStripe, seeded: Seeded
) -> None:
    # A 500 the SDK retries: its retries meet the answer Stripe stored for the key.
    fake.inject(Fault("stored", "POST", "/v1/payment_intents"))
    (item,) = support(settings, Incident.DISPUTES).plan.items
    assert item.failed and item.replayed
    assert "this answer is a replay of the one Stripe stored for the key earlier in this run" in item.reason


# ----- telling the tenant how to pay -----------------------------------------------------------------------------


def test_the_tenant_is_told_how_to_pay_on_the_console_and_in_every_report(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, tmp_path: Path
) -> None:
    dry = support_cli(settings, tmp_path, "disputes", "--dry-run")
    assert dry.returncode == 0
    assert "appear once the request exists: the real run shows them" in dry.stdout
    (plan_report,) = (tmp_path / "reports").glob("support-disputes-plan-*.md")
    assert "appear once the request exists" in plan_report.read_text()

    done = support_cli(settings, tmp_path, "disputes", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    shown = the_request(fake)["next_action"]["display_bank_transfer_instructions"]
    (address,) = shown["financial_addresses"]
    iban = address["iban"]
    for text in (
        f"Tenant pays: 1,500.00 EUR remaining by bank transfer, reference {shown['reference']}",
        f"Bank: IBAN {iban['iban']} · BIC {iban['bic']} · holder {iban['account_holder_name']} · country FR",
        f"Instructions: {shown['hosted_instructions_url']}",
    ):
        assert text in done.stdout
    assert shown["hosted_instructions_url"].startswith("https://payments.stripe.com/")
    (markdown,) = (tmp_path / "reports").glob("support-disputes-run-*.md")
    text = markdown.read_text()
    assert "## What to send the tenants" in text and f"`{shown['reference']}`" in text
    assert f"<{shown['hosted_instructions_url']}>" in text and f"`{iban['iban']}`" in text
    (line,) = csv_items(markdown.with_suffix(".csv"))
    assert (line["pay_amount_remaining"], line["pay_reference"]) == ("1500.00", shown["reference"])
    assert line["pay_instructions_url"] == shown["hosted_instructions_url"]
    (item,) = json.loads(markdown.with_suffix(".json").read_text())["items"]
    assert item["pay_instructions"]["reference"] == shown["reference"]
    assert item["pay_instructions"]["bank"] == [
        {
            "type": "iban",
            "IBAN": iban["iban"],
            "BIC": iban["bic"],
            "holder": iban["account_holder_name"],
            "country": "FR",
        }
    ]

    # The transfers command lists the re-collection as waiting for the tenant, with the same details.
    pay = support_cli(settings, tmp_path, "transfers", "--dry-run")
    new_id = disputes.new_payment_id(the_request(fake)["metadata"]["cohabs_dispute_id"], 32)
    waiting = pay.stdout.split("Waiting for the tenant's bank transfer (1)", 1)[1]
    assert f"payment {new_id}  1,500.00 EUR" in waiting and shown["reference"] in waiting
    (pay_report,) = (tmp_path / "reports").glob("support-transfers-plan-*.json")
    (line_of_new,) = [i for i in json.loads(pay_report.read_text())["items"] if i["payment_id"] == new_id]
    assert (line_of_new["action"], line_of_new["problem"]) == ("wait", None)
    assert payments(settings, mysql_server)[new_id]["pending"] == 1


def test_support_reports_put_what_needs_a_person_first_and_every_item_carries_its_amount(
    settings: Settings, seeded: Seeded, tmp_path: Path
) -> None:
    dry = support_cli(settings, tmp_path, "transfers", "--dry-run")
    assert dry.returncode == 3
    assert dry.stdout.index("Needs a person (") < dry.stdout.index("Changes planned (3)")
    assert dry.stdout.index("Changes planned (3)") < dry.stdout.index("Done before: 1 item(s)")
    (markdown,) = (tmp_path / "reports").glob("support-transfers-plan-*.md")
    text = markdown.read_text()
    assert text.startswith("# Rent transfers to houses — dry run (nothing was changed)")
    assert text.index("## Needs a person") < text.index("## Every item") < text.index("## What to do next")
    lines = csv_items(markdown.with_suffix(".csv"))
    sections = [line["section"] for line in lines]
    assert sections == sorted(sections, key=["attention", "changes", "waiting", "done"].index)
    for line in lines:
        assert Decimal(line["amount"]) > 0, line["item"]  # a number, never "1,500.00 EUR"
    assert {line["currency"] for line in lines if line["payment"]} == {"EUR"}

    done = support_cli(settings, tmp_path, "transfers", "--yes")
    (run_report,) = (tmp_path / "reports").glob("support-transfers-run-*.md")
    assert run_report.read_text().startswith("# Rent transfers to houses — run (changes made)")
    assert "Changes made (3)" in done.stdout and "run (changes made in Stripe and the database)" in done.stdout
