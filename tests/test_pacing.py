"""Pacing modelled on Stripe's limiters: a budget for the account, one per endpoint, requests in flight."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import stripe

from cohabs.shared.settings import Settings
from cohabs.shared.stripe.gateway import Endpoint, StripeGateway, make_client
from cohabs.shared.stripe.pacing import Limiter, Pacer
from devkit.fake_stripe import FakeStripe, Fault
from tests.helpers import TEST_KEY

CUSTOMERS = Endpoint("GET", "/v1/customers")
PRODUCTS = Endpoint("GET", "/v1/products")
TRANSFERS = Endpoint("POST", "/v1/transfers")


class Clock:
    """Time that moves only when someone sleeps, or when told to stand still."""

    def __init__(self, moves: bool = True) -> None:
        self.now = 100.0
        self.moves = moves
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.moves:
            self.now += seconds


def pacer(clock: Clock, global_rate: float = 100.0, endpoint_rate: float = 25.0) -> Pacer:
    return Pacer(global_rate, endpoint_rate, clock=lambda: clock.now, sleep=clock.sleep)


def send(pacer: Pacer, clock: Clock, endpoint: Endpoint) -> float:
    with pacer.turn(endpoint):
        return clock.now


def test_one_endpoint_goes_at_its_own_rate_and_several_share_the_global_one() -> None:
    clock = Clock()
    alone = pacer(clock)
    moments = [send(alone, clock, CUSTOMERS) for _ in range(50)]
    assert moments[-1] - moments[0] == pytest.approx(49 / 25)

    clock = Clock()
    shared = pacer(clock)
    endpoints = [CUSTOMERS, PRODUCTS, TRANSFERS, Endpoint("DELETE", "/v1/subscriptions/{id}")]
    moments = [send(shared, clock, endpoints[i % 4]) for i in range(200)]
    # Four endpoints at 25/s each fill the account's 100/s: 200 requests in about two seconds, not eight.
    assert moments[-1] - moments[0] == pytest.approx(2.0, abs=0.05)
    assert all(later - earlier >= 0.01 - 1e-9 for earlier, later in itertools.pairwise(moments))


def test_no_sliding_second_holds_more_than_a_budget_allows() -> None:
    clock = Clock()
    paced = pacer(clock, global_rate=25.0)
    moments = [send(paced, clock, (CUSTOMERS, PRODUCTS)[i % 2]) for i in range(300)]
    for index, moment in enumerate(moments):
        in_window = [m for m in moments[index:] if m < moment + 1.0]
        assert len(in_window) <= 25


def test_a_busy_endpoint_does_not_hold_back_a_quiet_one() -> None:
    clock = Clock(moves=False)  # every turn reserves its moment; none is waited out
    paced = pacer(clock)
    for _ in range(20):
        send(paced, clock, CUSTOMERS)  # queued up to 0.76 s ahead
    send(paced, clock, PRODUCTS)
    assert max(clock.slept[:20]) == pytest.approx(19 / 25)
    assert clock.slept[-1] <= 0.02  # the next free moment of the account's budget, not after the queue


@pytest.mark.parametrize(
    ("header", "limiter"),
    [
        ("endpoint-rate", Limiter.ENDPOINT_RATE),
        ("Global-Rate", Limiter.GLOBAL_RATE),
        ("global-concurrency", Limiter.GLOBAL_CONCURRENCY),
        ("endpoint-concurrency", Limiter.ENDPOINT_CONCURRENCY),
        ("resource-specific", Limiter.RESOURCE),
        (None, Limiter.GLOBAL_RATE),
        ("something-new", Limiter.GLOBAL_RATE),
    ],
)
def test_a_429_names_its_limiter_and_an_unknown_one_counts_as_the_account_rate(
    header: str | None, limiter: Limiter
) -> None:
    assert Limiter.named(header) is limiter


def test_a_concurrency_cap_holds_requests_until_one_finishes() -> None:
    clock = Clock()
    paced = pacer(clock, global_rate=1000.0, endpoint_rate=1000.0)
    entered = threading.Event()
    with paced.turn(CUSTOMERS):
        paced.throttled(CUSTOMERS, Limiter.GLOBAL_CONCURRENCY)
        assert paced.in_flight.limit == 1.0

        def second() -> None:
            with paced.turn(PRODUCTS):
                entered.set()

        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.2)  # one in flight is the cap: the second waits
    waiter.join(10)
    assert entered.is_set()


class Account:
    """A gateway to the fake, and the raw requests the tests send through it."""

    def __init__(self, fake: FakeStripe, pacer: Pacer, sleep: Callable[[float], None]) -> None:
        self.client = make_client(Settings(stripe_key=TEST_KEY, stripe_api_base=fake.url))
        self.gateway = StripeGateway(self.client, pacer, sleep=sleep)

    def list_customers(self) -> None:
        self.gateway.call(CUSTOMERS, "list customers", lambda: self.client.v1.customers.list())

    def list_products(self) -> None:
        self.gateway.call(PRODUCTS, "list products", lambda: self.client.v1.products.list())


@pytest.fixture
def account(fake: FakeStripe) -> Iterator[Account]:
    yield Account(fake, Pacer(1000.0, 100.0, clock=time.monotonic, sleep=time.sleep), lambda seconds: None)


@pytest.mark.parametrize(
    ("reason", "slowed"),
    [
        ("endpoint-rate", "endpoint rate"),
        ("global-rate", "global rate"),
        (None, "global rate"),
        ("endpoint-concurrency", "endpoint in flight"),
        ("global-concurrency", "global in flight"),
        ("resource-specific", "nothing"),
    ],
)
def test_a_429_slows_only_what_its_reason_names_and_is_retried(
    account: Account, fake: FakeStripe, reason: str | None, slowed: str
) -> None:
    headers = {"Stripe-Rate-Limited-Reason": reason} if reason else {}
    fake.inject(Fault("status", "GET", "/v1/customers", status=429, code="rate_limit", headers=headers))
    account.list_customers()

    pacer = account.gateway.pacer
    budget, other = pacer.budget(CUSTOMERS), pacer.budget(PRODUCTS)
    state = {
        "endpoint rate": budget.rate.per_second < budget.rate.ceiling,
        "global rate": pacer.rate.per_second < pacer.rate.ceiling,
        "endpoint in flight": budget.in_flight.limit < math.inf,
        "global in flight": pacer.in_flight.limit < math.inf,
    }
    assert state == {name: name == slowed for name in state}
    assert other.rate.per_second == other.rate.ceiling and other.in_flight.limit == math.inf
    assert [r.status for r in fake.requests] == [429, 200]
    assert account.gateway.counters.throttled == 1


def test_an_object_lock_429_is_retried_and_slows_nothing(account: Account, fake: FakeStripe) -> None:
    fake.inject(Fault("status", "GET", "/v1/customers", count=2, status=429, code="lock_timeout"))
    account.list_customers()
    pacer = account.gateway.pacer
    assert [r.status for r in fake.requests] == [429, 429, 200]
    assert pacer.rate.per_second == pacer.rate.ceiling
    assert pacer.budget(CUSTOMERS).rate.per_second == pacer.budget(CUSTOMERS).rate.ceiling


def test_the_sdk_does_not_retry_a_plain_429_by_itself(fake: FakeStripe) -> None:
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": fake.url}, max_network_retries=4)
    fake.inject(Fault("status", "GET", "/v1/customers", status=429, code="rate_limit"))
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.list()
    assert len(fake.requests) == 1


def test_against_an_endpoint_limit_only_that_endpoint_slows_and_every_request_succeeds(fake: FakeStripe) -> None:
    fake.endpoint_rate_limit = 4
    account = Account(fake, Pacer(1000.0, 8.0, clock=time.monotonic, sleep=time.sleep), time.sleep)

    def three() -> None:
        for _ in range(3):
            account.list_customers()

    workers = [threading.Thread(target=three) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    account.list_products()

    assert sum(1 for r in fake.requests if r.status == 200) == 13
    assert fake.throttled_by == {"endpoint-rate": fake.throttled} and fake.throttled > 0
    pacer = account.gateway.pacer
    assert pacer.budget(CUSTOMERS).rate.per_second < 8.0
    assert pacer.budget(PRODUCTS).rate.per_second == 8.0
    assert pacer.rate.per_second == 1000.0
