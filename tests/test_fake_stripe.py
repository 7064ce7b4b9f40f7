"""The fake is strict; a lenient fake would let wrong requests pass and prove nothing."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import stripe

from devkit.fake import FakeServer, FakeStripe, Fault, Recorded


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
    assert caught.value.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert fake.throttled == 1


def test_each_endpoint_has_its_own_limit_within_the_accounts_and_429s_name_which(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    fake.rate_limit, fake.endpoint_rate_limit = 4, 2
    first = client.v1.customers.create(params={"email": "a@b.co"})
    client.v1.customers.create(params={"email": "c@d.co"})
    with pytest.raises(stripe.RateLimitError) as endpoint:
        client.v1.customers.create(params={"email": "e@f.co"})  # POST /v1/customers: its third this second
    client.v1.products.list()
    client.v1.customers.list()  # other endpoints still answer, up to the account's four
    with pytest.raises(stripe.RateLimitError) as account:
        client.v1.customers.retrieve(first.id)  # a fresh endpoint, but the account's fifth
    assert endpoint.value.headers is not None and account.value.headers is not None
    assert endpoint.value.headers["Stripe-Rate-Limited-Reason"] == "endpoint-rate"
    assert account.value.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert "Retry-After" not in endpoint.value.headers and "Retry-After" not in account.value.headers
    assert fake.admitted == {"POST /v1/customers": 2, "GET /v1/products": 1, "GET /v1/customers": 1}


def test_a_concurrency_limit_refuses_a_request_while_another_is_in_flight(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    fake.concurrency_limit = 1
    refused: list[str] = []

    def second_while_first_runs(stage: str, request: Recorded) -> None:
        if stage == "received" and request.path == "/v1/customers" and not refused:
            try:
                client.v1.products.list()
            except stripe.RateLimitError as exc:
                refused.append((exc.headers or {}).get("Stripe-Rate-Limited-Reason", ""))

    fake.hook = lambda stage, request: second_while_first_runs(stage, request)
    client.v1.customers.list()
    assert refused == ["global-concurrency"]
    client.v1.products.list()  # once the first is done, there is room again


def test_lists_filter_on_created_as_the_sdk_declares_it(client: stripe.StripeClient, fake: FakeStripe) -> None:
    moments = iter(range(1_700_000_000, 1_700_000_005))
    fake.now = lambda: float(next(moments))
    for index in range(5):
        client.v1.customers.create(params={"email": f"u{index}@b.co"})

    def emails(created: Any) -> list[str]:
        return [c.email or "" for c in client.v1.customers.list(params={"created": created}).data]

    assert emails({"gte": 1_700_000_001, "lt": 1_700_000_003}) == ["u2@b.co", "u1@b.co"]
    assert emails({"gt": 1_700_000_001, "lte": 1_700_000_003}) == ["u3@b.co", "u2@b.co"]
    assert emails(1_700_000_004) == ["u4@b.co"]
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter"):
        emails({"after": 1})


def test_sixty_four_clients_connecting_at_once_are_all_queued_by_the_kernel() -> None:
    # A server that listens but has not accepted anyone yet: every connection waits in the backlog.
    server = FakeServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    clients = [socket.socket() for _ in range(64)]
    try:
        for client in clients:
            client.setblocking(False)
            client.connect_ex(server.server_address)
        connecting, deadline = list(clients), time.monotonic() + 0.9  # a refused SYN is sent again after 1 s
        while connecting and time.monotonic() < deadline:
            _, connected, _ = select.select([], connecting, [], deadline - time.monotonic())
            connecting = [c for c in connecting if c not in connected]
        assert connecting == []
    finally:
        for client in clients:
            client.close()
        server.server_close()


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


def test_the_emulator_serves_the_sync_and_the_payment_resources_on_one_port() -> None:
    command = [sys.executable, "-m", "devkit.fake_stripe", "--port", "0"]
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]  # "fake Stripe listening on URL"
        client = stripe.StripeClient("sk_test_local", base_addresses={"api": url}, max_network_retries=0)
        customer = client.v1.customers.create(params={"email": "a@b.co"})
        assert client.v1.disputes.list().data == [] and client.v1.charges.list().data == []
        intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "eur", "customer": customer.id})
        assert intent.customer == customer.id and intent.status == "requires_payment_method"
    finally:
        process.terminate()
        process.wait()
