"""Run the fake Stripe (devkit/fake/) on localhost: one server for both jobs, the sync's resources and the payment ones.

    python -m devkit.fake_stripe --port 12111                        # an empty account: the sync's journey
    python -m devkit.fake_stripe --port 12111 --seed-support cohabs_support   # shaped like a support database
    python -m devkit.fake_stripe --latency 0.2 --rate-limit 100 --endpoint-rate-limit 25

The first line it prints says where it listens (tools read it to know it is up);
a seeded one then says what it made. It keeps its objects in memory until stopped.
Tests import the same names from here or from devkit.fake.
"""

from __future__ import annotations

from .fake import FakeServer, FakeStripe, Fault, Payments, Recorded, StripeFailure
from .fake.server import arguments, fake_from, serve
from .support_account import add_arguments, seed_from_arguments

__all__ = ["FakeServer", "FakeStripe", "Fault", "Payments", "Recorded", "StripeFailure", "main"]


def main(argv: list[str] | None = None) -> None:
    parser = arguments()
    add_arguments(parser)
    args = parser.parse_args(argv)
    fake = fake_from(args)
    serve(fake, args.port, *seed_from_arguments(fake, args))


if __name__ == "__main__":
    main()
