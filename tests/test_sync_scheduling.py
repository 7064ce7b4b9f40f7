"""Every request goes as soon as it can: a lease right after its own user and room, cancels on their own."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from cohabs.shared.scheduler import Queues
from cohabs.shared.settings import Settings
from cohabs.sync.billing import Mode, Terms
from cohabs.sync.execute import SHAPE
from cohabs.sync.kinds import KINDS
from cohabs.sync.plan import Action, Billing, Step
from cohabs.sync.rows import Kind
from cohabs.sync.run import Options, World, run
from cohabs.sync.run_report import Report
from devkit.dumpgen import Dump, generate
from devkit.fake_stripe import FakeStripe, Recorded
from devkit.mysql import Server
from tests.helpers import NOW, assert_one_object_per_row, restore


def create(kind: Kind, row_id: str, user: str = "", room: str = "") -> Step:
    terms = Terms(Mode.ONGOING, NOW, NOW, None, "")
    billing = Billing(row_id, user, room, 100, "eur", terms, None) if kind is Kind.LEASE else None
    return Step(kind, row_id, row_id, Action.CREATE, billing=billing)


def test_each_endpoint_gets_its_share_of_the_workers_in_turn() -> None:
    users, rooms = KINDS[Kind.USER].create_endpoint, KINDS[Kind.ROOM].create_endpoint
    steps = [create(kind, f"{kind.singular}{i}") for i in range(10) for kind in (Kind.USER, Kind.ROOM)]
    kept = Step(Kind.USER, "kept", "kept", Action.KEEP, stripe_id="cus_1")
    queues = Queues([*steps, kept], SHAPE)
    taken = queues.take(Counter(), free=8)
    # The step that makes no request needs one worker; the two endpoints share the other seven.
    assert Counter(lane for lane, _ in taken) == {users: 3, rooms: 4, None: 1}
    assert [job for _, job in taken] == [kept, *steps[:6], steps[7]]  # one of each in turn, in queue order
    # An endpoint at its share gets no more; a worker set free goes to the one below it.
    assert queues.take(Counter({users: 5, rooms: 3}), free=1) == [(rooms, steps[2 * 4 + 1])]  # room4


def test_a_lease_is_ready_once_its_own_user_and_room_are_done_whatever_else_is_left() -> None:
    lease = create(Kind.LEASE, "lease", user="user1", room="room0")
    user0, user1, room0 = create(Kind.USER, "user0"), create(Kind.USER, "user1"), create(Kind.ROOM, "room0")
    queues = Queues([user0, user1, room0, lease], SHAPE)
    assert [job for _, job in queues.take(Counter(), free=8)] == [room0, user0, user1]
    queues.done((Kind.USER, "user1"))
    assert queues.take(Counter(), free=8) == []
    queues.done((Kind.ROOM, "room0"))
    assert queues.take(Counter(), free=8) == [(KINDS[Kind.LEASE].create_endpoint, lease)]  # user0 still running


@pytest.fixture
def larger(settings: Settings, tmp_path: Path) -> Dump:
    dump = generate(120, 30, 120, now=NOW, seed=1)  # one lease left unlinked: the orphan
    restore(settings, dump.write(tmp_path / "larger.dump"))
    return dump


def sync_with(settings: Settings, workers: int) -> Report:
    world = World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)
    return run(settings, Options(workers=workers), world)


def test_a_lease_starts_once_its_own_user_and_room_are_stored_not_after_every_user(
    settings: Settings, mysql_server: Server, fake: FakeStripe, larger: Dump
) -> None:
    stored_before: list[bool] = []

    def check_links(stage: str, request: Recorded) -> None:
        if stage != "received" or request.method != "POST" or request.path != "/v1/subscriptions":
            return
        conn = mysql_server.connect(settings.db_name)  # the fake's threads each ask on their own
        try:
            with conn.cursor() as cur:
                customer, product = request.params["customer"], request.params["items"]["0"]["price_data"]["product"]
                cur.execute("SELECT COUNT(*) FROM users WHERE stripeCustomerId = %s", [customer])
                ((users,),) = cur.fetchall()
                cur.execute("SELECT COUNT(*) FROM rooms WHERE stripeProductId = %s", [product])
                ((rooms,),) = cur.fetchall()
        finally:
            conn.close()
        stored_before.append(users == rooms == 1)

    fake.hook = lambda stage, request: check_links(stage, request)
    report = sync_with(settings, workers=8)
    fake.hook = None

    assert len(report.unsynced) == 1
    assert stored_before and all(stored_before)  # every subscription named a customer and product already stored
    posts = [r.path for r in fake.requests if r.method == "POST"]
    customers = [i for i, path in enumerate(posts) if path == "/v1/customers"]
    first_lease = posts.index("/v1/subscriptions")
    # Users go in the order leases need them, so the first lease goes early: within the first quarter of the
    # customers. How many customers land before it depends on how fast the fake answers each endpoint (the
    # 11th customer beat it in about one run in ten, already before the scheduler was shared), not on the order.
    assert first_lease < customers[len(customers) // 4]
    assert_one_object_per_row(settings, mysql_server, fake, larger)


def test_cancels_of_ended_leases_wait_on_their_own_endpoint_and_never_hold_creates_back(
    settings: Settings, mysql_server: Server, fake: FakeStripe, larger: Dump
) -> None:
    to_create = len(larger.leases) - 1  # all but the lease of a room that does not exist
    every_create_arrived, creates_held_back = threading.Event(), threading.Event()

    def hold_cancels(stage: str, request: Recorded) -> None:
        creating = stage == "processed" and request.method == "POST" and request.path == "/v1/subscriptions"
        if creating and len(fake.all("subscriptions")) == to_create:
            every_create_arrived.set()
        # Were cancels made by the workers that created their subscriptions, waiting here would
        # leave no worker for the creates still to come, and the wait would run out.
        if stage == "received" and request.method == "DELETE" and not every_create_arrived.wait(30):
            creates_held_back.set()
            every_create_arrived.set()

    fake.hook = lambda stage, request: hold_cancels(stage, request)
    report = sync_with(settings, workers=8)
    fake.hook = None

    assert not creates_held_back.is_set()
    assert len(report.unsynced) == 1
    deletes = [r for r in fake.requests if r.method == "DELETE"]
    assert deletes and all(r.status == 200 for r in deletes)
    assert sum(1 for s in fake.all("subscriptions") if s["status"] == "canceled") == len(deletes)
    assert_one_object_per_row(settings, mysql_server, fake, larger)
