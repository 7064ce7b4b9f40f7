"""FakeStripe: one server for every resource, and the machinery each request goes through.

A request is recorded, counted against the rate limiters (429 with the
limiter's name), authenticated, offered to the test's hook and to the injected
faults, then run under its idempotency key by the resource that owns its route.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .backfill import backfill
from .errors import StripeFailure, error_type
from .faults import Fault
from .handler import FakeServer, handler_for
from .idempotency import Idempotency
from .limits import Limits, route_of
from .payments import Payments
from .recorded import Recorded
from .resources import Resources
from .routing import Router
from .store import Obj, Params, Store

# Status, body, the fault to apply once the answer is ready, and headers to send.
Answer = tuple[int, Obj, Fault | None, dict[str, str]]
READ_ONLY_POSTS = frozenset({"/v1/invoices/create_preview"})
KEY = re.compile(r"^(sk|rk)_(test|live)_\w+$")


@dataclass
class FakeStripe:
    latency: float = 0.0
    rate_limit: float | None = None  # the account's requests per second over a sliding second; 429 above
    endpoint_rate_limit: float | None = None  # the same for each endpoint (method and route)
    concurrency_limit: int | None = None  # requests in flight at once; 429 above
    retry_after: float | None = None  # seconds to put in Retry-After on 429s
    now: Callable[[], float] = time.time
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # Called with ("received", request) before the work and ("processed", request) after it;
    # answering "drop" closes the connection there (tests use it to kill the client at that moment).
    hook: Callable[[str, Recorded], str | None] | None = None

    def __post_init__(self) -> None:
        self.store = Store(clock=lambda: self.now())
        self.resources = Resources(self.store)
        self.payments = Payments(self.store, self.resources, self.requests)
        self._router = Router(self.store, self.resources.routes())
        self._limits = Limits()
        self._idempotency = Idempotency()
        self._lock = threading.Lock()  # the request log and the faults
        self._server: FakeServer | None = None

    # ----- lifecycle -------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        self._server = FakeServer(("127.0.0.1", port), handler_for(self))
        # stop() waits for the loop to look at its flag: every half second by default, a pause each test paid.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # ----- inspection and setup --------------------------------------------------

    @property
    def objects(self) -> dict[str, dict[str, Obj]]:
        """Every object by kind and id, as stored (tests read and change them)."""
        return self.store.objects

    def all(self, kind: str) -> list[Obj]:
        return self.store.all(kind)

    def writes(self) -> list[Recorded]:
        """Requests that can change the account: an invoice preview is a POST that creates nothing."""
        return [r for r in self.requests if r.method in ("POST", "DELETE") and r.path not in READ_ONLY_POSTS]

    @property
    def throttled(self) -> int:
        return self._limits.throttled

    @property
    def throttled_by(self) -> Counter[str]:
        """429s per Stripe-Rate-Limited-Reason."""
        return self._limits.throttled_by

    @property
    def admitted(self) -> Counter[str]:
        """Requests past the limiters, per endpoint."""
        return self._limits.admitted

    def stats(self) -> Obj:
        with self._lock, self.store.lock:
            return {
                "requests": len(self.requests),
                "by_method": Counter(r.method for r in self.requests),
                "throttled": self.throttled,
                "throttled_by": dict(self.throttled_by),
                "admitted": dict(self.admitted),
                "objects": {kind: len(objects) for kind, objects in self.objects.items()},
            }

    def seed(
        self,
        customers: int = 0,
        products: int = 0,
        subscriptions: int = 0,
        *,
        since: int | None = None,
        until: int | None = None,
        seed: int = 0,
        copied: list[str] | None = None,
    ) -> dict[str, int]:
        """Put objects straight into the account, created at random seconds in [since, until) (the past year
        by default): an account built over time, without the requests. Returns the count per kind.

        `copied`: emails of customers Stripe's copy of payment data brought, one card each and no metadata.
        """
        counts = {"customers": customers, "products": products, "subscriptions": subscriptions}
        made = backfill(self.store, counts, since=since, until=until, seed=seed)
        for email in copied or ():
            self.payments.add_copied_customer(email, cards=[(12, 2099)])
        return {**made, "copied": len(copied or ())}

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    # ----- request handling ------------------------------------------------------

    def handle(self, method: str, path: str, params: Params, headers: dict[str, str], body: str) -> Answer:
        """Returns status, body, the fault to apply after the work, and extra headers."""
        record = Recorded(method, path, params, headers.get("idempotency-key"), body)
        with self._lock:
            self.requests.append(record)
        # Limiters count a request when it arrives; the work (and the latency) come after.
        refused = self._limits.admit(
            route_of(method, path), self.rate_limit, self.endpoint_rate_limit, self.concurrency_limit
        )
        try:
            return self._answer(record, headers.get("authorization", ""), refused)
        finally:
            if not refused:
                self._limits.done()

    def _answer(self, record: Recorded, authorization: str, refused: str | None) -> Answer:
        if self.latency:
            time.sleep(self.latency)
        extra: dict[str, str] = {}
        try:
            _authenticate(authorization)
            if refused:
                extra["Stripe-Rate-Limited-Reason"] = refused
                if self.retry_after is not None:
                    extra["Retry-After"] = f"{self.retry_after:g}"
                raise StripeFailure(
                    429, "Too many requests hit the API too quickly.", "invalid_request_error", "rate_limit"
                )
            if self.hook and self.hook("received", record) == "drop":
                return 0, {}, Fault("drop"), extra
            fault = self._fault_for(record)
            if fault and fault.kind == "status":
                extra.update(fault.headers)
                raise _injected(fault)
            status, payload, replayed = self._run(record, fault if fault and fault.kind == "stored" else None)
            extra.update(replayed)
        except StripeFailure as failure:
            record.status = failure.status
            return failure.status, failure.body(), None, {**extra, **failure.headers}
        record.status = status
        if self.hook and self.hook("processed", record) == "drop":
            fault = Fault("drop")
        return status, payload, fault, extra

    def _fault_for(self, record: Recorded) -> Fault | None:
        """The fault this request meets; a "stored" one is used up only by a request that executes (see _run)."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(record.method, record.path, record.body):
                    if fault.kind != "stored":
                        fault.count -= 1
                    return fault
        return None

    def _take(self, fault: Fault) -> bool:
        with self._lock:
            if fault.count <= 0:
                return False
            fault.count -= 1
            return True

    def _run(self, record: Recorded, stored: Fault | None) -> tuple[int, Obj, dict[str, str]]:
        """The work, under the request's idempotency key when it is a POST with one.

        A replay never executes, so it never uses up a stored fault: the next request that does meets it.
        """
        method, path, params, key = record.method, record.path, record.params, record.idempotency_key

        def work() -> tuple[int, Obj]:
            if stored is None or not self._take(stored):
                return 200, self._router.dispatch(method, path, params)
            if stored.work:
                self._router.dispatch(method, path, params)
            headers = {"Stripe-Should-Retry": stored.should_retry} if stored.should_retry else {}
            message = stored.message or ("An unknown error occurred" if stored.status >= 500 else "Refused")
            raise StripeFailure(stored.status, message, error_type(stored.status), stored.code, headers=headers)

        if method != "POST" or not key:
            return (*work(), {})
        return self._idempotency.run(key, [method, path, params], work)


