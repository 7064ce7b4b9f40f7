"""Every Stripe call either job makes goes through here: paced, retried, counted, its errors named."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import stripe

from cohabs.shared.errors import AccountUnreadable, CannotRun
from cohabs.shared.settings import Settings, mask_key, redact
from cohabs.shared.stopping import StopFlag, Stopped, StopReason
from cohabs.shared.stripe.http import ObservingClient, Reachability, network_reason
from cohabs.shared.stripe.idempotency import MAX_KEYS, KeyHistory
from cohabs.shared.stripe.pacing import Endpoint as Endpoint
from cohabs.shared.stripe.pacing import Limiter, Pacer

T = TypeVar("T")
PAGE = 100  # Stripe's largest page
NETWORK_RETRIES = 4  # the SDK's own retries: connection errors, 409, 5xx (same idempotency key)
THROTTLE_RETRIES = 8  # our retries of 429, which the SDK does not retry


class RowFailed(Exception):
    """Stripe refused or never answered a request for one row or item; the run goes on."""


class StoredFailure(RowFailed):
    """A keyed request answered with an error (4xx or 5xx): once the request began executing, Stripe keeps
    that answer under the key and replays it to every later request with it, for at least 24 hours.

    `inherited` says the answer was stored before this run first sent the key (see idempotency.py);
    `replayed` says this answer is such a replay, of an earlier run's answer or of this run's own.
    """

    def __init__(self, message: str, inherited: bool, replayed: bool = False) -> None:
        super().__init__(message)
        self.inherited = inherited
        self.replayed = replayed


def send_keyed(key_for: Callable[[int], str], send: Callable[[str], T]) -> T:
    """Send under key k0, then k1, …: past a key only when its error was stored by an earlier run (idempotency.py).

    Whoever calls this has read the account first and found no object for the
    request. A refusal (4xx) means Stripe made nothing; an earlier run's
    stored 500, with no object in the account, means the same. Either way the
    next key cannot make a second object, and a refusal whose cause was fixed
    since is not replayed for a day.
    """
    skipped = 0
    for attempt in range(MAX_KEYS):
        try:
            return send(key_for(attempt))
        except StoredFailure as exc:
            if exc.inherited:
                skipped += 1
                continue
            if not skipped:
                raise
            earlier = f"{skipped} earlier key(s) only replayed answers Stripe stored in earlier runs"
            raise StoredFailure(f"{exc} (a new answer; {earlier})", False, exc.replayed) from None
    raise RowFailed(
        f"Stripe replayed errors stored in earlier runs for {MAX_KEYS} keys in a row for this request; "
        "fix the cause the report names, then run again"
    )


@dataclass(frozen=True, slots=True)
class Window:
    """Objects created in [since, until) (whole seconds, either side open when None), read after a cursor."""

    since: int | None = None
    until: int | None = None
    after: str | None = None  # the last object of the previous page


@dataclass
class Counters:
    requests: int = 0
    throttled: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, requests: int = 0, throttled: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.throttled += throttled


def make_client(
    settings: Settings, history: KeyHistory | None = None, reachability: Reachability | None = None
) -> stripe.StripeClient:
    if not settings.stripe_key:
        raise CannotRun("STRIPE_SECRET_KEY is not set (in the environment or .env)")
    base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        settings.stripe_key,
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=NETWORK_RETRIES,
        http_client=ObservingClient(history or KeyHistory(), reachability, timeout=settings.stripe_timeout),
    )


class Timing(Protocol):
    """The clock and sleep a gateway paces with, and the flag that stops it, whichever job's world holds them."""

    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def sleep(self) -> Callable[[float], None]: ...
    @property
    def stop(self) -> StopFlag: ...


def make_gateway(settings: Settings, world: Timing) -> StripeGateway:
    pacer = Pacer(settings.effective_rate, settings.endpoint_rate, clock=world.clock, sleep=world.sleep)
    history = KeyHistory()  # one per run: which stored 500s predate this run (idempotency.py)
    reachability = Reachability(world.stop, settings.api_target)
    return StripeGateway(
        make_client(settings, history, reachability),
        pacer,
        sleep=world.sleep,
        key_hint=mask_key(settings.stripe_key),
        where=settings.api_target,
        history=history,
        stop=world.stop,
        reachability=reachability,
    )


def unreadable(exc: RowFailed, settings: Settings) -> AccountUnreadable:
    """The account could not be read before any change: say so, and where the calls went."""
    check = "check STRIPE_API_BASE (or unset it to use Stripe)" if settings.stripe_api_base else "check the network"
    return AccountUnreadable(
        f"could not read the Stripe account, so nothing was changed: {exc}; {check}, then run again"
    )


