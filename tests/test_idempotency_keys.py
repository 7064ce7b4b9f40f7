"""The one idempotency-key builder both jobs use, and the ledger that says whose stored 500 a key met.

The sync's keys are byte for byte the ones earlier versions sent, so a rerun on
an earlier version's data replays its requests instead of making objects
again. Support's keys changed format (a longer digest, no `:0` on the first
key); what keeps an item from being made twice there is the listing, which the
last tests show: an object made under the old key is found, never made again.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import stripe

from cohabs.shared.settings import Settings
from cohabs.shared.stripe.idempotency import MAX_KEYS, KeyHistory, idempotency_key
from cohabs.support.items import Action, Incident
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from devkit.support_account import Seeded
from tests.helpers import ELIGIBLE, TEST_KEY, ours, payments, support, sync

CUSTOMER: dict[str, Any] = {
    "email": "zoe.tenant@example.com",
    "name": "Zoë Tenant",
    "metadata": {"cohabs_user_id": "u-42"},
}
SUBSCRIPTION: dict[str, Any] = {
    "customer": "cus_A",
    "items": [
        {
            "price_data": {
                "currency": "eur",
                "product": "prod_B",
                "unit_amount": 68500,
                "recurring": {"interval": "month"},
            }
        }
    ],
    "trial_end": 1796140800,
    "metadata": {"cohabs_lease_id": "lease-7"},
}


def test_the_syncs_keys_are_the_ones_earlier_versions_sent() -> None:
    # Sent by the version before the one builder (relink/idempotency.py), for the same requests.
    first = "cohabs-relink:user:u-42:4bbe0a67918dc042e3d01279"
    assert idempotency_key("cohabs-relink", "user:u-42", CUSTOMER) == first
    assert idempotency_key("cohabs-relink", "user:u-42", CUSTOMER, None, 1) == first + ":1"
    assert idempotency_key("cohabs-relink", "user:u-42", CUSTOMER, None, 2) == first + ":2"
    replacing = idempotency_key("cohabs-relink", "user:u-42", CUSTOMER, "cus_Stale123")
    assert replacing == "cohabs-relink:user:u-42:3039df6ad3d8307cf74d6cd4"
    lease = idempotency_key("cohabs-relink", "lease:lease-7", SUBSCRIPTION)
    assert lease == "cohabs-relink:lease:lease-7:5ec61c83c807d63d01f64dd0"


def test_the_same_request_gets_the_same_key_and_anything_changed_another() -> None:
    key = idempotency_key("cohabs-relink", "lease:lease-7", SUBSCRIPTION)
    reordered = dict(reversed(list(SUBSCRIPTION.items())))
    assert idempotency_key("cohabs-relink", "lease:lease-7", reordered) == key
    repriced = {**SUBSCRIPTION, "items": [{"price_data": {**SUBSCRIPTION["items"][0]["price_data"], "unit_amount": 1}}]}
    others = [
        idempotency_key("cohabs-relink", "lease:lease-7", repriced),
        idempotency_key("cohabs-relink", "lease:lease-8", SUBSCRIPTION),
        idempotency_key("cohabs-relink", "lease:lease-7", SUBSCRIPTION, "sub_cancelled"),
        idempotency_key("cohabs-relink", "lease:lease-7", SUBSCRIPTION, None, 1),
        idempotency_key("cohabs-support", "lease:lease-7", SUBSCRIPTION),
    ]
    assert len({key, *others}) == 1 + len(others)


def test_keys_carry_no_personal_data_and_fit_stripes_255_characters() -> None:
    longest = idempotency_key("cohabs-support", "disputes:" + "d" * 64, CUSTOMER, "cus_" + "x" * 60, MAX_KEYS)
    assert len(longest) <= 255
    for key in (longest, idempotency_key("cohabs-relink", "user:u-42", CUSTOMER)):
        assert "zoe" not in key.lower() and "example.com" not in key and "Tenant" not in key


def test_every_key_a_sync_sends_has_the_earlier_format_and_no_email(
    settings: Settings, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)

    creates = {"/v1/customers": "user", "/v1/products": "room", "/v1/subscriptions": "lease"}
    emails = [u["email"].lower() for u in restored.users]
    seen = set()
    for request in fake.writes():
        key = request.idempotency_key or ""
        assert len(key) <= 255 and not any(email in key.lower() for email in emails), key
        if request.method == "DELETE":
            assert key == f"cohabs-relink:cancel:{request.path.rsplit('/', 1)[1]}"
        else:
            singular = creates[request.path]
            row = request.params["metadata"][f"cohabs_{singular}_id"]
            assert re.fullmatch(rf"cohabs-relink:{singular}:{re.escape(row)}:[0-9a-f]{{24}}", key), key
        seen.add(request.method if request.method == "DELETE" else creates[request.path])
    assert seen == {"user", "room", "lease", "DELETE"}


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


def earlier_support_key(incident: Incident, subject: str, params: Any) -> str:
    """The first key support sent before the one builder: a 16-character digest and `:0`."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"cohabs-support:{incident.value}:{subject}:{digest}:0"


