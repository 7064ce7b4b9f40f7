"""The one idempotency-key builder both jobs use, and the ledger that says whose stored 500 a key met."""

from __future__ import annotations

from cohabs.shared.stripe.idempotency import KeyHistory


def test_the_ledger_tells_an_earlier_runs_stored_500_from_this_runs() -> None:
    history = KeyHistory()
    history.answered("old", 500, replayed=True)  # the first answer this run got was already stored
    history.answered("old", 500, replayed=True)
    history.answered("ours", 500, replayed=False)  # this run's request made the 500 ...
    history.answered("ours", 500, replayed=True)  # ... and the SDK's retry got it replayed
    history.answered("lost", None, replayed=False)  # no answer: the request may have run
    history.answered("lost", 500, replayed=True)
    history.answered("throttled", 429, replayed=False)  # refused before Stripe's idempotency layer
    history.answered("throttled", 500, replayed=True)
    assert [k for k in ("old", "ours", "lost", "throttled") if history.inherited(k)] == ["old", "throttled"]