def _authenticate(authorization: str) -> None:
    token = authorization.removeprefix("Bearer ").strip()
    if not KEY.match(token) or "invalid" in token:
        raise StripeFailure(401, "Invalid API Key provided.", "invalid_request_error")


def _injected(fault: Fault) -> StripeFailure:
    kind = "idempotency_error" if (fault.code or "").startswith("idempotency") else error_type(fault.status)
    return StripeFailure(fault.status, fault.message or f"injected {fault.status}", kind, fault.code)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the strict fake Stripe API on localhost: the sync's resources and the payment ones."
    )
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--rate-limit", type=float, default=None, help="account requests/s before 429 (global-rate)")
    parser.add_argument(
        "--endpoint-rate-limit", type=float, default=None, help="requests/s per endpoint before 429 (endpoint-rate)"
    )
    parser.add_argument("--concurrency-limit", type=int, default=None, help="requests in flight before 429")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds sent with 429s")
    return parser


def fake_from(args: argparse.Namespace) -> FakeStripe:
    return FakeStripe(
        latency=args.latency,
        rate_limit=args.rate_limit,
        endpoint_rate_limit=args.endpoint_rate_limit,
        concurrency_limit=args.concurrency_limit,
        retry_after=args.retry_after,
    )


def serve(fake: FakeStripe, port: int, *lines: str) -> None:
    """Start `fake`, say where (the first line tells tools it is up), and serve until interrupted."""
    print(f"fake Stripe listening on {fake.start(port)}", flush=True)
    for line in lines:
        print(line, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
