"""Support's items on the shared scheduler: each endpoint its share, a cancel before anything else (pure)."""

from __future__ import annotations

from collections import Counter

from cohabs.shared.scheduler import Queues
from cohabs.support.calls import CANCEL_INTENT, CREATE_INTENT
from cohabs.support.execute import shape
from cohabs.support.items import Action, Incident, Item, Plan


def test_a_cancel_goes_first_and_the_requests_wait_for_it() -> None:
    plan = Plan(
        Incident.DISPUTES,
        [
            Item("dispute dp_won", Action.CANCEL, cancels=("pi_won",)),
            *(Item(f"dispute dp_{n}", Action.COLLECT) for n in range(3)),
            Item("dispute dp_row", Action.RECORD),
        ],
    )
    jobs = list(enumerate(plan.items))
    queues = Queues(jobs, shape(plan))
    # Workers to spare, yet only the cancel may start: a tenant is never asked while a request is being canceled.
    assert queues.take(Counter(), free=8) == [(CANCEL_INTENT, jobs[0])]
    queues.done(0)
    taken = queues.take(Counter(), free=8)
    assert Counter(lane for lane, _ in taken) == {CREATE_INTENT: 3, None: 1}  # the row alone makes no request
