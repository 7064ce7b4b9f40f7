"""Cohabs' Stripe tools: the sync (a restored database relinked to a fresh account) and support's payment incidents."""

__version__ = "0.1.0"
