"""support.py on many items: the account read in a few lists, items side by side, and each thing made once.

The data: the support dump with 40 more settled payments and 40 more disputed
ones (devkit/support_dump.py), the fake seeded from it.
"""

from __future__ import annotations

from collections import Counter

import pytest
import stripe

from cohabs.shared.settings import Settings
from cohabs.support.items import Action, Incident
from devkit.fake.limits import route_of
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from devkit.support_account import Seeded
from devkit.support_dump import SupportDump
from tests.helpers import assert_requested_once, assert_transferred_once, moved, ours, owed, payments, query, support

pytestmark = pytest.mark.usefixtures("quick_sdk_retries")
PER_ITEM = ("GET /v1/charges/{id}", "GET /v1/payment_intents/{id}", "GET /v1/invoices/{id}", "GET /v1/accounts/{id}")


def reads(fake: FakeStripe) -> Counter[str]:
    """The GET requests the fake saw, per endpoint."""
    return Counter(route_of(r.method, r.path) for r in fake.requests if r.method == "GET")


def test_many_disputes_are_read_in_a_few_lists_and_each_is_re_collected_once(
    settings: Settings, mysql_server: Server, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    plan = support(settings, Incident.DISPUTES, dry_run=True).plan
    planned = reads(fake)
    assert fake.writes() == [] and plan.totals(Action.COLLECT) != {}
    assert [i.action for i in plan.items].count(Action.COLLECT) == len(many_seeded.disputes) == 41
    # A page or two per list, whatever the number of disputes: nothing is read dispute by dispute.
    assert not any(planned[endpoint] for endpoint in PER_ITEM), planned
    assert planned["GET /v1/invoice_payments"] <= 3 and sum(planned.values()) <= 12, planned

    fake.requests.clear()
    done = support(settings, Incident.DISPUTES)
    assert set(reads(fake)) == set(planned)  # the dry run read as the run does
    assert [i.action for i in done.plan.items].count(Action.COLLECT) == 41 and not any(
        i.failed for i in done.plan.items
    )
    assert_requested_once(settings, mysql_server, fake, many_seeded, many_data)
    writes = len(fake.writes())
    again = support(settings, Incident.DISPUTES)
    assert len(fake.writes()) == writes and {i.action for i in again.plan.items} == {Action.WAIT}  # for the tenants
    # The transfers command reads the 41 re-collections' PaymentIntents (their rows hold pi_ ids) in a list too.
    fake.requests.clear()
    waiting = support(settings, Incident.TRANSFERS)
    assert reads(fake)["GET /v1/payment_intents/{id}"] == 0 and reads(fake)["GET /v1/payment_intents"] <= 2
    assert [i.action for i in waiting.plan.items].count(Action.WAIT) == 41


def test_many_payments_are_read_in_a_few_lists_and_each_is_transferred_once(
    settings: Settings, mysql_server: Server, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    done = support(settings, Incident.TRANSFERS)
    read = reads(fake)
    assert read["GET /v1/charges/{id}"] == 0 and read["GET /v1/charges"] <= 2 and read["GET /v1/transfers"] <= 2, read
    assert read["GET /v1/accounts/{id}"] == 3 and not read["GET /v1/accounts"]  # three houses: asked at once
    assert len([i for i in done.plan.items if i.action is Action.TRANSFER]) == len(owed(many_data, many_seeded)) == 43
    assert_transferred_once(fake, many_seeded, many_data)
    writes = len(fake.writes())
    support(settings, Incident.TRANSFERS)
    assert len(fake.writes()) == writes


def test_rows_dated_far_from_their_charges_are_read_one_by_one_and_never_paid_twice(
    settings: Settings, mysql_server: Server, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    # The rows say 2025 where Stripe dated the charges and the transfer already made in 2022: the bounded
    # lists hold none of them, so each charge is retrieved, and the transfers are read from before the oldest.
    moved(settings, mysql_server, years=3)
    done = support(settings, Incident.TRANSFERS)
    assert reads(fake)["GET /v1/charges/{id}"] > 40
    (already,) = many_seeded.transfers
    assert [i.action for i in done.plan.items if i.payment_id == already] == [Action.DONE]
    assert_transferred_once(fake, many_seeded, many_data)


def test_requests_made_before_the_rows_say_the_disputes_began_are_found_again(
    settings: Settings, mysql_server: Server, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    # The rows are dated after today: the PaymentIntents listed ahead (from the disputed rows' dates) begin
    # after the disputes, and what the run made today lies before them.
    moved(settings, mysql_server, years=5)
    support(settings, Incident.DISPUTES)
    made = len(ours(fake, "payment_intents"))
    assert made == 41
    # A kill between the requests and their rows, as far as the database knows.
    query(settings, mysql_server, "DELETE FROM payments WHERE comment LIKE 'Created from the dispute ID%%'")
    again = support(settings, Incident.DISPUTES)
    assert len(ours(fake, "payment_intents")) == made
    assert [i.action for i in again.plan.items].count(Action.RECORD) == 41
    assert len(payments(settings, mysql_server)) == len(many_data.payments) + 41


def test_an_invoice_found_in_the_bounded_list_names_its_request(
    settings: Settings, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    payment = next(p for p in many_data.payments if p["disputed"] and p["id"] != many_data.payment("disputed")["id"])
    intent = many_seeded.intents[payment["id"]]
    invoice = many_seeded.payments.add_invoice(intent, number="CH-2022-0301")
    support(settings, Incident.DISPUTES)
    assert reads(fake)["GET /v1/invoice_payments"] <= 3  # the list, not one request per dispute
    (request,) = [
        r
        for r in ours(fake, "payment_intents")
        if r["customer"] == fake.objects["charges"][many_seeded.charges[payment["id"]]]["customer"]
    ]
    assert request["description"] == f"INVOICE - {invoice['number']}"


def test_a_bank_transfer_request_made_by_hand_since_the_dispute_is_seen_in_the_bulk_read(
    settings: Settings, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    payment = next(p for p in many_data.payments if p["disputed"] and p["id"] != many_data.payment("disputed")["id"])
    charge = fake.objects["charges"][many_seeded.charges[payment["id"]]]
    client = stripe.StripeClient(settings.stripe_key or "", base_addresses={"api": fake.url})
    by_hand = client.v1.payment_intents.create(
        params={
            "amount": charge["amount"],
            "currency": "eur",
            "customer": charge["customer"],
            "allowed_payment_method_types": ["customer_balance"],
            "payment_method_data": {"type": "customer_balance"},
            "payment_method_options": {
                "customer_balance": {
                    "funding_type": "bank_transfer",
                    "bank_transfer": {"type": "eu_bank_transfer", "eu_bank_transfer": {"country": "FR"}},
                }
            },
            "confirm": True,
        }
    )
    done = support(settings, Incident.DISPUTES)
    (item,) = [i for i in done.plan.items if i.payment_id == payment["id"]]
    assert str(item.problem) == "maybe_handled" and by_hand.id in item.reason
    assert len(ours(fake, "payment_intents")) == 40


def test_many_houses_accounts_are_listed_and_only_those_not_listed_are_asked_for_alone(
    settings: Settings, mysql_server: Server, fake: FakeStripe, many_seeded: Seeded, many_data: SupportDump
) -> None:
    for n in range(10):
        account = f"acct_1TestMoreHouses{n:02d}"
        if n:  # the first is not connected to the platform
            many_seeded.payments.add_account(account)
        query(
            settings,
            mysql_server,
            "INSERT INTO houses (id, name, active, deleted, stripeAccountId, createdAt, updatedAt) "
            "VALUES (%s, %s, 1, 0, %s, NOW(), NOW())",
            f"more-house-{n}",
            f"House {n}",
            account,
        )
    done = support(settings, Incident.TRANSFERS)
    read = reads(fake)
    assert read["GET /v1/accounts"] == 1 and read["GET /v1/accounts/{id}"] == 2  # the look-alike and the new one
    missing = {i.account for i in done.plan.items if "account_missing" in (i.problem, *i.more)}
    assert missing == {"acct_1TestMoreHouses00", "acct_1TestP90T3x0BxQ"}
    assert_transferred_once(fake, many_seeded, many_data)
