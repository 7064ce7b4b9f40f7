"""Run the fake Stripe (devkit/fake/) on localhost: the sync's resources and the payment resources.

    python -m devkit.fake_stripe --port 12111 --latency 0.2 --rate-limit 100 --endpoint-rate-limit 25

Tests import the same names from here or from devkit.fake.
"""

from __future__ import annotations

from .fake import FakeServer, FakeStripe, Fault, Payments, Recorded, StripeFailure
from .fake.server import main

__all__ = ["FakeServer", "FakeStripe", "Fault", "Payments", "Recorded", "StripeFailure", "main"]

if __name__ == "__main__":
    main()
