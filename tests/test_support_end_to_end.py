"""support.py against a restored support dump and the fake Stripe shaped like it: money moves once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cohabs.shared.errors import CannotRun
from cohabs.shared.settings import Settings
from cohabs.support import disputes
from cohabs.support.items import Action, Incident
from devkit.fake_stripe import FakeStripe, Fault
from devkit.mysql import Server
from devkit.support_account import Seeded
from devkit.support_dump import SupportDump, row_id
from tests.helpers import (
    ELIGIBLE,
    assert_each_once,
    ours,
    payments,
    support,
)

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")


def test_a_dry_run_reads_only_and_puts_the_money_on_paper(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded
) -> None:
    before = payments(settings, mysql_server)
    collect = support(settings, Incident.DISPUTES, dry_run=True)
    pay = support(settings, Incident.TRANSFERS, dry_run=True)

    assert fake.writes() == [] and payments(settings, mysql_server) == before
    assert collect.plan.totals(Action.COLLECT) == {"eur": 150000}
    assert pay.plan.totals(Action.TRANSFER) == {"eur": 3 * 88000}
    (request,) = [i for i in collect.plan.items if i.action is Action.COLLECT]
    assert (request.payment_id, request.house, request.account) == (
        row_id("disputed"),
        "Parvis 69",
        seeded.accounts[row_id("parvis")],
    )
    assert "needs_response" in request.stripe_state and "disputed=1" in request.db_state
    problems = sorted(str(i.problem) for i in pay.plan.items if i.problem)
    assert problems == sorted(
        ["paid_zero"] * 2 + ["pending"] * 2 + ["due_after_lease"] * 3 + ["disputed", "house_without_payment"]
    )


def test_a_dispute_is_re_collected_once_by_bank_transfer_and_recorded_in_a_new_row(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, support_data: SupportDump
) -> None:
    before = payments(settings, mysql_server)
    outcome = support(settings, Incident.DISPUTES)

    (request,) = ours(fake, "payment_intents")
    disputed = support_data.payment("disputed")
    (dispute_id,) = seeded.disputes.values()
    assert request["amount"] == 150000 and request["currency"] == "eur"
    assert request["customer"] == seeded.customers[disputed["leaseId"]]
    assert request["payment_method_types"] == ["customer_balance"]
    assert request["status"] == "requires_action"  # waits for the tenant's bank transfer
    assert request["payment_method_options"]["customer_balance"]["funding_type"] == "bank_transfer"
    assert request["description"] == "RENT DECEMBER 2022 - PARVIS 69"
    assert request["metadata"]["cohabs_dispute_id"] == dispute_id
    assert request["metadata"]["cohabs_disputed_payment_id"] == disputed["id"]
    assert request["metadata"]["cohabs_lease_id"] == disputed["leaseId"]
    rows = payments(settings, mysql_server)
    new = rows.pop(disputes.new_payment_id(dispute_id, 32))
    assert rows == before  # the disputed row stays as it is
    assert (new["paid"], new["pending"], new["disputed"], new["amount"]) == (Decimal("0.00"), 1, 0, Decimal("1500.00"))
    assert new["stripeChargeId"] == request["id"] and new["paymentDate"] is None
    assert new["comment"] == f"Created from the dispute ID: {dispute_id}"
    assert (new["dueDate"] - new["createdAt"]).days == 7
    assert all(new[c] == disputed[c] for c in ("leaseId", "userId", "stripeInvoiceId"))
    assert not any(i.problem for i in outcome.plan.items)
    assert seeded.payments.dispute_writes() == []  # never closed, accepted or answered

    writes = len(fake.writes())
    again = support(settings, Incident.DISPUTES)
    assert len(fake.writes()) == writes
    assert [i.action for i in again.plan.items] == [Action.WAIT]  # for the tenant's bank transfer


def test_the_invoice_number_names_the_request_when_the_payment_paid_an_invoice(
    settings: Settings, fake: FakeStripe, support_data: SupportDump, seeded: Seeded
) -> None:
    intent = fake.objects["charges"][seeded.charges[row_id("disputed")]]["payment_intent"]
    invoice = seeded.payments.add_invoice(intent, number="CH-2022-0042")
    support(settings, Incident.DISPUTES)
    (request,) = ours(fake, "payment_intents")
    assert request["description"] == f"INVOICE - {invoice['number']}"


def test_each_settled_payment_is_transferred_once_to_its_house(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded
) -> None:
    before = payments(settings, mysql_server)
    outcome = support(settings, Incident.TRANSFERS)

    made = ours(fake, "transfers")
    assert sorted(t["metadata"]["cohabs_payment_id"] for t in made) == sorted(ELIGIBLE)
    for transfer in made:
        payment = transfer["metadata"]["cohabs_payment_id"]
        charge = fake.objects["charges"][seeded.charges[payment]]
        assert (transfer["amount"], transfer["currency"]) == (88000, "eur")
        assert transfer["destination"] == seeded.accounts[row_id("flagey")]
        assert transfer["source_transaction"] == charge["id"]
        assert transfer["transfer_group"] == f"cohabs-payment-{payment}"
    assert payments(settings, mysql_server) == before  # transfers write nothing to the database
    assert outcome.plan.totals(Action.TRANSFER) == {"eur": 3 * 88000}
    assert {i.payment_id for i in outcome.plan.items if i.action is Action.DONE} == {row_id("paid-1")}

    writes = len(fake.writes())
    again = support(settings, Incident.TRANSFERS)
    assert len(fake.writes()) == writes
    assert again.plan.totals(Action.TRANSFER) == {}


def test_a_won_dispute_and_a_refunded_charge_move_no_money(
    settings: Settings, fake: FakeStripe, seeded: Seeded
) -> None:
    (dispute_id,) = seeded.disputes.values()
    seeded.payments.set_dispute_status(dispute_id, "won")
    seeded.payments.refund(seeded.charges[row_id("paid-2")], 100)
    collect = support(settings, Incident.DISPUTES)
    pay = support(settings, Incident.TRANSFERS)
    assert ours(fake, "payment_intents") == []
    assert [(i.action, i.problem) for i in collect.plan.items] == [(Action.DONE, None)]  # nothing is owed
    assert sorted(t["metadata"]["cohabs_payment_id"] for t in ours(fake, "transfers")) == sorted(ELIGIBLE[1:])
    (refunded,) = [i for i in pay.plan.items if i.payment_id == row_id("paid-2")]
    assert str(refunded.problem) == "charge_partly_refunded"


def test_a_lost_answer_is_replayed_under_the_same_key_and_makes_one_object(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded
) -> None:
    # Stripe made the object and the answer was lost; the SDK's retry gets it replayed under the same key.
    fake.inject(Fault("drop", "POST", "/v1/payment_intents"), Fault("drop", "POST", "/v1/transfers"))
    support(settings, Incident.DISPUTES)
    support(settings, Incident.TRANSFERS)
    assert_each_once(settings, mysql_server, fake, seeded)
    keys = [r.idempotency_key for r in fake.writes() if r.path == "/v1/payment_intents"]
    assert len(keys) == 2 and len(set(keys)) == 1


@pytest.mark.parametrize("work", [False, True])  # Stripe made the object before its 500, or did not
def test_a_stored_500_fails_its_item_for_one_run_and_the_next_run_makes_or_finds_one_object(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded, work: bool
) -> None:
    fake.inject(
        Fault("stored", "POST", "/v1/payment_intents", work=work, should_retry="false"),
        Fault("stored", "POST", "/v1/transfers", work=work, should_retry="false"),
    )
    first = [*support(settings, Incident.DISPUTES).plan.items, *support(settings, Incident.TRANSFERS).plan.items]
    failed = [i for i in first if i.failed]
    assert [str(i.problem) for i in failed] == ["stripe", "stripe"] and all("500" in i.reason for i in failed)

    support(settings, Incident.DISPUTES)
    support(settings, Incident.TRANSFERS)
    assert_each_once(settings, mysql_server, fake, seeded)
    keys = [r.idempotency_key or "" for r in fake.writes() if r.path == "/v1/payment_intents"]
    # Found by the listing when Stripe made it; else the stored 500 moves the request to its next key.
    # cohabs-support:<job>:<subject>:<digest>, then :1, :2… for the keys after it
    assert [k.split(":")[4:] for k in keys] == ([[]] if work else [[], [], ["1"]])


def test_an_unreadable_account_stops_before_any_change(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded
) -> None:
    fake.inject(Fault("status", "GET", "/v1/transfers", count=50, status=500))
    with pytest.raises(CannotRun, match="could not read the Stripe account, so nothing was changed"):
        support(settings, Incident.TRANSFERS)
    assert fake.writes() == []
