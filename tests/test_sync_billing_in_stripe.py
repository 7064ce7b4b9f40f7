"""What reached Stripe: amounts, currencies, trials, cancellations, nothing charged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cohabs.shared.mysql import connect
from cohabs.shared.settings import Settings
from cohabs.sync.billing import Mode, terms_for
from cohabs.sync.db import load_rows, read_schema
from devkit.dumpgen import HUBS, Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import NOW, query, sync


def ts(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def subscriptions_by_lease(fake: FakeStripe) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["cohabs_lease_id"]: s for s in fake.all("subscriptions")}


def test_nothing_is_charged_when_the_sync_runs(settings: Settings, fake: FakeStripe, restored: Dump) -> None:
    sync(settings)
    invoices = fake.all("invoices")
    assert len(invoices) == len(fake.all("subscriptions")) > 0
    assert {i["amount_due"] for i in invoices} == {0}
    assert {s["status"] for s in fake.all("subscriptions")} <= {"trialing", "canceled"}


def test_tenants_pay_the_contract_amount_in_their_hubs_currency(
    settings: Settings, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    subscriptions = subscriptions_by_lease(fake)
    seen = set()
    for lease in restored.leases[1:]:
        price = subscriptions[lease["id"]]["items"]["data"][0]["price"]
        currency = "usd" if lease["hubId"] == HUBS["nyc"] else "eur"
        assert price["currency"] == currency
        assert price["unit_amount"] == int(lease["rentAmount"] * 100)
        assert price["recurring"]["interval"] == "month"
        seen.add(currency)
    assert seen == {"usd", "eur"}


def test_room_prices_come_from_rent_when_base_rent_is_null(
    settings: Settings, fake: FakeStripe, restored: Dump
) -> None:
    report = sync(settings)
    products = {p["metadata"]["cohabs_room_id"]: p for p in fake.all("products")}
    for room in restored.rooms:
        price = fake.objects["prices"][products[room["id"]]["default_price"]]
        assert price["unit_amount"] == int(room["rent"] * 100)
        assert price["recurring"]["interval"] == "month"
    room_notes = {n for o in report.outcomes for n in o.notes}
    assert "price from rent (baseRent is NULL)" in room_notes


def test_base_rent_wins_over_rent_when_set(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    room = restored.rooms[0]
    query(settings, mysql_server, "UPDATE rooms SET baseRent = 999.99 WHERE id = %s", room["id"])
    sync(settings)
    (product,) = [p for p in fake.all("products") if p["metadata"]["cohabs_room_id"] == room["id"]]
    assert fake.objects["prices"][product["default_price"]]["unit_amount"] == 99999


def test_each_lease_status_becomes_the_subscription_the_brief_asks_for(
    settings: Settings, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    conn = connect(settings)
    leases = {lease.id: lease for lease in load_rows(conn, read_schema(conn)).leases}
    conn.close()
    subscriptions = subscriptions_by_lease(fake)
    modes = set()
    for lease_id, subscription in subscriptions.items():
        terms = terms_for(leases[lease_id], NOW)
        modes.add(terms.mode)
        if terms.mode is Mode.ENDED:
            assert subscription["status"] == "canceled"
            assert subscription["_cancel_params"] == {"invoice_now": "false", "prorate": "false"}
            assert subscription["trial_end"] > ts(NOW)  # cancelled inside its free period
            continue
        assert subscription["status"] == "trialing"
        assert subscription["trial_end"] == ts(terms.trial_end)
        assert subscription["cancel_at"] == ts(leases[lease_id].end)  # type: ignore[arg-type]
        if terms.mode is Mode.FUTURE:
            assert subscription["trial_end"] == ts(leases[lease_id].start)  # type: ignore[arg-type]
        else:
            assert ts(NOW) < subscription["trial_end"] <= ts(NOW) + 31 * 86400
    assert modes == {Mode.ONGOING, Mode.FUTURE, Mode.ENDED}


def test_a_tenant_who_moved_from_a_eur_hub_to_a_usd_hub_gets_both_leases_linked_the_usd_one_billing(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    # The case: an old void lease in EUR, an active one in USD, one tenant (a multi-currency customer).
    old = next(x for x in restored.leases[1:] if x["hubId"] == HUBS["bru"] and x["status"] == "finished")
    new = next(x for x in restored.leases[1:] if x["hubId"] == HUBS["nyc"] and x["endDate"] > NOW)
    query(settings, mysql_server, "DELETE FROM leases WHERE userId = %s AND id <> %s", old["userId"], old["id"])
    query(settings, mysql_server, "UPDATE leases SET status = 'void' WHERE id = %s", old["id"])
    query(
        settings,
        mysql_server,
        "UPDATE leases SET userId = %s, status = 'active' WHERE id = %s",
        old["userId"],
        new["id"],
    )

    for _ in range(2):  # the decision holds on a rerun
        report = sync(settings)
        lines = {o.row_id: o for o in report.outcomes}
        assert lines[old["id"]].synced and lines[new["id"]].synced, (lines[old["id"]], lines[new["id"]])
    linked = {old["id"], new["id"]}
    subscriptions = {s["metadata"]["cohabs_lease_id"]: s for s in fake.all("subscriptions")}
    ended, billed = subscriptions[old["id"]], subscriptions[new["id"]]
    assert len([s for s in fake.all("subscriptions") if s["metadata"]["cohabs_lease_id"] in linked]) == 2
    assert (ended["currency"], ended["status"]) == ("eur", "canceled")
    assert (billed["currency"], billed["status"]) == ("usd", "trialing")
    assert ended["customer"] == billed["customer"]
    # The ended one went first: cancelled before the USD one was asked for (Stripe refuses both active at once).
    writes = [(r.method, r.path, r.params.get("metadata", {}).get("cohabs_lease_id")) for r in fake.writes()]
    cancelled = writes.index(("DELETE", f"/v1/subscriptions/{ended['id']}", None))
    made = writes.index(("POST", "/v1/subscriptions", new["id"]))
    assert cancelled < made
