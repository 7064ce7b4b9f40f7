"""`--verify` asks Stripe's invoice preview what each subscription bills next, and holds it to the lease."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cohabs.shared.settings import Settings
from cohabs.sync.kinds import KINDS
from cohabs.sync.plan import bills
from cohabs.sync.previews import Preview, judge
from cohabs.sync.problems import Drift
from cohabs.sync.rows import Kind, Lease
from cohabs.sync.run import World, verify
from devkit.dumpgen import Dump
from devkit.fake import cycles
from devkit.fake_stripe import FakeStripe
from tests.helpers import NOW, cli, sync

PREVIEW = "/v1/invoices/create_preview"
HUBS = {"bru": "eur"}


def lease(start: str, end: str, rent: str = "900.00") -> Lease:
    return Lease(
        id="L1",
        name=None,
        user_id="u",
        room_id="r",
        hub_id="bru",
        status="active",
        rent_amount=Decimal(rent),
        start=datetime.fromisoformat(start),
        end=datetime.fromisoformat(end),
        stripe_id="sub_1",
    )


def preview(date: str, end: str, amount: int = 90000, currency: str = "eur") -> Preview:
    return Preview(datetime.fromisoformat(date), amount, currency, datetime.fromisoformat(end), "charge_automatically")


FEB_10 = datetime(2027, 2, 10)


def test_a_preview_on_the_rent_day_with_the_full_rent_is_right() -> None:
    assert judge(lease("2026-08-31", "2027-07-31"), preview("2027-02-28", "2027-03-31"), HUBS, None, FEB_10) == []


def test_a_31st_lease_billed_on_the_28th_for_good_is_named_with_both_dates() -> None:
    (found,) = judge(lease("2026-08-31", "2027-07-31"), preview("2027-02-28", "2027-03-28"), HUBS, None, FEB_10)
    assert found.drift is Drift.WRONG_DAY
    assert "until 2027-03-28, not the following rent date 2027-03-31" in found.text


def test_an_invoice_on_another_day_or_a_month_late_is_named() -> None:
    other_day = judge(lease("2026-08-15", "2027-07-15"), preview("2027-02-20", "2027-03-20"), HUBS, None, FEB_10)
    late = judge(lease("2026-08-15", "2027-07-15"), preview("2027-03-15", "2027-04-15"), HUBS, None, FEB_10)
    assert [f.drift for f in other_day + late] == [Drift.WRONG_DAY, Drift.WRONG_DAY]
    assert "lease's next rent date is 2027-02-15" in late[0].text


def test_the_last_partial_month_is_prorated_and_other_amounts_or_currencies_are_named() -> None:
    ending = lease("2026-08-15", "2027-02-20")  # next rent date 15 Feb, lease ends 5 days later
    assert judge(ending, preview("2027-02-15", "2027-02-20", round(90000 * 5 / 28)), HUBS, None, FEB_10) == []
    (full,) = judge(ending, preview("2027-02-15", "2027-02-20", 90000), HUBS, None, FEB_10)
    assert full.drift is Drift.WRONG_AMOUNT and "900.00" in full.text
    (usd,) = judge(
        lease("2026-08-15", "2027-07-15"), preview("2027-02-15", "2027-03-15", currency="usd"), HUBS, None, FEB_10
    )
    assert usd.drift is Drift.WRONG_CURRENCY


def test_no_upcoming_invoice_is_right_only_when_the_lease_bills_nothing_more() -> None:
    assert judge(lease("2026-08-15", "2027-02-14"), None, HUBS, None, FEB_10) == []
    (stopped,) = judge(lease("2026-08-15", "2027-07-15"), None, HUBS, None, FEB_10)
    assert "owes rent on 2027-02-15" in stopped.text


def test_a_collection_method_other_than_the_chosen_one_is_named() -> None:
    (found,) = judge(
        lease("2026-08-15", "2027-07-15"), preview("2027-02-15", "2027-03-15"), HUBS, "send_invoice", FEB_10
    )
    assert found.drift is Drift.COLLECTION


# ----- against the fake, end to end ----------------------------------------------------------------------


def quiet() -> World:
    return World(echo=lambda text: None, now=lambda: NOW, sleep=lambda seconds: None)


def billing(fake: FakeStripe) -> list[dict[str, Any]]:
    return [s for s in fake.all("subscriptions") if s["status"] not in ("canceled", "incomplete_expired")]


def test_verify_sends_one_preview_per_billing_subscription_and_none_with_no_previews(
    settings: Settings, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    fake.requests.clear()
    report = verify(settings, quiet())
    previews = [r for r in fake.requests if r.path == PREVIEW]
    billed = [s["id"] for s in billing(fake) if bills(KINDS[Kind.LEASE].remote(s))]
    assert billed and sorted(r.params["subscription"] for r in previews) == sorted(billed)
    assert not [f for f, _ in report.findings if f.previewed]  # what the sync made bills as its leases say
    fake.requests.clear()
    verify(settings, quiet(), previews=False)
    assert not [r for r in fake.requests if r.path == PREVIEW]


def test_verify_names_a_subscription_given_a_free_month_in_stripe_which_only_the_preview_shows(
    settings: Settings, fake: FakeStripe, restored: Dump
) -> None:
    sync(settings)
    subscription = next(
        s for s in billing(fake) if s["status"] == "trialing" and s["cancel_at"] - s["trial_end"] > 90 * 86400
    )
    day = subscription["billing_cycle_anchor_config"]["day_of_month"]
    # A month's trial added by hand: the fields the plan reads still name the rent day.
    for field in ("trial_end", "billing_cycle_anchor"):
        subscription[field] = cycles.shifted(subscription[field], 1, day)
    lease = subscription["metadata"]["cohabs_lease_id"]
    report = verify(settings, quiet(), previews=False)
    assert lease not in {f.row_id for f, _ in report.findings}
    findings = [(f, a) for f, a in verify(settings, quiet()).findings if f.row_id == lease]
    assert [(f.drift, f.previewed, a.remedy.value) for f, a in findings] == [(Drift.WRONG_DAY, True, "person")]
    assert "the lease's next rent date is" in findings[0][0].problem


def test_verify_names_a_lease_whose_billing_day_was_changed_in_stripe_afterwards(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    sync(settings)
    for customer in fake.all("customers"):
        fake.payments.give_payment_method(customer["id"])
    subscription = next(s for s in billing(fake) if s["status"] == "trialing")
    config = subscription["billing_cycle_anchor_config"]
    config["day_of_month"] = config["day_of_month"] % 27 + 1  # another day, as the dashboard would leave it
    lease = subscription["metadata"]["cohabs_lease_id"]

    checked = cli(settings, tmp_path, "--verify")

    assert checked.returncode == 3, checked.stdout
    assert f"lease {lease}" in checked.stdout or lease in checked.stdout
    assert "bills on day" in checked.stdout and "rent day" in checked.stdout
    assert "Stripe keeps a subscription's billing day" in checked.stdout, checked.stdout
