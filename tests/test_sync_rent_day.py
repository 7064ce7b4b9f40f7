"""The rent day kept: leases from the 29th to the 31st synced in a short month bill as the lease says.

The fake dates every invoice by Stripe's documented rules (devkit/fake/cycles.py), and the tests read what
Stripe would bill through its own invoice preview, moving the fake's clock from one invoice to the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe

from cohabs.shared.settings import Settings
from cohabs.sync.billing import REPLACED_FOR_RENT_DAY
from cohabs.sync.run import World, verify
from devkit.dumpgen import HUBS, Dump, generate
from devkit.fake_stripe import FakeStripe
from tests.helpers import TEST_KEY, Clock, fake_on, restore, sync_at

FEB_10 = datetime(2027, 2, 10, 9, 30)  # 2027 is not a leap year: the 29th, 30th and 31st are all clamped to the 28th


@pytest.fixture
def clock() -> Clock:
    return Clock(FEB_10)


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeStripe]:
    with fake_on(clock) as stripe_fake:
        yield stripe_fake


def day(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d")


def ts(text: str) -> int:
    return int(day(text).replace(tzinfo=UTC).timestamp())


# start, end, monthly rent: the three clamped rent days and the 15th as the control.
LEASES = {
    "d31": ("2026-08-31", "2027-07-31", Decimal("831.00")),
    "d30": ("2026-08-30", "2027-07-30", Decimal("830.00")),
    "d29": ("2026-08-29", "2027-07-29", Decimal("829.00")),
    "d15": ("2026-08-15", "2027-07-20", Decimal("815.00")),  # ends mid-period: its last month is prorated
}


def short_month_dump(tmp_path: Path, settings: Settings) -> Dump:
    dump = generate(len(LEASES), len(LEASES), len(LEASES), now=FEB_10, orphans=0)
    for lease, user, room, (name, (start, end, rent)) in zip(
        dump.leases, dump.users, dump.rooms, LEASES.items(), strict=True
    ):
        lease.update(
            id=name,
            startDate=day(start),
            endDate=day(end),
            rentAmount=rent,
            status="active",
            hubId=HUBS["bru"],
            userId=user["id"],
            roomId=room["id"],
            stripeSubscriptionId=None,
        )
    restore(settings, dump.write(tmp_path / "short_month.dump"))
    return dump


def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(TEST_KEY, base_addresses={"api": fake.url})


def invoices(fake: FakeStripe, clock: Clock, subscription: str, most: int = 13) -> list[tuple[str, str, int]]:
    """Each invoice Stripe would make (at most `most`): (date, period end, amount), read by previews as the clock
    moves on."""
    found: list[tuple[str, str, int]] = []
    api = client(fake)
    while len(found) < most:
        try:
            preview = api.v1.invoices.create_preview(params={"subscription": subscription})
        except stripe.InvalidRequestError as exc:
            assert exc.code == "invoice_upcoming_none"
            return found
        period = preview.lines.data[0].period
        found.append((f"{datetime.fromtimestamp(preview.created, UTC):%m-%d}", _day(period.end), preview.amount_due))
        clock.now = datetime.fromtimestamp(preview.created + 1, UTC).replace(tzinfo=None)
    return found


def _day(stamp: int) -> str:
    return f"{datetime.fromtimestamp(stamp, UTC):%m-%d}"


def by_lease(fake: FakeStripe) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["cohabs_lease_id"]: s for s in fake.all("subscriptions")}


def test_leases_from_the_29th_to_the_31st_synced_in_february_bill_on_their_rent_day_invoice_for_invoice(
    settings: Settings, fake: FakeStripe, clock: Clock, tmp_path: Path
) -> None:
    short_month_dump(tmp_path, settings)
    sync_at(settings, clock)
    subscriptions = by_lease(fake)
    billed = {}
    for lease in LEASES:
        clock.now = FEB_10
        billed[lease] = invoices(fake, clock, subscriptions[lease]["id"])
    assert billed["d31"] == [
        ("02-28", "03-31", 83100),
        ("03-31", "04-30", 83100),
        ("04-30", "05-31", 83100),
        ("05-31", "06-30", 83100),
        ("06-30", "07-31", 83100),  # the last invoice ends at the lease end: no stub
    ]
    assert billed["d30"] == [
        ("02-28", "03-30", 83000),
        ("03-30", "04-30", 83000),
        ("04-30", "05-30", 83000),
        ("05-30", "06-30", 83000),
        ("06-30", "07-30", 83000),
    ]
    assert billed["d29"] == [
        ("02-28", "03-29", 82900),
        ("03-29", "04-29", 82900),
        ("04-29", "05-29", 82900),
        ("05-29", "06-29", 82900),
        ("06-29", "07-29", 82900),
    ]
    # The control: the 15th is never clamped; the lease ends on the 20th, so its own last month is prorated.
    assert billed["d15"][:5] == [(f"{m:02d}-15", f"{m + 1:02d}-15", 81500) for m in range(2, 7)]
    assert billed["d15"][5] == ("07-15", "07-20", round(81500 * 5 / 31))
    assert len(billed["d15"]) == 6


def test_the_sync_anchors_each_subscription_by_the_rent_day_and_keeps_it_past_the_trial(
    settings: Settings, fake: FakeStripe, clock: Clock, tmp_path: Path
) -> None:
    short_month_dump(tmp_path, settings)
    sync_at(settings, clock)
    for lease, subscription in by_lease(fake).items():
        rent_day = int(LEASES[lease][0][-2:])
        assert subscription["billing_cycle_anchor_config"]["day_of_month"] == rent_day
        assert subscription["trial_settings"]["end_behavior"]["billing_cycle_anchor"] == "unchanged"
        assert subscription["trial_end"] == subscription["billing_cycle_anchor"]  # no prorated period before it
    assert by_lease(fake)["d31"]["trial_end"] == ts("2027-02-28")


# ----- the fake follows Stripe's documented anchor rules ---------------------------------------------------


@pytest.fixture
def subscribe(fake: FakeStripe) -> Any:
    api = client(fake)
    customer = api.v1.customers.create(params={"email": "t@example.com"})
    product = api.v1.products.create(params={"name": "Room"})

    def create(**params: Any) -> dict[str, Any]:
        item = {
            "price_data": {
                "currency": "eur",
                "product": product.id,
                "unit_amount": 3100,
                "recurring": {"interval": "month"},
            }
        }
        asked: Any = {"customer": customer.id, "items": [item], **params}
        created = api.v1.subscriptions.create(params=asked)
        return fake.objects["subscriptions"][created.id]

    return create


def test_an_anchor_on_the_31st_bills_the_last_day_of_shorter_months_then_the_31st_again(
    fake: FakeStripe, clock: Clock, subscribe: Any
) -> None:
    clock.now = datetime(2027, 1, 20)
    subscription = subscribe(billing_cycle_anchor=ts("2027-01-31"), proration_behavior="none")
    dates = [date for date, _, _ in invoices(fake, clock, subscription["id"], 4)]
    assert dates == ["01-31", "02-28", "03-31", "04-30"]


def test_a_trial_ending_on_a_clamped_date_resets_the_anchor_to_the_28th_unless_told_to_keep_it(
    fake: FakeStripe, clock: Clock, subscribe: Any
) -> None:
    config = {"day_of_month": 31, "hour": 0, "minute": 0, "second": 0}
    reset = subscribe(trial_end=ts("2027-02-28"), billing_cycle_anchor_config=config)
    kept = subscribe(
        trial_end=ts("2027-02-28"),
        billing_cycle_anchor_config=config,
        trial_settings={"end_behavior": {"billing_cycle_anchor": "unchanged"}},
    )
    assert [d for d, _, _ in invoices(fake, clock, reset["id"], 3)] == ["02-28", "03-28", "04-28"]
    clock.now = FEB_10
    assert [d for d, _, _ in invoices(fake, clock, kept["id"], 3)] == ["02-28", "03-31", "04-30"]


def test_a_trial_followed_by_a_later_anchor_gives_a_free_then_a_prorated_period(
    fake: FakeStripe, clock: Clock, subscribe: Any
) -> None:
    subscription = subscribe(trial_end=ts("2027-02-20"), billing_cycle_anchor=ts("2027-03-01"))
    first, second = invoices(fake, clock, subscription["id"], 2)
    assert first == ("02-20", "03-01", round(3100 * 9 / 28))  # 20 Feb to 1 Mar, of the February cycle
    assert second == ("03-01", "04-01", 3100)


def test_a_preview_of_a_subscription_that_bills_no_more_is_invoice_upcoming_none(
    fake: FakeStripe, subscribe: Any
) -> None:
    subscription = subscribe(trial_end=ts("2027-02-28"), cancel_at=ts("2027-02-28"))
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client(fake).v1.invoices.create_preview(params={"subscription": subscription["id"]})
    assert refused.value.code == "invoice_upcoming_none"
    assert "invoices" not in fake.objects or len(fake.all("invoices")) == 1  # the preview stored nothing


# ----- subscriptions an earlier version made on the clamped day -------------------------------------------


def as_an_earlier_version_made_it(subscription: dict[str, Any]) -> None:
    """No anchor config: the anchor is the trial end, a clamped date, and its day is kept."""
    subscription["billing_cycle_anchor_config"] = None
    subscription["trial_settings"]["end_behavior"]["billing_cycle_anchor"] = "now"


def test_an_earlier_versions_subscription_on_the_28th_is_replaced_in_its_free_period_nobody_charged(
    settings: Settings, fake: FakeStripe, clock: Clock, tmp_path: Path
) -> None:
    short_month_dump(tmp_path, settings)
    sync_at(settings, clock)
    old = by_lease(fake)["d31"]
    as_an_earlier_version_made_it(old)
    clock.now = FEB_10
    assert [d for d, _, _ in invoices(fake, clock, old["id"], 2)] == ["02-28", "03-28"]
    clock.now = FEB_10
    audit = verify(settings, World(echo=lambda text: None, now=lambda: clock.now, sleep=lambda s: None))
    finding, advice = next((f, a) for f, a in audit.findings if f.row_id == "d31")
    assert (finding.drift.value, advice.remedy.value) == ("wrong_day", "sync")

    report = sync_at(settings, clock)

    (line,) = [o for o in report.outcomes if o.row_id == "d31"]
    new = by_lease(fake)["d31"]
    assert new["id"] != old["id"] and line.stripe_id == new["id"]
    assert old["status"] == "canceled" and old["_cancel_params"] == {"invoice_now": "false", "prorate": "false"}
    assert {i["amount_due"] for i in fake.all("invoices")} == {0}  # nobody charged
    assert invoices(fake, clock, new["id"], 2) == [("02-28", "03-31", 83100), ("03-31", "04-30", 83100)]
    clock.now = FEB_10
    again = sync_at(settings, clock)
    assert [o.result.value for o in again.outcomes if o.row_id == "d31"] == ["kept"]


def test_a_replacement_stopped_after_the_cancel_is_finished_by_the_next_run_and_a_billed_one_goes_to_a_person(
    settings: Settings, fake: FakeStripe, clock: Clock, tmp_path: Path
) -> None:
    short_month_dump(tmp_path, settings)
    sync_at(settings, clock)
    subscriptions = by_lease(fake)
    # d30: the run cancelled it (with its mark) and stopped before the new one existed.
    as_an_earlier_version_made_it(subscriptions["d30"])
    subscriptions["d30"].update(status="canceled", canceled_at=clock.timestamp())
    subscriptions["d30"]["cancellation_details"]["comment"] = REPLACED_FOR_RENT_DAY
    # d29: on the 28th, and its trial is over: it has billed, so a person decides.
    as_an_earlier_version_made_it(subscriptions["d29"])
    subscriptions["d29"]["status"] = "active"

    report = sync_at(settings, clock)

    lines = {o.row_id: o for o in report.outcomes}
    assert lines["d30"].synced and by_lease(fake)["d30"]["status"] == "trialing"
    assert by_lease(fake)["d30"]["billing_cycle_anchor_config"]["day_of_month"] == 30
    assert (
        not lines["d29"].synced and "bills on day 28 of the month but the lease's rent day is 29" in lines["d29"].detail
    )
    assert by_lease(fake)["d29"]["status"] == "active"
