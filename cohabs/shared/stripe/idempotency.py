"""Idempotency keys: how they are built, and what this run saw of each one.

Stripe keeps the answer of a keyed request once the request began executing,
errors included (a refusal such as 400 `insufficient_capabilities_for_transfer`,
or a 500), and replays it to every retry with that key for as long as the key
lives (at least 24 hours). A deterministic key whose request got a stored
error would fail the row on every later run, even once its cause is fixed; so
each create has a sequence of keys (k0, k1, …) and a run moves from k_i to
k_i+1 only when Stripe answered k_i's very first request of this run with a
replayed error: that error was stored before this run touched the key, the
start-up read of the account (made earlier) found no object for the row, so
the object does not exist and k_i+1 cannot make a second one. An error this
run caused itself fails the row for this run only; the next run's read tells
whether Stripe made the object.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

MAX_KEYS = 16  # a run adds at most one stored error per row; this many means the cause is not fixed


def idempotency_key(
    namespace: str, subject: str, params: Mapping[str, Any], replacing: str | None = None, attempt: int = 0
) -> str:
    """Same subject, same request, same replaced id → same key; anything changed → a fresh key.

    `namespace` names the job (the sync's keys never meet support's), `subject` the
    row or item. `replacing` is the stale id a create replaces, so that
    replacing an object deleted in Stripe creates a new one instead of
    replaying the old creation; `attempt` is the key's place in the sequence
    (k0 has no suffix). Holds no personal data: primary keys and a digest.
    """
    material = json.dumps([params, replacing], sort_keys=True, default=str)
    digest = hashlib.sha256(material.encode()).hexdigest()[:24]
    return f"{namespace}:{subject}:{digest}" + (f":{attempt}" if attempt else "")


def action_key(namespace: str, action: str, object_id: str) -> str:
    """The key of an action on an object that exists (the sync's cancel): the object names the request, which
    carries no data of its own to digest, so its key is the same on every run (`cohabs-relink:cancel:sub_…`)."""
    return f"{namespace}:{action}:{object_id}"


class KeyHistory:
    """Per run: which keys this run has sent, and which ones Stripe met with an earlier run's stored error.

    The SDK retries 409 and 5xx out of our sight, and its retries of this run's
    own 500 come back as replays too: only the answer to the first request
    that reached Stripe's idempotency layer says whose error it is.
    """

    def __init__(self) -> None:
        self._sent: set[str] = set()
        self._inherited: set[str] = set()
        self._made_earlier: set[str] = set()
        self._lock = threading.Lock()

    def answered(self, key: str, status: int | None, replayed: bool) -> None:
        """Record one attempt; `status` None when no answer came (the request may have run)."""
        if status == 429:
            return  # Stripe's rate limiter answers before the idempotency layer: the key was not touched
        with self._lock:
            if key not in self._sent and status is not None and replayed:
                (self._inherited if status >= 400 else self._made_earlier).add(key)
            self._sent.add(key)

    def made_earlier(self, key: str) -> bool:
        """True when this run's first request with the key got back an earlier run's success (a replay)."""
        with self._lock:
            return key in self._made_earlier

    def inherited(self, key: str) -> bool:
        """True when the key's stored error predates this run's first request with it."""
        with self._lock:
            return key in self._inherited