class StripeGateway:
    def __init__(
        self,
        client: stripe.StripeClient,
        pacer: Pacer,
        *,
        sleep: Callable[[float], None],
        key_hint: str = "",
        where: str = "Stripe",
        jitter: Callable[[], float] = random.random,
        history: KeyHistory | None = None,
        stop: StopFlag | None = None,
        reachability: Reachability | None = None,
    ) -> None:
        self._client = client
        self.stop = stop or StopFlag()
        self._reachability = reachability  # the one make_client gave the client's HTTP layer
        self._where = where
        self._history = history or KeyHistory()  # the one make_client gave the client's HTTP layer
        self.pacer = pacer
        self._sleep = sleep
        self._jitter = jitter
        self._key_hint = key_hint
        self.counters = Counters()

    def call(self, endpoint: Endpoint, what: str, request: Callable[[], T], *, key: str | None = None) -> T:
        """Send one request to `endpoint`, paced and retried; every Stripe call goes through here.

        `key` is the request's idempotency key, to tell a stored 500 from a passing one. Once the run
        is stopping, no request starts: Stopped is raised instead.
        """
        for attempt in range(THROTTLE_RETRIES + 1):
            self.stop.check()
            self.counters.add(requests=1)
            try:
                with self.pacer.turn(endpoint):
                    result = request()
            except stripe.RateLimitError as exc:
                self.counters.add(throttled=1)
                # An object lock (lock_timeout) is no sign of going too fast: retried, nothing slowed.
                if _code(exc) != "lock_timeout":
                    self.pacer.throttled(endpoint, Limiter.named(_header(exc, "Stripe-Rate-Limited-Reason")))
                if attempt == THROTTLE_RETRIES:
                    break
                self._sleep(self._backoff(attempt, exc))
                continue
            except stripe.StripeError as exc:
                raise self._failure(exc, what, key) from None
            self.pacer.succeeded(endpoint)
            return result
        raise RowFailed(f"{what}: still rate limited (429) after {THROTTLE_RETRIES} retries")

    def made_earlier(self, key: str) -> bool:
        """Whether a keyed request's success was an earlier run's, replayed (idempotency.KeyHistory)."""
        return self._history.made_earlier(key)

    def _failure(self, exc: stripe.StripeError, what: str, key: str | None) -> Exception:
        """What a refused or unanswered request means for the run: stop it, fail the row, or say a key stored it."""
        if isinstance(exc, stripe.AuthenticationError):
            return CannotRun(f"Stripe refused the key {self._key_hint}: check STRIPE_SECRET_KEY (and STRIPE_API_BASE)")
        if isinstance(exc, stripe.PermissionError):
            # The key is valid but may not do this: what a restricted key (rk_…) without that permission gets.
            return CannotRun(
                f"{what}: the key {self._key_hint} may not do this ({redact(exc.user_message or str(exc))}); "
                "give the restricted key that permission in the dashboard, or use the account's secret key"
            )
        if isinstance(exc, stripe.APIConnectionError):
            if self._reachability is not None:
                self._reachability.request_failed(network_reason(exc))
            if self.stop.reason is StopReason.UNREACHABLE:
                # Whether this request ran at Stripe is unknown: the next run's listing tells.
                return Stopped(StopReason.UNREACHABLE, self.stop.detail)
            return RowFailed(
                f"{what}: no answer from {self._where} after {NETWORK_RETRIES} retries ({network_reason(exc)})"
            )
        if isinstance(exc, stripe.IdempotencyError):
            if exc.code == "idempotency_key_in_use":
                return RowFailed(f"{what}: the same request is still running at Stripe; rerun to finish")
            return RowFailed(
                f"{what}: Stripe saw this request before with other parameters (idempotency_error); "
                "rerun to adopt the object it created"
            )
        code = f" [{exc.code}]" if exc.code else ""
        said = f"{what}: Stripe answered {exc.http_status}{code}: {redact(exc.user_message or str(exc))}"
        if key and (exc.http_status or 0) >= 400:
            inherited = self._history.inherited(key)
            replayed = (_header(exc, "Idempotent-Replayed") or "").lower() == "true"
            return StoredFailure(_keyed(said, exc.http_status or 0, inherited, replayed), inherited, replayed)
        return RowFailed(said)

    def _backoff(self, attempt: int, exc: stripe.StripeError) -> float:
        retry_after = _header(exc, "Retry-After")
        try:
            wait = float(retry_after) if retry_after else 0.0  # seconds
        except ValueError:
            wait = 0.0
        # Exponential, jittered between half and all of it, never below what Stripe asked for.
        backoff: float = min(8.0, 0.5 * 2**attempt) * (0.5 + self._jitter() / 2)
        return max(wait, backoff)

    @property
    def client(self) -> stripe.StripeClient:
        return self._client

    def pages(self, endpoint: Endpoint, what: str, fetch: Callable[[str | None], Any]) -> Iterator[dict[str, Any]]:
        """Every object of a list, page after page: `fetch(after)` asks for the page after that id."""
        after: str | None = None
        while True:
            page = self.call(endpoint, what, functools.partial(fetch, after))
            for obj in page.data:
                yield obj.to_dict()
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id


def _keyed(said: str, status: int, inherited: bool, replayed: bool) -> str:
    """The error of a keyed request, saying what the next run does and whether this answer is a replay."""
    if status >= 500 or status == 402:  # a create-and-confirm PaymentIntent can be declined once it exists
        said += (
            " (Stripe keeps this answer under the request's key; the next run adopts the object if Stripe made it, "
            "or makes it under a new key)"
        )
    else:
        said += (
            " (Stripe made nothing; once the cause is fixed, the next run sends it again, under a new key if "
            "Stripe kept this refusal)"
        )
    if inherited:
        return said + "; this answer is a replay of one Stripe stored for the key before this run"
    if replayed:
        return said + "; this answer is a replay of the one Stripe stored for the key earlier in this run"
    return said


def _header(exc: stripe.StripeError, name: str) -> str | None:
    wanted = name.lower()
    return next((str(v) for k, v in (exc.headers or {}).items() if k.lower() == wanted), None)


def _code(exc: stripe.StripeError) -> str | None:
    return exc.code or (exc.error.code if exc.error else None)