def posts(fake: FakeStripe, since: int, *paths: str) -> list[str]:
    return [r.path for r in fake.requests[since:] if r.method == "POST" and r.path in paths]


def test_transfers_an_earlier_version_made_under_its_keys_are_found_never_made_again(
    settings: Settings, fake: FakeStripe, seeded: Seeded
) -> None:
    planned = support(settings, Incident.TRANSFERS, dry_run=True).plan
    payouts = [i.payout for i in planned.items if i.action is Action.TRANSFER and i.payout is not None]
    assert sorted(p.payment_id for p in payouts) == sorted(ELIGIBLE)
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": fake.url})
    made = {}
    for payout in payouts:
        earlier = earlier_support_key(Incident.TRANSFERS, payout.payment_id, payout.params)
        assert earlier != idempotency_key("cohabs-support", f"transfers:{payout.payment_id}", payout.params)
        transfer = client.v1.transfers.create(params=payout.params, options={"idempotency_key": earlier})
        made[payout.payment_id] = transfer.id
    since = len(fake.requests)

    outcome = support(settings, Incident.TRANSFERS)

    assert posts(fake, since, "/v1/transfers") == []
    done = {i.payment_id: i for i in outcome.plan.items if i.action is Action.DONE}
    for payment, transfer_id in made.items():
        assert done[payment].stripe_id == transfer_id
        assert done[payment].reason == f"already transferred: {transfer_id}"
    assert len(ours(fake, "transfers")) == len(ELIGIBLE)


def test_a_request_an_earlier_version_made_under_its_key_is_recorded_never_made_again(
    settings: Settings, mysql_server: Server, fake: FakeStripe, seeded: Seeded
) -> None:
    planned = support(settings, Incident.DISPUTES, dry_run=True).plan
    (item,) = [i for i in planned.items if i.action is Action.COLLECT]
    collection = item.collection
    assert collection is not None and collection.params is not None
    earlier = earlier_support_key(Incident.DISPUTES, collection.dispute_id, collection.params)
    assert earlier != idempotency_key("cohabs-support", f"disputes:{collection.dispute_id}", collection.params)
    # As an earlier version left it when stopped between the request and its row.
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": fake.url})
    request = client.v1.payment_intents.create(params=collection.params, options={"idempotency_key": earlier})
    since = len(fake.requests)

    (recorded,) = support(settings, Incident.DISPUTES).plan.items
    (done,) = support(settings, Incident.DISPUTES).plan.items

    assert posts(fake, since, "/v1/payment_intents") == []
    assert (recorded.action, recorded.stripe_id) == (Action.RECORD, request.id)
    assert payments(settings, mysql_server)[collection.row.id]["stripeChargeId"] == request.id
    assert (done.action, done.stripe_id) == (Action.WAIT, request.id)  # waiting for the tenant's transfer
    assert done.reason == (
        f"waiting for the tenant's bank transfer: request {request.id} (requires_action), "
        f"recorded in row {collection.row.id}"
    )
    assert [r["id"] for r in ours(fake, "payment_intents")] == [request.id]
