"""A cancel never stops another lease's rent: Stripe stops collecting all the customer's finalized invoices when one
of its subscriptions is cancelled, and the sync (and its undo) turns collection back on for the other leases' open
invoices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cohabs.shared.cli import Exit
from cohabs.shared.reports import Privacy, Provenance, write_json
from cohabs.shared.settings import Settings
from cohabs.sync.run import World
from cohabs.sync.run_report_files import report_json
from cohabs.sync.undo import UndoOptions, undo
from cohabs.sync.undo_plan import Act
from devkit.dumpgen import HUBS, Dump, generate
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import Clock, fake_on, query, restore, sync_at

DEC_1 = datetime(2026, 12, 1, 8, 0)


@pytest.fixture
def clock() -> Clock:
    return Clock(DEC_1)


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeStripe]:
    with fake_on(clock) as stripe_fake:
        yield stripe_fake


def one_tenant_two_leases(leases: dict[str, tuple[str, str, str | None]]) -> Dump:
    """One tenant in Brussels, two rooms, and a lease each: its id -> (start, end, room; None for no such room)."""
    dump = generate(1, 2, 2, now=DEC_1, orphans=0)
    for lease, room, (name, (start, end, room_id)) in zip(dump.leases, dump.rooms, leases.items(), strict=True):
        lease.update(
            id=name,
            startDate=datetime.fromisoformat(start),
            endDate=datetime.fromisoformat(end),
            rentAmount=Decimal("700.00"),
            status="active",
            hubId=HUBS["bru"],
            userId=dump.users[0]["id"],
            roomId=room["id"] if room_id is None else room_id,
            stripeSubscriptionId=None,
        )
    return dump


def test_a_tenant_with_two_leases_keeps_paying_the_later_one_when_the_other_is_cancelled(
    settings: Settings, mysql_server: Server, fake: FakeStripe, clock: Clock, tmp_path: Path
) -> None:
    dump = one_tenant_two_leases(
        {"later": ("2026-10-10", "2027-10-10", None), "sooner": ("2026-10-20", "2027-01-20", None)}
    )
    restore(settings, dump.write(tmp_path / "two_leases.dump"))
    sync_at(settings, clock)
    # Both trials end with no payment method: each lease's rent is an open invoice, still being collected.
    clock.now = datetime(2026, 12, 21)
    assert len(fake.payments.end_trials()) == 2
    subscriptions = {s["metadata"]["cohabs_lease_id"]: s["id"] for s in fake.all("subscriptions")}

    def open_invoice(lease: str) -> dict[str, object]:
        (invoice,) = [
            i for i in fake.all("invoices") if i["subscription"] == subscriptions[lease] and i["status"] == "open"
        ]
        return invoice

    assert open_invoice("later")["auto_advance"] is True
    query(settings, mysql_server, "UPDATE leases SET status = 'finished' WHERE id = 'sooner'")

    report = sync_at(settings, clock)  # cancels the finished lease's subscription

    assert fake.objects["subscriptions"][subscriptions["sooner"]]["status"] == "canceled"
    assert open_invoice("sooner")["auto_advance"] is False  # Stripe's side effect, left on the cancelled lease
    assert open_invoice("later")["auto_advance"] is True  # turned back on by the sync
    (line,) = [o for o in report.outcomes if o.row_id == "sooner"]
    assert f"turned back on: {open_invoice('later')['id']}" in line.detail
    # The tenant adds a card: Stripe's collection pays the later lease's rent.
    customer = fake.all("customers")[0]["id"]
    fake.payments.give_payment_method(customer)
    paid = fake.payments.collect_invoices()
    assert [i["subscription"] for i in paid] == [subscriptions["later"]]


def test_undoing_a_run_that_added_a_lease_keeps_the_tenants_earlier_lease_collected(
    settings: Settings, mysql_server: Server, fake: FakeStripe, clock: Clock, tmp_path: Path
) -> None:
    # The added lease points at no room yet, so the first run links only the first lease.
    dump = one_tenant_two_leases(
        {"first": ("2026-10-10", "2027-10-10", None), "added": ("2026-10-20", "2027-10-20", "no-such-room")}
    )
    restore(settings, dump.write(tmp_path / "added_lease.dump"))
    sync_at(settings, clock)  # the first lease; the other points at no room yet
    clock.now = datetime(2026, 12, 21)
    (ended,) = fake.payments.end_trials()
    (invoice,) = [i for i in fake.all("invoices") if i["subscription"] == ended["id"] and i["status"] == "open"]
    query(settings, mysql_server, f"UPDATE leases SET roomId = '{dump.rooms[1]['id']}' WHERE id = 'added'")
    added = sync_at(settings, clock)  # a second run: the added lease's subscription, for the same customer
    path = tmp_path / "added.json"
    provenance = Provenance.of(settings, "sync", [], clock.now, tool="python sync.py")
    write_json(path, report_json(added, provenance, Privacy()))

    world = World(echo=lambda text: None, now=lambda: clock.now, sleep=lambda seconds: None)
    report = undo(settings, UndoOptions(path), world, lambda preview: True)

    (cancelled,) = [o for o in report.lines if o.step.act is Act.CANCEL]
    assert fake.objects["subscriptions"][cancelled.step.made.stripe_id]["status"] == "canceled"
    assert fake.objects["invoices"][invoice["id"]]["auto_advance"] is True  # turned back on after Stripe's cancel
    assert report.exit_code() is Exit.OK
