"""Misbehaviour on demand: errors, 500s kept under the idempotency key, lost and late answers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Fault:
    """Misbehave on the next `count` requests matching `method` and `path` (a prefix).

    kind: "status" answers `status` without doing the work; "drop" does the work
    and closes the connection without answering (a lost response); "delay"
    does the work and answers after `delay` seconds; "stored" answers `status`
    (500 unless told) once the request began executing, so (with a key) the
    answer is saved under the key and replayed to every retry, as Stripe does
    for 500s and for refusals such as 400 insufficient_capabilities_for_transfer;
    with `work` the object was made before the 500 (Stripe's "the object may or
    may not exist").
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
