"""The fake's payment resources, through the official SDK: what support.py will meet at Stripe."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from devkit.fake import FakeStripe, Payments
from devkit.mysql import Server
from devkit.support_account import SupportRows, lookalike_accounts, read_rows, seed
from tests.helpers import NOW, ROOT

EUR_BANK_TRANSFER: Any = {
    "customer_balance": {
        "funding_type": "bank_transfer",
        "bank_transfer": {"type": "eu_bank_transfer", "eu_bank_transfer": {"country": "BE"}},
    }
}


@pytest.fixture
def payments(fake: FakeStripe) -> Payments:
    return fake.payments


@pytest.fixture
def client(fake: FakeStripe, payments: Payments) -> Iterator[stripe.StripeClient]:
    yield stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)


def changed(params: Any, **values: Any) -> Any:
    """The same parameters with some changed or added (typed Any: some are ones the SDK would not declare)."""
    return {**params, **values}


def customer(client: stripe.StripeClient) -> str:
    return client.v1.customers.create(params={"name": "Tenant"}).id


def bank_transfer(client: stripe.StripeClient, customer_id: str, amount: int = 150000, **extra: Any) -> Any:
    params: Any = {
        "amount": amount,
        "currency": "eur",
        "customer": customer_id,
        "allowed_payment_method_types": ["customer_balance"],
        "payment_method_data": {"type": "customer_balance"},
        "payment_method_options": EUR_BANK_TRANSFER,
        "confirm": True,
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


def test_an_account_the_platform_has_not_connected_answers_as_stripe_does(
    client: stripe.StripeClient, payments: Payments
) -> None:
    payments.add_account("acct_1House0000000000", name="Flagey")
    assert client.v1.accounts.retrieve("acct_1House0000000000").business_profile.name == "Flagey"  # type: ignore[union-attr]
    with pytest.raises(stripe.PermissionError, match="does not have access to account 'acct_1HouseOOOO000000'"):
        client.v1.accounts.retrieve("acct_1HouseOOOO000000")
    payments.unknown_account_status = 404  # some emulators answer this; the tool must cope with both
    with pytest.raises(stripe.InvalidRequestError, match="No such account") as caught:
        client.v1.accounts.retrieve("acct_1HouseOOOO000000")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"


def test_a_bank_transfer_payment_waits_for_the_money_then_succeeds(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    tenant = customer(client)
    intent = bank_transfer(client, tenant, description="INVOICE - 0042")
    assert intent.status == "requires_action" and intent.payment_method_types == ["customer_balance"]
    instructions: Any = intent.next_action.display_bank_transfer_instructions
    assert instructions.type == "eu_bank_transfer" and instructions.amount_remaining == 150000
    assert instructions.financial_addresses[0].iban.country == "BE"
    assert fake.all("charges") == [] and payments.available == {}

    client.v1.test_helpers.customers.fund_cash_balance(tenant, params={"amount": 100000, "currency": "eur"})
    partly = client.v1.payment_intents.retrieve(intent.id)
    assert partly.status == "requires_action"
    assert partly.next_action.display_bank_transfer_instructions.amount_remaining == 50000  # type: ignore[union-attr]

    client.v1.test_helpers.customers.fund_cash_balance(
        tenant, params={"amount": 60000, "currency": "eur", "reference": instructions.reference or ""}
    )
    paid = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert paid.status == "succeeded" and paid.amount_received == 150000 and paid.next_action is None
    charge: Any = paid.latest_charge
    assert charge.status == "succeeded" and charge.payment_method_details.type == "customer_balance"
    assert charge.description == "INVOICE - 0042" and charge.payment_intent == intent.id
    assert payments.available == {"eur": 150000} and payments.cash == {(tenant, "eur"): 10000}


def test_a_bank_transfer_payment_is_refused_when_stripe_would_refuse_it(client: stripe.StripeClient) -> None:
    tenant = customer(client)
    with pytest.raises(stripe.InvalidRequestError, match="customer_balance needs a customer"):
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "eur", "allowed_payment_method_types": ["customer_balance"]}
        )
    with pytest.raises(stripe.InvalidRequestError, match="needs us_bank_transfer") as wrong_type:
        bank_transfer(client, tenant, currency="usd")
    assert wrong_type.value.code == "parameter_invalid"
    no_country: Any = {
        "customer_balance": {"funding_type": "bank_transfer", "bank_transfer": {"type": "eu_bank_transfer"}}
    }
    with pytest.raises(stripe.InvalidRequestError, match=r"eu_bank_transfer\]\[country\]"):
        bank_transfer(client, tenant, payment_method_options=no_country)
    with pytest.raises(stripe.InvalidRequestError) as old_name:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "eur", "payment_method_types": ["card"]})  # type: ignore[typeddict-unknown-key]
    assert old_name.value.code == "payment_method_types_no_longer_supported"
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: source"):
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "eur", "source": "tok_visa"})  # type: ignore[typeddict-unknown-key]


def test_a_payment_intent_created_without_confirming_waits_for_its_confirmation(client: stripe.StripeClient) -> None:
    tenant = customer(client)
    intent = bank_transfer(client, tenant, confirm=False)
    assert intent.status == "requires_confirmation" and intent.next_action is None
    confirmed = client.v1.payment_intents.confirm(intent.id)
    assert confirmed.status == "requires_action"
    with pytest.raises(stripe.InvalidRequestError, match="status of requires_action"):
        client.v1.payment_intents.confirm(intent.id)
    listed = client.v1.payment_intents.list(params={"customer": tenant})
    assert [p.id for p in listed.data] == [intent.id]
    assert client.v1.payment_intents.list(params={"customer": customer(client)}).data == []


def test_creates_replay_under_the_same_idempotency_key(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    tenant = customer(client)
    first = bank_transfer(client, tenant, description="INVOICE - 1")
    options: Any = {"idempotency_key": "dispute-dp_1"}
    params: Any = {
        "amount": 150000,
        "currency": "eur",
        "customer": tenant,
        "allowed_payment_method_types": ["customer_balance"],
    }
    once = client.v1.payment_intents.create(params=params, options=options)
    again = client.v1.payment_intents.create(params=params, options=options)
    assert once.id == again.id and len(fake.all("payment_intents")) == 2 and first.id != once.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(params=changed(params, amount=150001), options=options)

    payments.add_account("acct_1Flagey000000000")
    charge = payments.add_charge(None, amount=88000, currency="eur", customer=tenant)
    transfer: Any = {
        "amount": 88000,
        "currency": "eur",
        "destination": "acct_1Flagey000000000",
        "source_transaction": charge["id"],
    }
    made = client.v1.transfers.create(params=transfer, options={"idempotency_key": "transfer-p1"})
    assert client.v1.transfers.create(params=transfer, options={"idempotency_key": "transfer-p1"}).id == made.id
    assert len(fake.all("transfers")) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.transfers.create(params=changed(transfer, amount=1), options={"idempotency_key": "transfer-p1"})


def test_a_transfer_without_a_source_needs_the_available_balance(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    payments.add_account("acct_1Flagey000000000")
    params: Any = {"amount": 88000, "currency": "eur", "destination": "acct_1Flagey000000000"}
    with pytest.raises(stripe.InvalidRequestError, match="insufficient funds") as caught:
        client.v1.transfers.create(params=params)
    assert caught.value.code == "balance_insufficient" and fake.all("transfers") == []
    payments.available["eur"] = 100000
    made = client.v1.transfers.create(params=changed(params, transfer_group="rent"))
    assert made.source_transaction is None and made.transfer_group == "rent"
    assert client.v1.balance.retrieve().available[0].amount == 12000
    with pytest.raises(stripe.InvalidRequestError, match="No such destination: 'acct_1FlageyOOOOOOOOO'"):
        client.v1.transfers.create(params=changed(params, amount=1, destination="acct_1FlageyOOOOOOOOO"))


def test_a_transfer_from_a_charge_needs_a_succeeded_charge_with_enough_left(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    payments.add_account("acct_1Flagey000000000")
    tenant = customer(client)
    paid = payments.add_charge(None, amount=88000, currency="eur", customer=tenant)
    failed = payments.add_charge(None, amount=88000, currency="eur", customer=tenant, status="failed")
    pending = payments.add_charge(
        None, amount=24000, currency="eur", customer=tenant, status="pending", method="sepa_debit"
    )
    assert (
        pending["id"].startswith("py_")
        and fake.objects["payment_intents"][pending["payment_intent"]]["status"] == "processing"
    )

    def transfer(charge: str, amount: int, currency: str = "eur") -> Any:
        params: Any = {"amount": amount, "currency": currency, "destination": "acct_1Flagey000000000"}
        return client.v1.transfers.create(params=changed(params, source_transaction=charge))

    for refused, why in ((failed, "status failed"), (pending, "status pending")):
        with pytest.raises(stripe.InvalidRequestError, match=why):
            transfer(refused["id"], 100)
    with pytest.raises(stripe.InvalidRequestError, match="must be the same as the transfer currency"):
        transfer(paid["id"], 100, "usd")
    with pytest.raises(stripe.InvalidRequestError, match="No such charge"):
        transfer("ch_unknown", 100)
    # The balance is empty, yet a transfer funded by its charge goes through; the charge caps it.
    assert transfer(paid["id"], 80000).source_transaction == paid["id"]
    with pytest.raises(stripe.InvalidRequestError, match=r"has left to transfer \(8000\)"):
        transfer(paid["id"], 8001)
    assert transfer(paid["id"], 8000).amount == 8000
    refunded = payments.add_charge(None, amount=50000, currency="eur", customer=tenant)
    payments.refund(refunded["id"])
    with pytest.raises(stripe.InvalidRequestError, match=r"has left to transfer \(0\)"):
        transfer(refunded["id"], 1)
    assert [t["amount"] for t in payments.transfers_of(paid["id"])] == [80000, 8000]


def test_a_transfer_needs_the_destinations_transfers_capability_and_its_refusal_is_kept_under_its_key(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    payments.add_account("acct_1Flagey000000000")
    payments.set_transfers_capability("acct_1Flagey000000000", "inactive")
    charge = payments.add_charge(None, amount=88000, currency="eur", customer=customer(client))
    params: Any = {
        "amount": 88000,
        "currency": "eur",
        "destination": "acct_1Flagey000000000",
        "source_transaction": charge["id"],
    }
    key: Any = {"idempotency_key": "transfer-p1"}
    with pytest.raises(stripe.InvalidRequestError, match="capabilities enabled: transfers") as refused:
        client.v1.transfers.create(params=params, options=key)
    assert refused.value.code == "insufficient_capabilities_for_transfer"
    payments.set_transfers_capability("acct_1Flagey000000000", "active")
    # Fixed, yet the same key answers the refusal it kept (a day, at Stripe); another key makes the transfer.
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        client.v1.transfers.create(params=params, options=key)
    assert (replayed.value.headers or {}).get("idempotent-replayed") == "true"
    assert client.v1.transfers.create(params=params, options={"idempotency_key": "transfer-p1:1"}).amount == 88000
    assert len(fake.all("transfers")) == 1


def test_a_transfer_reversed_in_part_is_not_reversed_until_all_of_it_is_back(
    client: stripe.StripeClient, payments: Payments
) -> None:
    payments.add_account("acct_1Flagey000000000")
    charge = payments.add_charge(None, amount=88000, currency="eur", customer=customer(client))
    made = payments.create_transfer(
        {
            "amount": "88000",
            "currency": "eur",
            "destination": "acct_1Flagey000000000",
            "source_transaction": charge["id"],
        }
    )
    payments.reverse_transfer(made["id"], 30000)
    part = client.v1.transfers.retrieve(made["id"])
    assert (part.amount_reversed, part.reversed, part.reversals.data[0].amount) == (30000, False, 30000)
    client.v1.transfers.reversals.create(made["id"])  # the rest, as the API does without an amount
    whole = client.v1.transfers.retrieve(made["id"])
    assert (whole.amount_reversed, whole.reversed, len(whole.reversals.data)) == (88000, True, 2)


def test_a_bank_transfer_request_is_canceled_and_what_it_received_goes_back_to_the_cash_balance(
    client: stripe.StripeClient, payments: Payments
) -> None:
    tenant = customer(client)
    intent = bank_transfer(client, tenant)
    shown: Any = intent.next_action.display_bank_transfer_instructions
    assert shown.hosted_instructions_url.startswith("https://payments.stripe.com/bank_transfers/instructions/test_")
    iban = shown.financial_addresses[0].iban
    assert iban.account_holder_address.country == "BE" and iban.bic and shown.reference
    payments.fund_cash_balance(tenant, 40000, "eur", shown.reference)
    canceled = client.v1.payment_intents.cancel(intent.id, params={"cancellation_reason": "duplicate"})
    assert (canceled.status, canceled.cancellation_reason, canceled.next_action) == ("canceled", "duplicate", None)
    assert payments.cash == {(tenant, "eur"): 40000}
    with pytest.raises(stripe.InvalidRequestError, match="status of canceled") as again:
        client.v1.payment_intents.cancel(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"


def test_transfers_list_by_destination_group_and_date_in_pages(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    for account in ("acct_1Flagey000000000", "acct_1Parvis000000000"):
        payments.add_account(account)
    payments.available["eur"] = 10_000_000
    made = []
    moment = 0

    def clock() -> float:
        return moment

    fake.now = clock
    for index in range(5):
        moment = 1_700_000_000 + index * 100
        made.append(
            client.v1.transfers.create(
                params={
                    "amount": 1000 + index,
                    "currency": "eur",
                    "destination": "acct_1Flagey000000000" if index % 2 == 0 else "acct_1Parvis000000000",
                    "transfer_group": f"rent_{index // 2}",
                }
            ).id
        )
    flagey = client.v1.transfers.list(params={"destination": "acct_1Flagey000000000", "limit": 2})
    assert [t.id for t in flagey.data] == [made[4], made[2]] and flagey.has_more
    rest = client.v1.transfers.list(
        params={"destination": "acct_1Flagey000000000", "limit": 2, "starting_after": flagey.data[-1].id}
    )
    assert [t.id for t in rest.data] == [made[0]] and not rest.has_more
    assert [t.id for t in client.v1.transfers.list(params={"transfer_group": "rent_1"}).data] == [made[3], made[2]]
    window = client.v1.transfers.list(params={"created": {"gte": 1_700_000_100, "lt": 1_700_000_300}})
    assert [t.id for t in window.data] == [made[2], made[1]]
    back = client.v1.transfers.list(params={"limit": 2, "ending_before": made[1]})
    assert [t.id for t in back.data] == [made[3], made[2]] and back.has_more
    every = [t.id for t in client.v1.transfers.list(params={"limit": 2}).auto_paging_iter()]
    assert every == made[::-1]


def test_disputes_page_newest_first_filter_and_expand(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    tenant = customer(client)
    charges = [payments.add_charge(None, amount=150000, currency="eur", customer=tenant) for _ in range(3)]
    disputes = [payments.open_dispute(c["id"], created=1_700_000_000 + i) for i, c in enumerate(charges)]
    page = client.v1.disputes.list(params={"limit": 2, "expand": ["data.charge", "data.payment_intent"]})
    assert [d.id for d in page.data] == [disputes[2]["id"], disputes[1]["id"]] and page.has_more
    first: Any = page.data[0]
    assert first.charge.id == charges[2]["id"] and first.charge.disputed
    assert (
        first.payment_intent.id == charges[2]["payment_intent"]
        and first.payment_intent.latest_charge == charges[2]["id"]
    )
    last = client.v1.disputes.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [d.id for d in last.data] == [disputes[0]["id"]] and not last.has_more
    by_charge = client.v1.disputes.list(params={"charge": charges[0]["id"]})
    by_intent = client.v1.disputes.list(params={"payment_intent": charges[1]["payment_intent"]})
    assert [d.id for d in by_charge.data] == [disputes[0]["id"]] and [d.id for d in by_intent.data] == [
        disputes[1]["id"]
    ]
    assert client.v1.disputes.retrieve(disputes[0]["id"]).status == "needs_response"
    with pytest.raises(stripe.InvalidRequestError, match=r"cannot be expanded \(data.reason\)"):
        client.v1.disputes.list(params={"expand": ["data.reason"]})
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: status"):
        client.v1.disputes.list(params=changed({}, status="needs_response"))


def test_a_chargeback_withdraws_amount_and_fee_an_inquiry_does_not(
    client: stripe.StripeClient, payments: Payments
) -> None:
    tenant = customer(client)
    inquiry = payments.open_dispute(
        payments.add_charge(None, amount=70000, currency="eur", customer=tenant)["id"], status="warning_needs_response"
    )
    assert payments.available.get("eur", 0) == 0 and inquiry["balance_transactions"] == []
    chargeback = payments.open_dispute(payments.add_charge(None, amount=150000, currency="eur", customer=tenant)["id"])
    assert payments.available == {"eur": -152000}
    withdrawn = client.v1.disputes.retrieve(chargeback["id"]).balance_transactions[0]
    assert (withdrawn.amount, withdrawn.fee, withdrawn.net) == (-150000, 2000, -152000)
    payments.set_dispute_status(inquiry["id"], "needs_response")
    assert payments.available == {"eur": -152000 - 72000}
    payments.set_dispute_status(chargeback["id"], "won")
    assert payments.available == {"eur": -2000 - 72000}  # the fee is not returned


def test_closing_or_answering_a_dispute_is_recorded(client: stripe.StripeClient, payments: Payments) -> None:
    charge = payments.add_charge(None, amount=150000, currency="eur", customer=customer(client))
    dispute = payments.open_dispute(charge["id"])
    assert payments.dispute_writes() == []
    client.v1.disputes.update(dispute["id"], params={"evidence": {"uncategorized_text": "paid"}})
    assert client.v1.disputes.retrieve(dispute["id"]).status == "under_review"
    with pytest.raises(stripe.InvalidRequestError, match="already under_review"):
        client.v1.disputes.close(dispute["id"])
    assert [r.path for r in payments.dispute_writes()] == [
        f"/v1/disputes/{dispute['id']}",
        f"/v1/disputes/{dispute['id']}/close",
    ]


def test_an_invoice_is_found_from_its_payment(client: stripe.StripeClient, payments: Payments) -> None:
    tenant = customer(client)
    invoiced = payments.add_charge(None, amount=150000, currency="eur", customer=tenant)
    plain = payments.add_charge(None, amount=150000, currency="eur", customer=tenant)
    invoice = payments.add_invoice(invoiced["payment_intent"], number="ABCD1234-0007")
    found = client.v1.invoice_payments.list(
        params={
            "payment": {"type": "payment_intent", "payment_intent": invoiced["payment_intent"]},
            "expand": ["data.invoice"],
        }
    )
    assert [p.invoice.number for p in found.data] == ["ABCD1234-0007"]  # type: ignore[union-attr]
    assert client.v1.invoices.retrieve(invoice["id"]).number == "ABCD1234-0007"
    none = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": plain["payment_intent"]}}
    )
    assert none.data == []
    with pytest.raises(stripe.InvalidRequestError, match=r"Missing required param: payment\[type\]"):
        client.v1.invoice_payments.list(params=changed({}, payment={"payment_intent": plain["payment_intent"]}))
    charge = client.v1.charges.retrieve(invoiced["id"])
    assert "invoice" not in charge  # gone from charges in this API version: the invoice payments list replaces it


def test_the_lists_support_reads_filter_on_created_and_on_what_stripe_documents(
    client: stripe.StripeClient, fake: FakeStripe, payments: Payments
) -> None:
    moment = 1_700_000_000
    fake.now = lambda: moment
    tenants = [customer(client), customer(client)]
    made: dict[str, list[str]] = {"accounts": [], "charges": [], "intents": [], "invoices": [], "disputes": []}
    for index in range(4):
        moment = 1_700_000_000 + index * 100
        made["accounts"].append(payments.add_account(None)["id"])
        charge = payments.add_charge(None, amount=1000, currency="eur", customer=tenants[index % 2], created=moment)
        made["charges"].append(charge["id"])
        made["intents"].append(charge["payment_intent"])
        made["invoices"].append(payments.add_invoice(charge["payment_intent"], created=moment)["id"])
        made["disputes"].append(payments.open_dispute(charge["id"], created=moment)["id"])
    window: Any = {"limit": 100, "created": {"gte": 1_700_000_100, "lt": 1_700_000_300}}
    middle = slice(2, 0, -1)  # the second and third made, newest first
    assert [a.id for a in client.v1.accounts.list(params=window).data] == made["accounts"][middle]
    assert [c.id for c in client.v1.charges.list(params=window).data] == made["charges"][middle]
    assert [i.id for i in client.v1.payment_intents.list(params=window).data] == made["intents"][middle]
    assert [i.id for i in client.v1.invoices.list(params=window).data] == made["invoices"][middle]
    assert [d.id for d in client.v1.disputes.list(params=window).data] == made["disputes"][middle]
    paid = client.v1.invoice_payments.list(params=window).data
    assert [p.invoice for p in paid] == made["invoices"][middle]
    # Filters the lists document, on top of created.
    of_first = changed(window, customer=tenants[0])
    assert [i.id for i in client.v1.payment_intents.list(params=of_first).data] == [made["intents"][2]]
    assert [i.id for i in client.v1.invoices.list(params=of_first).data] == [made["invoices"][2]]
    assert client.v1.invoices.list(params=changed(window, status="open")).data == []


# ----- seeding an account shaped like the support data -------------------------------------------

HOUSES = [
    {"id": "h-flagey", "name": "Flagey 10", "stripeAccountId": "acct_1TestAAAAAAAAA"},
    {"id": "h-parvis", "name": "Parvis 69", "stripeAccountId": "acct_1TestOBOBOBOB"},
    {"id": "h-louis", "name": "Louis 880", "stripeAccountId": "acct_1Test0BOB0BOB"},
]
LEASES = [
    {"id": "l-flagey", "startDate": "2022-05-01 16:00:00", "endDate": "2023-05-01 08:00:00", "houseId": "h-flagey"},
    {"id": "l-ended", "startDate": "2021-01-01 16:00:00", "endDate": "2022-05-01 08:00:00", "houseId": "h-flagey"},
    {"id": "l-parvis", "startDate": "2021-01-01 16:00:00", "endDate": "2023-02-01 08:00:00", "houseId": "h-parvis"},
    {"id": "l-louis", "startDate": "2022-03-01 16:00:00", "endDate": "2023-08-01 08:00:00", "houseId": "h-louis"},
]


def payment(ident: str, lease: str, amount: str, paid: str, charge: str, **extra: Any) -> dict[str, Any]:
    row = {"id": ident, "leaseId": lease, "amount": amount, "paid": paid, "stripeChargeId": charge}
    return {"pending": 0, "disputed": 0, "dueDate": "2022-12-15 23:55:45", "paymentDate": None, **row, **extra}


PAYMENTS = [
    payment("p-ok-2", "l-flagey", "880.00", "880.00", "py_3TestAAAAAAAAAA2bbbbbbb"),
    payment("p-ok-1", "l-flagey", "880.00", "880.00", "py_3TestAAAAAAAAAA1aaaaaaa"),
    payment("p-pending", "l-flagey", "240.00", "240.00", "py_3TestAAAAAAAAAA3ccccccc", pending=1),
    payment("p-no-charge", "l-flagey", "880.00", "880.00", "", pending=1),
    payment("p-unpaid", "l-parvis", "1500.00", "0.00", "py_3TestAAAAAAAAAA4ddddddd"),
    payment("p-late", "l-ended", "700.00", "700.00", "py_3TestAAAAAAAAAA5eeeeeee", dueDate="2022-10-15 23:55:45"),
    payment("p-disputed", "l-parvis", "1500.00", "1500.00", "ch_3TestAAAAAAAAAA6fffffff", disputed=1),
]


def test_the_look_alike_account_is_the_one_with_the_digit() -> None:
    assert lookalike_accounts(h["stripeAccountId"] for h in HOUSES) == {"acct_1Test0BOB0BOB"}
    assert lookalike_accounts(["acct_1", "acct_2"]) == set()


def test_seeding_shapes_the_account_like_the_support_data(client: stripe.StripeClient, fake: FakeStripe) -> None:
    seeded = seed(fake, SupportRows(HOUSES, LEASES, PAYMENTS), invoiced={"p-disputed"})

    assert seeded.missing_accounts == {"acct_1Test0BOB0BOB"}
    assert client.v1.accounts.retrieve("acct_1TestOBOBOBOB").metadata["cohabs_house_id"] == "h-parvis"  # type: ignore[index]
    with pytest.raises(stripe.PermissionError):
        client.v1.accounts.retrieve("acct_1Test0BOB0BOB")
    statuses = {p: client.v1.charges.retrieve(c).status for p, c in seeded.charges.items()}
    assert statuses == {
        "p-ok-1": "succeeded",
        "p-ok-2": "succeeded",
        "p-pending": "pending",
        "p-unpaid": "failed",
        "p-late": "succeeded",
        "p-disputed": "succeeded",
    }
    disputed = client.v1.charges.retrieve(seeded.charges["p-disputed"], params={"expand": ["payment_intent"]})
    intent: Any = disputed.payment_intent
    assert disputed.disputed and disputed.amount == 150000 and disputed.description == "Rent December 2022 - Parvis 69"
    assert intent.id.startswith("pi_3TestAAAAAAAAAA6") and intent.id != "pi_3TestAAAAAAAAAA6fffffff"
    assert disputed.customer == seeded.customers["l-parvis"]
    [dispute] = client.v1.disputes.list().data
    assert dispute.id == seeded.disputes["p-disputed"] and dispute.charge == disputed.id
    assert dispute.payment_intent == intent.id and dispute.status == "needs_response"
    assert seeded.payments.available == {"eur": -152000}
    # The first payment the company would have passed on already was; the others wait for support.py.
    [transfer] = client.v1.transfers.list(params={"destination": "acct_1TestAAAAAAAAA"}).data
    assert transfer.id == seeded.transfers["p-ok-1"] and transfer.source_transaction == seeded.charges["p-ok-1"]
    assert (
        transfer.amount == 88000
        and transfer.transfer_group == f"group_{fake.objects['charges'][seeded.charges['p-ok-1']]['payment_intent']}"
    )
    found = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": intent.id}, "expand": ["data.invoice"]}
    )
    assert [p.invoice.id for p in found.data] == [seeded.invoices["p-disputed"]]  # type: ignore[union-attr]


def test_seeding_choices_are_arguments(fake: FakeStripe) -> None:
    seeded = seed(
        fake,
        SupportRows(HOUSES, LEASES, PAYMENTS),
        transferred={"p-ok-1", "p-ok-2"},
        missing_accounts={"acct_1TestOBOBOBOB"},
        dispute_status="warning_needs_response",
        available={"eur": 5000},
    )
    assert set(fake.objects["accounts"]) == {"acct_1TestAAAAAAAAA", "acct_1Test0BOB0BOB"}
    assert set(seeded.transfers) == {"p-ok-1", "p-ok-2"}
    assert [d["status"] for d in fake.all("disputes")] == ["warning_needs_response"]
    assert seeded.payments.available == {"eur": 5000}  # an inquiry takes no money
    with pytest.raises(ValueError, match="p-disputed"):
        seed(
            FakeStripe(),
            SupportRows(HOUSES, LEASES, PAYMENTS),
            transferred={"p-disputed"},
            missing_accounts={"acct_1TestOBOBOBOB"},
        )


def support_database(mysql_server: Server, db_name: str) -> None:
    """The support tables (the columns seeding reads) holding the rows above."""
    conn = mysql_server.connect(db_name)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE houses (id varchar(32) PRIMARY KEY, name varchar(64), stripeAccountId varchar(32))")
        cur.execute(
            "CREATE TABLE leases (id varchar(32) PRIMARY KEY, startDate datetime, endDate datetime, houseId varchar(32))"
        )
        cur.execute(
            "CREATE TABLE payments (id varchar(32) PRIMARY KEY, amount decimal(10,2), paid decimal(10,2), "
            "pending tinyint(1), dueDate datetime, paymentDate datetime, stripeChargeId varchar(64), "
            "leaseId varchar(32), disputed tinyint(1))"
        )
        for table, rows in (("houses", HOUSES), ("leases", LEASES), ("payments", PAYMENTS)):
            columns = list(rows[0])
            cur.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                [[row[c] for c in columns] for row in rows],
            )
    conn.close()


def test_rows_read_from_a_restored_database_seed_the_same_account(
    mysql_server: Server, db_name: str, fake: FakeStripe
) -> None:
    support_database(mysql_server, db_name)
    conn = mysql_server.connect(db_name)
    try:
        rows = read_rows(conn)
    finally:
        conn.close()
    assert [p["id"] for p in rows.payments] == sorted(p["id"] for p in PAYMENTS)
    assert isinstance(rows.leases[0]["endDate"], datetime)
    seeded = seed(fake, rows)
    assert set(seeded.charges) == {p["id"] for p in PAYMENTS if p["stripeChargeId"]}
    assert set(seeded.transfers) == {"p-ok-1"} and set(seeded.disputes) == {"p-disputed"}


@pytest.mark.parametrize("named", [True, False])  # --seed-support NAME, or SUPPORT_DB_NAME as support reads it
def test_one_command_starts_the_emulator_seeded_for_support_and_it_serves_the_sync_too(
    mysql_server: Server, db_name: str, named: bool
) -> None:
    support_database(mysql_server, db_name)
    env = {
        **os.environ,
        "DB_HOST": mysql_server.host,
        "DB_PORT": str(mysql_server.port),
        "DB_USER": mysql_server.user,
        "DB_PASSWORD": mysql_server.password,
        "SUPPORT_DB_NAME": "relink_not_this_one" if named else db_name,
    }
    seeding = ["--seed-support", db_name] if named else ["--seed-support"]
    command = [sys.executable, "-m", "devkit.fake_stripe", "--port", "0", *seeding]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]  # "fake Stripe listening on URL": up and seeded
        assert f"seeded from `{db_name}`" in (said := process.stdout.readline())
        assert "1 disputes, 1 transfers already made" in said
        client = stripe.StripeClient("sk_test_demo", base_addresses={"api": url}, max_network_retries=0)
        [dispute] = client.v1.disputes.list().data
        assert dispute.charge == "ch_3TestAAAAAAAAAA6fffffff"
        # The same server serves the sync's resources: one emulator for both jobs.
        made = client.v1.products.create(params={"name": "Room 1", "metadata": {"cohabs_room_id": "r1"}})
        assert [p.id for p in client.v1.products.list().data] == [made.id]
    finally:
        process.terminate()
        process.wait()


def test_seeding_from_a_database_that_is_not_there_says_how_to_restore_it(mysql_server: Server) -> None:
    env = {**os.environ, "DB_HOST": mysql_server.host, "DB_PORT": str(mysql_server.port)}
    env.update(DB_USER=mysql_server.user, DB_PASSWORD=mysql_server.password)
    command = [sys.executable, "-m", "devkit.fake_stripe", "--port", "0", "--seed-support", "relink_absent_db"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "./restore_dump.sh --database relink_absent_db" in done.stderr


def test_seeded_objects_keep_the_dates_of_their_rows(fake: FakeStripe) -> None:
    seeded = seed(fake, SupportRows(HOUSES, LEASES, PAYMENTS))
    late = fake.objects["charges"][seeded.charges["p-late"]]
    assert datetime.fromtimestamp(late["created"], UTC) == datetime(2022, 10, 15, 23, 55, 45, tzinfo=UTC)
    # The dispute is today's incident: it arrives on the fake's clock, after the payment.
    assert fake.objects["disputes"][seeded.disputes["p-disputed"]]["created"] == int(
        NOW.replace(tzinfo=UTC).timestamp()
    )


def test_a_row_holding_a_payment_intent_id_gets_that_payment_intent(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    rows = [payment("p-intent", "l-parvis", "1500.00", "1500.00", "pi_3TestAAAAAAAAAA7ggggggg", disputed=1)]
    seeded = seed(fake, SupportRows(HOUSES, LEASES, rows))
    assert seeded.intents == {"p-intent": "pi_3TestAAAAAAAAAA7ggggggg"}
    [dispute] = client.v1.disputes.list(params={"payment_intent": "pi_3TestAAAAAAAAAA7ggggggg"}).data
    assert dispute.charge == seeded.charges["p-intent"] != "pi_3TestAAAAAAAAAA7ggggggg"
    assert client.v1.charges.retrieve(seeded.charges["p-intent"]).payment_intent == "pi_3TestAAAAAAAAAA7ggggggg"


def test_the_emulator_seeds_round_3s_money_facts_from_its_arguments(mysql_server: Server, db_name: str) -> None:
    support_database(mysql_server, db_name)
    env = {**os.environ, "DB_HOST": mysql_server.host, "DB_PORT": str(mysql_server.port)}
    env.update(DB_USER=mysql_server.user, DB_PASSWORD=mysql_server.password)
    money = ["--dispute-status", "prevented", "--prevented-withdrawn", "--tenant-cash", "5000"]
    money += ["--settle", "gbp:eur:1.17"]
    command = [sys.executable, "-m", "devkit.fake_stripe", "--port", "0", "--seed-support", db_name, *money]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert "1 disputes" in process.stdout.readline()
        client = stripe.StripeClient("sk_test_demo", base_addresses={"api": url}, max_network_retries=0)
        [dispute] = client.v1.disputes.list().data
        assert dispute.status == "prevented" and [t.amount for t in dispute.balance_transactions] == [-dispute.amount]
        customer = client.v1.charges.retrieve(str(dispute.charge)).customer
        held = client.v1.customers.cash_balance.retrieve(str(customer)).to_dict()["available"]
        assert held == {dispute.currency: 5000}
        assert client.v1.accounts.retrieve_current().country == "BE"
    finally:
        process.terminate()
        process.wait()
