"""The fake's model of how a subscription collects, as Stripe documents it.

`collection_method` and `days_until_due` on create and update (send_invoice
needs its days, which only send_invoice takes), `trial_settings`, a customer's
default payment method, and what a trial's end does with and without one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
import stripe

from devkit.fake import FakeStripe
from tests.helpers import NOW

DAY = 86400
START = int(NOW.replace(tzinfo=UTC).timestamp())


@pytest.fixture
def client(fake: FakeStripe) -> Iterator[stripe.StripeClient]:
    yield stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)


def subscribe(client: stripe.StripeClient, **extra: Any) -> tuple[str, str]:
    """A tenant (customer id) in a 10-day trial of a 500.00 EUR rent (subscription id)."""
    customer = client.v1.customers.create(params={"email": "tenant@example.com"})
    product = client.v1.products.create(params={"name": "Room 1"})
    item: Any = {
        "price_data": {
            "currency": "eur",
            "product": product.id,
            "unit_amount": 50000,
            "recurring": {"interval": "month"},
        }
    }
    params: Any = {"customer": customer.id, "items": [item], "trial_end": START + 10 * DAY, **extra}
    return customer.id, client.v1.subscriptions.create(params=params).id


def end_trials(fake: FakeStripe) -> list[dict[str, Any]]:
    fake.now = lambda: float(START + 10 * DAY)
    return fake.payments.end_trials()


def test_send_invoice_needs_days_until_due_which_only_send_invoice_takes(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="days_until_due") as missing:
        subscribe(client, collection_method="send_invoice")
    assert missing.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError, match="only be set when collection_method is send_invoice"):
        subscribe(client, days_until_due=10)
    _, made = subscribe(client, collection_method="send_invoice", days_until_due=10)
    subscription = client.v1.subscriptions.retrieve(made)
    assert (subscription.collection_method, subscription.days_until_due, subscription.status) == (
        "send_invoice",
        10,
        "trialing",
    )
    assert subscription.trial_settings is not None
    assert subscription.trial_settings.end_behavior.missing_payment_method == "create_invoice"  # Stripe's default


def test_an_update_switches_the_method_and_its_days_without_touching_the_price(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    _, made = subscribe(client)
    price = fake.objects["subscriptions"][made]["items"]["data"][0]["price"]
    with pytest.raises(stripe.InvalidRequestError, match="days_until_due"):
        client.v1.subscriptions.update(made, params={"collection_method": "send_invoice"})
    client.v1.subscriptions.update(made, params={"collection_method": "send_invoice", "days_until_due": 7})
    client.v1.subscriptions.update(made, params={"days_until_due": 14})  # still send_invoice
    assert client.v1.subscriptions.retrieve(made).days_until_due == 14
    back = client.v1.subscriptions.update(made, params={"collection_method": "charge_automatically"})
    assert (back.collection_method, back.days_until_due) == ("charge_automatically", None)  # the days go with it
    with pytest.raises(stripe.InvalidRequestError, match="only be set when"):
        client.v1.subscriptions.update(made, params={"days_until_due": 3})
    assert fake.objects["subscriptions"][made]["items"]["data"][0]["price"] == price
    assert len(fake.all("invoices")) == 1  # the 0.00 one of the trial: nothing prorated, nothing invoiced


def test_a_customers_default_payment_method_is_one_attached_to_it(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    customer, _ = subscribe(client)
    with pytest.raises(stripe.InvalidRequestError, match="No such PaymentMethod"):
        client.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": "pm_unknown"}})
    card = fake.payments.give_payment_method(customer)
    listed = client.v1.customers.retrieve(customer)
    assert listed.invoice_settings is not None and listed.invoice_settings.default_payment_method == card
    source = fake.payments.give_payment_method(customer, as_source=True)
    assert client.v1.customers.retrieve(customer).default_source == source
    client.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": source}})
    assert fake.objects["customers"][customer]["invoice_settings"]["default_payment_method"] == source


@pytest.mark.parametrize(
    ("extra", "paying", "status", "invoice"),
    [
        ({}, False, "past_due", {"status": "open", "attempted": True, "amount_due": 50000}),
        ({}, True, "active", {"status": "paid", "amount_paid": 50000}),
        ({"trial_settings": {"end_behavior": {"missing_payment_method": "pause"}}}, False, "paused", None),
        ({"trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}}}, False, "canceled", None),
        (
            {"collection_method": "send_invoice", "days_until_due": 10},
            False,
            "active",
            {"status": "open", "attempted": False, "due_date": START + 20 * DAY, "amount_due": 50000},
        ),
    ],
    ids=["create_invoice", "payment_method", "pause", "cancel", "send_invoice"],
)
def test_a_trial_ends_as_its_method_and_end_behaviour_say(
    client: stripe.StripeClient,
    fake: FakeStripe,
    extra: dict[str, Any],
    paying: bool,
    status: str,
    invoice: dict[str, Any] | None,
) -> None:
    customer, made = subscribe(client, **extra)
    if paying:
        fake.payments.give_payment_method(customer)
    assert fake.payments.end_trials() == []  # the trial has not ended yet
    (moved,) = end_trials(fake)
    assert moved["id"] == made and client.v1.subscriptions.retrieve(made).status == status
    issued = [
        i for i in fake.all("invoices") if i["subscription"] == made and i["billing_reason"] != "subscription_create"
    ]
    if invoice is None:
        assert issued == []  # paused or cancelled: the rent is not even invoiced
    else:
        (one,) = issued
        assert {key: one[key] for key in invoice} == invoice
    assert end_trials(fake) == []  # a trial ends once


def test_an_incomplete_subscription_only_takes_metadata(client: stripe.StripeClient, fake: FakeStripe) -> None:
    customer, _ = subscribe(client)
    product = client.v1.products.create(params={"name": "Room 2"})
    item: Any = {
        "price_data": {"currency": "eur", "product": product.id, "unit_amount": 500, "recurring": {"interval": "month"}}
    }
    billed_now = client.v1.subscriptions.create(params={"customer": customer, "items": [item]})
    assert billed_now.status == "incomplete"
    with pytest.raises(stripe.InvalidRequestError, match="incomplete"):
        client.v1.subscriptions.update(billed_now.id, params={"collection_method": "charge_automatically"})
    client.v1.subscriptions.update(billed_now.id, params={"metadata": {"note": "kept"}})


def test_a_trial_end_behaviour_stripe_does_not_know_is_refused(client: stripe.StripeClient) -> None:
    unknown: Any = {"end_behavior": {"missing_payment_method": "charge_later"}}
    with pytest.raises(stripe.InvalidRequestError, match="missing_payment_method") as refused:
        subscribe(client, trial_settings=unknown)
    assert refused.value.code == "parameter_invalid"
