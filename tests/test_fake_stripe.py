"""The fake is strict; a lenient fake would let wrong requests pass and prove nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from devkit.fake_stripe import FakeStripe, Fault


@pytest.fixture
def client(fake: FakeStripe) -> Iterator[stripe.StripeClient]:
    yield stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)


def test_parameters_the_sdk_does_not_declare_are_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: password"):
        client.v1.customers.create(params={"email": "a@b.co", "password": "x"})  # type: ignore[arg-type]
    with pytest.raises(stripe.InvalidRequestError, match=r"unknown parameter: address\[planet\]"):
        client.v1.customers.create(params={"address": {"planet": "mars"}})  # type: ignore[arg-type]


def test_empty_strings_and_bad_emails_are_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="empty string for 'name'"):
        client.v1.customers.create(params={"name": ""})
    with pytest.raises(stripe.InvalidRequestError, match="Invalid email"):
        client.v1.customers.create(params={"email": "no-at-sign"})


def test_a_replayed_key_returns_the_first_result_and_other_parameters_are_an_error(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    first = client.v1.customers.create(params={"email": "a@b.co"}, options={"idempotency_key": "k"})
    again = client.v1.customers.create(params={"email": "a@b.co"}, options={"idempotency_key": "k"})
    assert first.id == again.id
    assert len(fake.all("customers")) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "c@d.co"}, options={"idempotency_key": "k"})


def test_a_subscription_billed_now_without_a_payment_method_is_incomplete(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    customer = client.v1.customers.create(params={"email": "a@b.co"})
    product = client.v1.products.create(params={"name": "Room 1"})
    item: Any = {
        "price_data": {"currency": "eur", "product": product.id, "unit_amount": 500, "recurring": {"interval": "month"}}
    }
    subscription = client.v1.subscriptions.create(params={"customer": customer.id, "items": [item]})
    assert subscription.status == "incomplete"
    assert fake.all("invoices")[0]["amount_due"] == 500
    usd: Any = {**item, "price_data": {**item["price_data"], "currency": "usd"}}
    with pytest.raises(stripe.InvalidRequestError, match="combine currencies"):
        client.v1.subscriptions.create(params={"customer": customer.id, "items": [usd]})
    with pytest.raises(stripe.InvalidRequestError, match="must be in the future"):
        client.v1.subscriptions.create(params={"customer": customer.id, "items": [item], "trial_end": 1})


def test_listing_pages_newest_first_and_hides_cancelled_subscriptions_unless_asked(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    for index in range(5):
        client.v1.customers.create(params={"email": f"u{index}@b.co"})
    page = client.v1.customers.list(params={"limit": 2})
    assert [c.email for c in page.data] == ["u4@b.co", "u3@b.co"] and page.has_more
    rest = client.v1.customers.list(params={"limit": 100, "starting_after": page.data[-1].id})
    assert [c.email for c in rest.data] == ["u2@b.co", "u1@b.co", "u0@b.co"] and not rest.has_more
    with pytest.raises(stripe.InvalidRequestError, match="limit"):
        client.v1.customers.list(params={"limit": 101})


def test_a_rate_limit_answers_429(client: stripe.StripeClient, fake: FakeStripe) -> None:
    fake.rate_limit, fake.retry_after = 3, 1
    with pytest.raises(stripe.RateLimitError) as caught:
        for _ in range(4):  # well within one second
            client.v1.customers.list()
    assert caught.value.headers is not None and caught.value.headers["Retry-After"] == "1"
    assert fake.throttled == 1


def test_an_unknown_key_is_refused(fake: FakeStripe) -> None:
    client = stripe.StripeClient("sk_test_invalid", base_addresses={"api": fake.url})
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list()


def test_ids_are_as_long_as_the_ones_stripe_issues(client: stripe.StripeClient, fake: FakeStripe) -> None:
    customer = client.v1.customers.create(params={"email": "a@b.co"})
    product = client.v1.products.create(params={"name": "Room 1"})
    item: Any = {
        "price_data": {"currency": "eur", "product": product.id, "unit_amount": 500, "recurring": {"interval": "month"}}
    }
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [item], "trial_end": int(fake.now()) + 86400}
    )
    assert (len(customer.id), len(product.id), len(subscription.id)) == (18, 19, 28)


def test_a_stored_500_is_replayed_to_every_retry_with_its_key(client: stripe.StripeClient, fake: FakeStripe) -> None:
    fake.inject(Fault("stored", "POST", "/v1/customers", should_retry="false"))
    for attempt in range(3):
        with pytest.raises(stripe.APIError) as caught:
            client.v1.customers.create(params={"email": "a@b.co"}, options={"idempotency_key": "k"})
        headers = caught.value.headers or {}
        assert caught.value.http_status == 500 and headers["Stripe-Should-Retry"] == "false"
        assert headers.get("Idempotent-Replayed") == ("true" if attempt else None)
    assert fake.all("customers") == []  # without `work`, the object was never made
    assert client.v1.customers.create(params={"email": "a@b.co"}, options={"idempotency_key": "k2"}).id


def test_a_stored_500_can_hide_an_object_that_was_made(client: stripe.StripeClient, fake: FakeStripe) -> None:
    fake.inject(Fault("stored", "POST", "/v1/customers", work=True))
    with pytest.raises(stripe.APIError):
        client.v1.customers.create(params={"email": "a@b.co"}, options={"idempotency_key": "k"})
    assert len(fake.all("customers")) == 1


def test_a_replayed_success_says_so(client: stripe.StripeClient, fake: FakeStripe) -> None:
    first = client.v1.customers.create(params={"email": "a@b.co"}, options={"idempotency_key": "k"})
    again = client.v1.customers.create(params={"email": "a@b.co"}, options={"idempotency_key": "k"})
    assert first.last_response is not None and again.last_response is not None
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"


def test_deleted_customers_and_products_leave_the_lists_and_answer_deleted(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    customer = client.v1.customers.create(params={"email": "a@b.co"})
    product = client.v1.products.create(params={"name": "Room 1"})
    client.v1.customers.delete(customer.id)
    client.v1.products.delete(product.id)
    assert client.v1.customers.list().data == [] and client.v1.products.list().data == []
    assert client.v1.customers.retrieve(customer.id).to_dict()["deleted"] is True
    assert client.v1.products.retrieve(product.id).to_dict()["deleted"] is True


def test_an_amount_over_eight_digits_is_refused(client: stripe.StripeClient, fake: FakeStripe) -> None:
    price: Any = {"currency": "eur", "unit_amount": 100_000_000, "recurring": {"interval": "month"}}
    with pytest.raises(stripe.InvalidRequestError, match="at most 99999999"):
        client.v1.products.create(params={"name": "Room 1", "default_price_data": price})
    price["unit_amount"] = 99_999_999
    assert client.v1.products.create(params={"name": "Room 1", "default_price_data": price}).default_price
