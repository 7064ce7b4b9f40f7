"""A strict, stateful Stripe stand-in speaking HTTP on localhost: one server for both jobs' resources.

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
Payment methods are listed per customer, and an invoice default must be a
payment method attached to that customer, as at Stripe.

Faithful where support.py's money decisions depend on it: a bank-transfer
PaymentIntent waits for the customer's cash balance; a transfer needs the
available balance or a succeeded charge with enough left; a chargeback
withdraws its amount and a fee; an account the platform has not connected
answers 403 `account_invalid` (404 `resource_missing` on request).

    server.py      FakeStripe: the request pipeline, limits, faults, idempotency, the request log
    handler.py     HTTP, and the admin paths tools use (/_fake/stats, /_fake/faults, /_fake/seed)
    store.py       the objects: ids, `created` filters, pages; checks.py: values Stripe refuses
    routing.py     routes, the SDK's params (params.py), `expand`
    resources/     one module per resource; payments.py: the payment side as tests drive it

    python -m devkit.fake_stripe --port 12111 --latency 0.2 --rate-limit 100 --endpoint-rate-limit 25
"""

from .errors import StripeFailure
from .faults import Fault
from .handler import FakeServer
from .payments import Payments
from .recorded import Recorded
from .server import FakeStripe

__all__ = ["FakeServer", "FakeStripe", "Fault", "Payments", "Recorded", "StripeFailure"]
