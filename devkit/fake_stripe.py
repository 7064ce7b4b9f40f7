"""A strict, stateful Stripe stand-in speaking HTTP on localhost.

Strict: parameters the official SDK does not declare are refused, as are
empty strings, bad emails, over-long metadata, unknown customers and products,
mixed currencies on one customer, trials in the past and amounts over
99,999,999 minor units. It honours idempotency keys (replay with
`Idempotent-Replayed: true`, `idempotency_error`, `idempotency_key_in_use`),
issues ids as long as Stripe's, hides deleted customers and products from
lists (retrieving one answers `deleted: true`), keeps every object and every
request for tests to inspect, and injects latency, 5xx bursts, 500s stored
under the idempotency key and lost responses on demand. Like Stripe it limits
the account's requests per second and each endpoint's (a method and a route,
over a sliding second) and optionally the requests in flight, answering 429
with the limiter's name in `Stripe-Rate-Limited-Reason` and no `Retry-After`
unless asked for one. Lists filter on `created` and page with cursors.

    python -m devkit.fake_stripe --port 12111 --latency 0.2 --rate-limit 100 --endpoint-rate-limit 25
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import secrets
import string
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .stripe_params import check_object, params_class

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID_CHARS = string.ascii_letters + string.digits
# Characters after the prefix, as Stripe issues them today (cus_NffrFeUfNV2Hib, sub_1MowQVLkdIwHu7ixeRlqHVzs).
ID_LENGTHS = {"cus": 14, "prod": 14, "sub": 24, "price": 24, "in": 24, "si": 14}
MAX_AMOUNT = 99_999_999  # Stripe's ceiling for an amount in minor units, any currency
RESOURCES = {
    "customers": ("cus", "Customer"),
    "products": ("prod", "Product"),
    "subscriptions": ("sub", "Subscription"),
}


class StripeFailure(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        return {"error": error}


@dataclass
class Fault:
    """Misbehave on the next `count` requests matching `method` and `path` (a prefix).

    kind: "status" answers `status` without doing the work; "drop" does the work
    and closes the connection without answering (a lost response); "delay"
    does the work and answers after `delay` seconds; "stored" answers 500 once
    the request began executing, so (with a key) the 500 is saved under the
    key and replayed to every retry, as Stripe does; with `work` the object
    was made before the 500 (Stripe's "the object may or may not exist").
    `should_retry` sets the `Stripe-Should-Retry` header on a stored 500 and
    its replays (None: no header, so the SDK retries them).
    """

    kind: str
    method: str = ""
    path: str = ""
    count: int = 1
    status: int = 500
    code: str | None = None
    delay: float = 0.0
    contains: str = ""  # only requests whose body holds this text (one row's id, say)
    message: str = ""  # the error message a "status" fault answers with
    work: bool = False  # "stored": the object was made before the 500
    should_retry: str | None = None  # "stored": the Stripe-Should-Retry header's value
    headers: dict[str, str] = field(default_factory=dict)  # sent with a "status" answer

    def matches(self, method: str, path: str, body: str) -> bool:
        return (
            self.count > 0
            and (not self.method or self.method == method)
            and path.startswith(self.path)
            and self.contains in body
        )


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    body: str
    status: int = 0


def route_of(method: str, path: str) -> str:
    """The endpoint Stripe limits a request under: `POST /v1/subscriptions/{id}` for any id."""
    parts = path.strip("/").split("/")
    if len(parts) > 2:
        parts[2] = "{id}"
    return f"{method} /{'/'.join(parts)}"


class Window:
    """Requests admitted over the last second, to refuse the one too many."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def full(self, moment: float, limit: float) -> bool:
        while self._times and moment - self._times[0] >= 1.0:
            self._times.popleft()
        return len(self._times) >= limit

    def add(self, moment: float) -> None:
        self._times.append(moment)


@dataclass
class FakeStripe:
    latency: float = 0.0
    rate_limit: float | None = None  # the account's requests per second over a sliding second; 429 above
    endpoint_rate_limit: float | None = None  # the same for each endpoint (method and route)
    concurrency_limit: int | None = None  # requests in flight at once; 429 above
    retry_after: float | None = None  # seconds to put in Retry-After on 429s
    now: Callable[[], float] = time.time
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {k: {} for k in ("customers", "products", "prices", "subscriptions", "invoices")}
    )
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    throttled: int = 0
    throttled_by: Counter[str] = field(default_factory=Counter)  # 429s per Stripe-Rate-Limited-Reason
    admitted: Counter[str] = field(default_factory=Counter)  # requests past the limiters, per endpoint
    # Called with ("received", request) before the work and ("processed", request) after it;
    # answering "drop" closes the connection there (tests use it to kill the client at that moment).
    hook: Callable[[str, Recorded], str | None] | None = None
    # More resource families (devkit/fake_payments.py): each answers the paths it owns, or None.
    # They run inside the idempotency, fault and recording machinery like the built-in resources.
    routes: list[Callable[[str, str, dict[str, Any]], tuple[int, dict[str, Any]] | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._seq = 0
        self._window = Window()
        self._windows: dict[str, Window] = {}
        self._in_flight = 0
        # key -> (fingerprint, status, body, headers) of the first request; None while it runs
        self._idempotency: dict[str, tuple[str, int, dict[str, Any], dict[str, str]] | None] = {}
        self._server: ThreadingHTTPServer | None = None

    # ----- lifecycle -------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(_Handler):
            stripe = fake

        self._server = FakeServer(("127.0.0.1", port), Handler)
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

    # ----- inspection ------------------------------------------------------------

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self.objects[kind].values(), key=lambda o: o["_seq"])

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "DELETE")]

    def seed(
        self,
        customers: int = 0,
        products: int = 0,
        subscriptions: int = 0,
        *,
        since: int | None = None,
        until: int | None = None,
        seed: int = 0,
    ) -> dict[str, int]:
        """Put objects straight into the account, created at random seconds in [since, until) (the past year
        by default): an account built over time, without the requests. Returns the count per kind."""
        rng = random.Random(seed)
        until = int(self.now()) if until is None else until
        since = until - 365 * 86400 if since is None else since
        with self._lock:
            made: dict[str, list[dict[str, Any]]] = {"customers": [], "products": [], "subscriptions": []}
            for kind, count in (("customers", customers), ("products", products), ("subscriptions", subscriptions)):
                for index in range(count):
                    obj: dict[str, Any] = {"object": kind[:-1], "livemode": False, "metadata": {}}
                    if kind == "customers":
                        obj.update(email=f"seed{index}@example.com", name=f"Seed {index}", phone=None, deleted=False)
                        obj["metadata"]["cohabs_user_id"] = f"seed-user-{index}"
                    elif kind == "products":
                        obj.update(name=f"Room {index}", active=True, default_price=None)
                        obj["metadata"]["cohabs_room_id"] = f"seed-room-{index}"
                    else:
                        customer = rng.choice(made["customers"])["id"] if made["customers"] else None
                        product = rng.choice(made["products"])["id"] if made["products"] else None
                        price = {"object": "price", "product": product, "currency": "eur", "unit_amount": 50000}
                        obj.update(
                            status="trialing", customer=customer, items={"object": "list", "data": [{"price": price}]}
                        )
                        obj["metadata"]["cohabs_lease_id"] = f"seed-lease-{index}"
                    obj["id"] = f"{RESOURCES[kind][0]}_seed{index:06d}{''.join(rng.choices(ID_CHARS, k=6))}"
                    obj["created"] = rng.randrange(since, until)
                    made[kind].append(obj)
            for kind, objs in made.items():
                for obj in sorted(objs, key=lambda o: o["created"]):
                    self._seq += 1
                    obj["_seq"] = self._seq
                    self.objects[kind][obj["id"]] = obj
        return {kind: len(objs) for kind, objs in made.items()}

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    # ----- request handling ------------------------------------------------------

    def _fault_for(self, method: str, path: str, body: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, body):
                    fault.count -= 1
                    return fault
        return None

    def _admit(self, endpoint: str) -> str | None:
        """Count the request in, or name the limiter that refuses it."""
        with self._lock:
            moment = time.monotonic()
            window = self._windows.setdefault(endpoint, Window())
            if self.concurrency_limit is not None and self._in_flight >= self.concurrency_limit:
                refused: str | None = "global-concurrency"
            elif self.endpoint_rate_limit is not None and window.full(moment, self.endpoint_rate_limit):
                refused = "endpoint-rate"
            elif self.rate_limit is not None and self._window.full(moment, self.rate_limit):
                refused = "global-rate"
            else:
                refused = None
                window.add(moment)
                self._window.add(moment)
                self._in_flight += 1
                self.admitted[endpoint] += 1
            if refused:
                self.throttled += 1
                self.throttled_by[refused] += 1
            return refused

    def handle(
        self, method: str, path: str, params: dict[str, Any], headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any], Fault | None, dict[str, str]]:
        """Returns status, body, the fault to apply after the work, and extra headers."""
        key = headers.get("idempotency-key")
        record = Recorded(method, path, params, key, body)
        with self._lock:
            self.requests.append(record)
        # Limiters count a request when it arrives; the work (and the latency) come after.
        refused = self._admit(route_of(method, path))
        try:
            return self._handle(record, headers.get("authorization", ""), refused)
        finally:
            if not refused:
                with self._lock:
                    self._in_flight -= 1

    def _handle(
        self, record: Recorded, authorization: str, refused: str | None
    ) -> tuple[int, dict[str, Any], Fault | None, dict[str, str]]:
        method, path, params, key = record.method, record.path, record.params, record.idempotency_key
        if self.latency:
            time.sleep(self.latency)
        extra: dict[str, str] = {}
        try:
            self._authenticate(authorization)
            if refused:
                extra["Stripe-Rate-Limited-Reason"] = refused
                if self.retry_after is not None:
                    extra["Retry-After"] = f"{self.retry_after:g}"
                raise StripeFailure(
                    429, "Too many requests hit the API too quickly.", "invalid_request_error", "rate_limit"
                )
            if self.hook and self.hook("received", record) == "drop":
                return 0, {}, Fault("drop"), extra
            fault = self._fault_for(method, path, record.body)
            if fault and fault.kind == "status":
                extra.update(fault.headers)
                kind = (
                    "idempotency_error" if (fault.code or "").startswith("idempotency") else _error_type(fault.status)
                )
                raise StripeFailure(fault.status, fault.message or f"injected {fault.status}", kind, fault.code)
            stored = fault if fault and fault.kind == "stored" else None
            status, payload, replayed = self._idempotent(method, path, params, key, stored)
            extra.update(replayed)
        except StripeFailure as failure:
            record.status = failure.status
            return failure.status, failure.body(), None, {**extra, **failure.headers}
        record.status = status
        if self.hook and self.hook("processed", record) == "drop":
            fault = Fault("drop")
        return status, payload, fault, extra

    def _authenticate(self, authorization: str) -> None:
        token = authorization.removeprefix("Bearer ").strip()
        if not re.match(r"^(sk|rk)_(test|live)_\w+$", token) or "invalid" in token:
            raise StripeFailure(401, "Invalid API Key provided.", "invalid_request_error")

    def _idempotent(
        self, method: str, path: str, params: dict[str, Any], key: str | None, stored: Fault | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, body and the headers of a replay; a saved error is raised again, marked as replayed."""
        if method != "POST" or not key:
            return (*self._execute(method, path, params, stored), {})
        fingerprint = hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()
        with self._lock:
            slot = key
            if slot in self._idempotency:
                saved = self._idempotency[slot]
                if saved is None:
                    raise StripeFailure(
                        409,
                        "There is currently another in-progress request using this Idempotent Key.",
                        "idempotency_error",
                        "idempotency_key_in_use",
                    )
                if saved[0] != fingerprint:
                    raise StripeFailure(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                        "idempotency_error",
                    )
                _, status, body, headers = saved
                replay = {**headers, "Idempotent-Replayed": "true"}
                if status >= 400:
                    error = body["error"]
                    raise StripeFailure(status, error["message"], error["type"], error.get("code"), replay)
                return status, body, replay
            self._idempotency[slot] = None
        try:
            status, payload = self._execute(method, path, params, stored)
        except StripeFailure as failure:
            # Stripe keeps the outcome of a request that began executing, errors (500s included) too.
            with self._lock:
                self._idempotency[slot] = (fingerprint, failure.status, failure.body(), failure.headers)
            raise
        except BaseException:
            with self._lock:
                del self._idempotency[slot]
            raise
        with self._lock:
            self._idempotency[slot] = (fingerprint, status, payload, {})
        return status, payload, {}

    def _execute(
        self, method: str, path: str, params: dict[str, Any], stored: Fault | None
    ) -> tuple[int, dict[str, Any]]:
        if stored is None:
            return self._dispatch(method, path, params)
        if stored.work:
            self._dispatch(method, path, params)
        headers = {"Stripe-Should-Retry": stored.should_retry} if stored.should_retry else {}
        raise StripeFailure(500, stored.message or "An unknown error occurred", "api_error", headers=headers)

    def _dispatch(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for route in self.routes:
            answer = route(method, path, params)
            if answer is not None:
                return answer
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "v1" or parts[1] not in (*RESOURCES, "prices", "invoices"):
            raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")
        resource = parts[1]
        ident = parts[2] if len(parts) > 2 else None
        if len(parts) > 3:
            raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")
        singular = {
            "customers": "Customer",
            "products": "Product",
            "subscriptions": "Subscription",
            "prices": "Price",
            "invoices": "Invoice",
        }[resource]
        verb = {
            ("GET", False): "List",
            ("POST", False): "Create",
            ("GET", True): "Retrieve",
            ("POST", True): "Update",
            ("DELETE", True): "Cancel" if resource == "subscriptions" else "Delete",
        }.get((method, ident is not None))
        if verb is None:
            raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")
        errors: list[str] = []
        if verb == "Delete":
            if params:
                errors.append(f"Received unknown parameter: {next(iter(params))}")
        else:
            check_object(params, params_class(f"{singular}{verb}Params"), errors)
        if errors:
            raise StripeFailure(
                400, errors[0], code="parameter_unknown" if "unknown" in errors[0] else "parameter_invalid"
            )
        with self._lock:
            if verb == "List":
                return 200, self._list(resource, params)
            if verb == "Retrieve":
                return 200, self._retrieve(resource, ident or "")
            handler = getattr(self, f"_{verb.lower()}_{resource}", None)
            if handler is None:
                raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")
            return 200, self._public(handler(ident, params) if ident else handler(params))

    # ----- objects ---------------------------------------------------------------

    def _new(self, kind: str, prefix: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._seq += 1
        obj.update(
            id=new_id(prefix),
            created=int(self.now()),
            livemode=False,
        )
        obj["_seq"] = self._seq
        self.objects[kind][obj["id"]] = obj
        return obj

    def _get(self, kind: str, ident: str) -> dict[str, Any]:
        obj = self.objects[kind].get(ident)
        if obj is None or obj.get("deleted"):
            raise StripeFailure(404, f"No such {kind[:-1]}: '{ident}'", code="resource_missing")
        return obj

    def _retrieve(self, kind: str, ident: str) -> dict[str, Any]:
        obj = self.objects[kind].get(ident)
        if obj is not None and obj.get("deleted"):
            # Stripe answers a deleted customer or product with a stub, not a 404.
            return {"id": ident, "object": obj["object"], "deleted": True}
        return self._public(self._get(kind, ident))

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _list(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise StripeFailure(400, "Invalid limit: must be between 1 and 100")
        found = [o for o in self.objects[kind].values() if not o.get("deleted")]
        if kind == "subscriptions":
            status = params.get("status")
            if status is None:
                found = [o for o in found if o["status"] not in ("canceled", "incomplete_expired")]
            elif status != "all":
                found = [o for o in found if o["status"] == status]
            if "customer" in params:
                found = [o for o in found if o["customer"] == params["customer"]]
        found = [o for o in found if _created_matches(o["created"], params.get("created"))]
        found.sort(key=lambda o: (-o["created"], -o["_seq"]))  # newest first, as Stripe lists
        after = params.get("starting_after")
        if after:
            index = next((i for i, o in enumerate(found) if o["id"] == after), None)
            if index is None:
                raise StripeFailure(400, f"No such {kind[:-1]}: '{after}'", code="resource_missing")
            found = found[index + 1 :]
        page = found[:limit]
        return {
            "object": "list",
            "url": f"/v1/{kind}",
            "has_more": len(found) > limit,
            "data": [self._public(o) for o in page],
        }

    @staticmethod
    def _metadata(params: dict[str, Any]) -> dict[str, str]:
        metadata = params.get("metadata") or {}
        if len(metadata) > 50:
            raise StripeFailure(400, "Invalid metadata: at most 50 keys")
        for key, value in metadata.items():
            if len(key) > 40 or len(str(value)) > 500:
                raise StripeFailure(400, f"Invalid metadata[{key}]: keys up to 40 characters, values up to 500")
        return dict(metadata)

    @staticmethod
    def _lengths(params: dict[str, Any], limits: dict[str, int]) -> None:
        for key, limit in limits.items():
            if len(str(params.get(key) or "")) > limit:
                raise StripeFailure(400, f"Invalid {key}: must be at most {limit} characters", code="parameter_invalid")

    def _create_customers(self, params: dict[str, Any]) -> dict[str, Any]:
        self._lengths(params, {"name": 256, "phone": 20, "description": 350})
        email = params.get("email")
        if email is not None and (len(email) > 512 or not EMAIL.match(email)):
            raise StripeFailure(400, "Invalid email address: " + email, code="email_invalid")
        return self._new(
            "customers",
            "cus",
            {
                "object": "customer",
                "email": email,
                "name": params.get("name"),
                "phone": params.get("phone"),
                "address": params.get("address"),
                "description": params.get("description"),
                "metadata": self._metadata(params),
                "currency": None,
                "deleted": False,
            },
        )

    def _update_customers(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._get("customers", ident)
        for key in ("email", "name", "phone", "address", "description"):
            if key in params:
                customer[key] = params[key] or None
        if "metadata" in params:
            customer["metadata"] = {**customer["metadata"], **self._metadata(params)}
            customer["metadata"] = {k: v for k, v in customer["metadata"].items() if v != ""}
        return customer

    def _delete_customers(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._get("customers", ident)
        customer["deleted"] = True
        for sub in self.objects["subscriptions"].values():
            if sub["customer"] == ident and sub["status"] != "canceled":
                sub.update(status="canceled", canceled_at=int(self.now()))
        return {"id": ident, "object": "customer", "deleted": True}

    def _create_products(self, params: dict[str, Any]) -> dict[str, Any]:
        self._lengths(params, {"name": 250, "description": 40_000})
        product = self._new(
            "products",
            "prod",
            {
                "object": "product",
                "active": True,
                "name": params["name"],
                "description": params.get("description"),
                "metadata": self._metadata(params),
                "default_price": None,
            },
        )
        if "default_price_data" in params:
            product["default_price"] = self._price(params["default_price_data"], product["id"])["id"]
        return product

    def _update_products(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        product = self._get("products", ident)
        for key in ("name", "description"):
            if key in params:
                product[key] = params[key] or None
        if "metadata" in params:
            merged = {**product["metadata"], **self._metadata(params)}
            product["metadata"] = {k: v for k, v in merged.items() if v != ""}
        return product

    def _delete_products(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        self._get("products", ident)["deleted"] = True
        return {"id": ident, "object": "product", "deleted": True}

    def _price(self, data: dict[str, Any], product: str) -> dict[str, Any]:
        currency = data["currency"]
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeFailure(400, f"Invalid currency: {currency}")
        amount = int(data["unit_amount"]) if "unit_amount" in data else None
        if amount is None or amount < 0:
            raise StripeFailure(400, "Invalid unit_amount: must be a non-negative integer")
        if amount > MAX_AMOUNT:
            raise StripeFailure(
                400,
                f"Invalid unit_amount: must be at most {MAX_AMOUNT} (eight digits of the currency's smallest unit)",
                code="parameter_invalid_integer",
            )
        recurring = data.get("recurring")
        return self._new(
            "prices",
            "price",
            {
                "object": "price",
                "active": True,
                "product": product,
                "currency": currency,
                "unit_amount": amount,
                "type": "recurring" if recurring else "one_time",
                "recurring": {
                    "interval": recurring["interval"],
                    "interval_count": int(recurring.get("interval_count", 1)),
                }
                if recurring
                else None,
                "metadata": self._metadata(data),
            },
        )

    def _create_subscriptions(self, params: dict[str, Any]) -> dict[str, Any]:
        now = int(self.now())
        customer = self._get("customers", params.get("customer") or "")
        items = list(params.get("items", {}).values()) if isinstance(params.get("items"), dict) else []
        if len(items) != 1:
            raise StripeFailure(400, "This fake bills exactly one item per subscription.")
        item = items[0]
        if "price_data" in item:
            product = self._get("products", item["price_data"]["product"])
            if not product["active"]:
                raise StripeFailure(400, f"The product {product['id']} is inactive.")
            price = self._price(item["price_data"], product["id"])
        elif "price" in item:
            price = self._get("prices", item["price"])
        else:
            raise StripeFailure(400, "Each item needs a price or price_data.")
        if price["type"] != "recurring":
            raise StripeFailure(400, "A subscription needs a recurring price.")
        currency = price["currency"]
        if customer["currency"] and customer["currency"] != currency:
            raise StripeFailure(
                400,
                f"You cannot combine currencies on a single customer. This customer has had a subscription or "
                f"payment in {customer['currency']}, but you are trying to pay in {currency}.",
                code="currency_mismatch",
            )
        trial_end = params.get("trial_end")
        if trial_end == "now":
            trial_end = None
        elif trial_end is not None:
            trial_end = int(trial_end)
            if trial_end <= now:
                raise StripeFailure(400, "Invalid timestamp: must be in the future", code="parameter_invalid")
            if trial_end - now > 730 * 86400:
                raise StripeFailure(400, "trial_end can be at most 730 days in the future")
        cancel_at = int(params["cancel_at"]) if params.get("cancel_at") else None
        if cancel_at is not None and cancel_at <= now:
            raise StripeFailure(400, "Invalid cancel_at: must be in the future", code="parameter_invalid")
        self._lengths(params, {"description": 500})
        collection = params.get("collection_method", "charge_automatically")
        customer["currency"] = currency
        if trial_end:
            status, due = "trialing", 0
        elif collection == "send_invoice":
            status, due = "active", price["unit_amount"]
        else:
            # No payment method on a fresh account: the first invoice cannot be paid.
            status, due = "incomplete", price["unit_amount"]
        subscription = self._new(
            "subscriptions",
            "sub",
            {
                "object": "subscription",
                "customer": customer["id"],
                "status": status,
                "currency": currency,
                "collection_method": collection,
                "description": params.get("description"),
                "metadata": self._metadata(params),
                "start_date": now,
                "trial_start": now if trial_end else None,
                "trial_end": trial_end,
                "billing_cycle_anchor": trial_end or now,
                "cancel_at": cancel_at,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "backdate_start_date": params.get("backdate_start_date"),
                "proration_behavior": params.get("proration_behavior"),
                "items": {
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {
                            "id": new_id("si"),
                            "object": "subscription_item",
                            "price": self._public(price),
                            "quantity": 1,
                        }
                    ],
                },
            },
        )
        invoice = self._new(
            "invoices",
            "in",
            {
                "object": "invoice",
                "subscription": subscription["id"],
                "customer": customer["id"],
                "currency": currency,
                "amount_due": due,
                "status": "paid" if due == 0 else "open",
                "billing_reason": "subscription_create",
            },
        )
        subscription["latest_invoice"] = invoice["id"]
        return subscription

    def _update_subscriptions(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        subscription = self._get("subscriptions", ident)
        if "metadata" in params:
            merged = {**subscription["metadata"], **self._metadata(params)}
            subscription["metadata"] = {k: v for k, v in merged.items() if v != ""}
        if "description" in params:
            subscription["description"] = params["description"] or None
        return subscription

    def _cancel_subscriptions(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        subscription = self._get("subscriptions", ident)
        if subscription["status"] == "canceled":
            raise StripeFailure(
                400, f"No such subscription: '{ident}' (it is already canceled)", code="resource_missing"
            )
        subscription.update(status="canceled", canceled_at=int(self.now()))
        details = params.get("cancellation_details") or {}
        subscription["cancellation_details"] = {
            "comment": details.get("comment") or None,
            "feedback": details.get("feedback") or None,
            "reason": "cancellation_requested",
        }
        subscription["_cancel_params"] = {k: v for k, v in params.items() if k != "cancellation_details"}
        return subscription


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(ID_CHARS) for _ in range(ID_LENGTHS[prefix]))}"


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda created, bound: created > bound,
    "gte": lambda created, bound: created >= bound,
    "lt": lambda created, bound: created < bound,
    "lte": lambda created, bound: created <= bound,
}


def _created_matches(created: int, wanted: Any) -> bool:
    """`created` as the list endpoints take it: one timestamp, or bounds keyed gt, gte, lt and lte."""
    if wanted is None:
        return True
    if not isinstance(wanted, dict):
        return created == int(wanted)
    return all(_COMPARE[op](created, int(bound)) for op, bound in wanted.items())


def _error_type(status: int) -> str:
    return "api_error" if status >= 500 else "invalid_request_error"


def decode_form(text: str) -> dict[str, Any]:
    """`a[b][0][c]=v` → {"a": {"b": {"0": {"c": "v"}}}} (lists keep their digit keys)."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, *rest = re.findall(r"[^\[\]]+|(?<=\[)(?=\])", key) or [key]
        path = [head, *rest]
        node = result
        for step in path[:-1]:
            node = node.setdefault(step, {})
            if not isinstance(node, dict):
                raise StripeFailure(400, f"Invalid parameter: {key}")
        node[path[-1]] = value
    return result


class FakeServer(ThreadingHTTPServer):
    """The HTTP server behind FakeStripe: a thread per connection, and a backlog that never stalls a client."""

    daemon_threads = True
    # socketserver's default backlog is 5: a sixth client connecting at once waits for a SYN retry (about 1 s).
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout, lost response) is part of the game


