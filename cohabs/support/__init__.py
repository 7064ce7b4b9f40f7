"""The second job: re-collect disputed payments and pay out rent that never reached its house (support.py)."""
