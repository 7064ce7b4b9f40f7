"""Relink a restored Cohabs database to a fresh Stripe account."""

__version__ = "0.1.0"