class _Handler(BaseHTTPRequestHandler):
    stripe: FakeStripe
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            # The client died mid-request: like Stripe, never act on half a request.
            self.close_connection = True
            return
        body = raw.decode()
        if split.path.startswith("/_fake/"):
            self._admin(split.path, body)
            return
        try:
            params = decode_form(body if self.command == "POST" else split.query)
        except StripeFailure as failure:
            self._reply(failure.status, failure.body(), {})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, fault, extra = self.stripe.handle(self.command, split.path, params, headers, body)
        if fault and fault.kind == "drop":
            self.close_connection = True
            return
        if fault and fault.kind == "delay":
            time.sleep(fault.delay)
        self._reply(status, payload, extra)

    def _admin(self, path: str, body: str) -> None:
        fake = self.stripe
        if path == "/_fake/stats":
            with fake._lock:
                counts = {k: len(v) for k, v in fake.objects.items()}
                methods = Counter(r.method for r in fake.requests)
                stats = {
                    "requests": len(fake.requests),
                    "by_method": methods,
                    "throttled": fake.throttled,
                    "throttled_by": fake.throttled_by,
                    "admitted": fake.admitted,
                    "objects": counts,
                }
            self._reply(200, stats, {})
        elif path == "/_fake/faults" and self.command == "POST":
            fake.inject(*(Fault(**f) for f in json.loads(body or "[]")))
            self._reply(200, {"ok": True}, {})
        elif path == "/_fake/seed" and self.command == "POST":
            self._reply(200, {"objects": fake.seed(**json.loads(body or "{}"))}, {})
        else:
            self._reply(404, {"error": {"message": "unknown admin path"}}, {})

    def _reply(self, status: int, payload: dict[str, Any], extra: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the strict fake Stripe API on localhost.")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--rate-limit", type=float, default=None, help="account requests/s before 429 (global-rate)")
    parser.add_argument(
        "--endpoint-rate-limit", type=float, default=None, help="requests/s per endpoint before 429 (endpoint-rate)"
    )
    parser.add_argument("--concurrency-limit", type=int, default=None, help="requests in flight before 429")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds sent with 429s")
    args = parser.parse_args()
    fake = FakeStripe(
        latency=args.latency,
        rate_limit=args.rate_limit,
        endpoint_rate_limit=args.endpoint_rate_limit,
        concurrency_limit=args.concurrency_limit,
        retry_after=args.retry_after,
    )
    print(f"fake Stripe listening on {fake.start(args.port)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
