"""How tenants pay: the collection choice, changing it later, and the readiness audit, on the fake over HTTP.

The fake is the independent judge here: which subscriptions bill is read from
Stripe's own fields (a live subscription whose trial ends before its
`cancel_at`), and their first charge dates from their `trial_end`. The
commands run as a person runs them, on the machine's clock, so the dump is
dated today and the fake keeps the same time.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import signal
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cohabs.shared.settings import Settings
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe, Fault, Recorded
from devkit.mysql import Server
from tests.helpers import cli, kill_when, query, reported, start_sync, sync

SEND_INVOICE = ("--collection-method", "send_invoice", "--days-until-due", "10")
ENDED = ("canceled", "incomplete_expired")
SWITCHED = ("collection_method", "days_until_due")


def linked(settings: Settings, tmp_path: Path, *args: str) -> dict[str, Any]:
    """A sync as a person runs it, every row but the orphan lease linked; its JSON report."""
    code, stdout, data = reported(settings, tmp_path, "--yes", *args)
    assert code == 3, stdout
    return data


def billing(fake: FakeStripe) -> dict[str, dict[str, Any]]:
    """Subscriptions that will bill, by lease: live, and their free period ends before they stop."""
    return {
        s["metadata"]["cohabs_lease_id"]: s
        for s in fake.all("subscriptions")
        if s["status"] not in ENDED and (s["cancel_at"] is None or s["trial_end"] < s["cancel_at"])
    }


def day(timestamp: int) -> str:
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d}"


def updates(fake: FakeStripe, since: int = 0) -> list[Recorded]:
    """Requests that changed a subscription after it was made (not its creation, not a cancel)."""
    return [r for r in fake.requests[since:] if r.method == "POST" and r.path.startswith("/v1/subscriptions/")]


def monthly(subscriptions: list[dict[str, Any]]) -> str:
    """What they bill a month together, per currency, as the reports write it."""
    totals: dict[str, Decimal] = {}
    for s in subscriptions:
        price = s["items"]["data"][0]["price"]
        currency = price["currency"].upper()
        totals[currency] = totals.get(currency, Decimal("0.00")) + Decimal(price["unit_amount"]) / 100
    return " and ".join(f"{total:,.2f} {currency}" for currency, total in sorted(totals.items()))


def test_with_send_invoice_every_subscription_that_bills_emails_its_invoice_and_nobody_is_charged_at_creation(
    settings: Settings, fake: FakeStripe, today: Dump, tmp_path: Path
) -> None:
    data = linked(settings, tmp_path, *SEND_INVOICE)

    bills = billing(fake)
    starts = {x["id"]: x["startDate"] for x in today.leases}
    assert {starts[lease] > datetime.now(UTC).replace(tzinfo=None) for lease in bills} == {
        True,
        False,
    }  # future and ongoing leases bill
    for subscription in bills.values():
        assert (subscription["collection_method"], subscription["days_until_due"]) == ("send_invoice", 10)
        assert subscription["trial_settings"] == {
            "end_behavior": {"missing_payment_method": "create_invoice", "billing_cycle_anchor": "unchanged"}
        }
    assert {i["amount_due"] for i in fake.all("invoices")} == {0}  # nobody is charged at creation
    assert {s["status"] for s in fake.all("subscriptions")} <= {"trialing", "canceled"}
    assert data["collection"] == {
        "method": "send_invoice",
        "days_until_due": 10,
        "chosen": True,
        "trial_end_without_payment_method": "create_invoice",
    }
    assert {s["lease_id"] for s in data["readiness"]["subscriptions"]} == set(bills)
    assert data["readiness"]["not_ready"] == 0

    # On each first rent date Stripe emails the invoice, due ten days later; nothing is charged.
    fake.now = lambda: float(max(s["trial_end"] for s in bills.values()))
    fake.payments.end_trials()
    for subscription in bills.values():
        assert subscription["status"] == "active"
        (invoice,) = [i for i in fake.all("invoices") if i["subscription"] == subscription["id"] and i["amount_due"]]
        assert invoice["status"] == "open" and not invoice["attempted"]
        assert invoice["due_date"] == subscription["trial_end"] + 10 * 86400


def test_verify_names_every_tenant_charged_without_a_payment_method_with_first_charge_dates_and_monthly_totals(
    settings: Settings, fake: FakeStripe, today: Dump, tmp_path: Path
) -> None:
    linked(settings, tmp_path)
    bills = billing(fake)
    emails = {u["email"] for u in today.users}

    code, stdout, data = reported(settings, tmp_path, "--verify")

    assert code == 3
    readiness = data["readiness"]
    named = {s["lease_id"]: s for s in readiness["subscriptions"]}
    assert set(named) == set(bills) and readiness["not_ready"] == len(bills)
    for lease_id, subscription in bills.items():
        item = named[lease_id]
        assert item["first_charge"] == day(subscription["trial_end"])
        assert (item["state"], item["collection_method"], item["payment_method"]) == (
            "no_payment_method",
            "charge_automatically",
            False,
        )
        assert "…" in item["tenant"] and item["tenant"] not in emails  # masked
        assert f"before {item['first_charge']}" in item["advice"]
    first = min(day(s["trial_end"]) for s in bills.values())
    tenants = len({s["customer"] for s in bills.values()})
    (summary,) = readiness["summary"]
    assert summary.startswith(f"{tenants} tenant(s)")
    assert f", {monthly(list(bills.values()))} a month, are charged automatically from {first}" in summary
    assert "their first invoice will fail" in summary and summary in stdout
    for first_charge in {day(s["trial_end"]) for s in bills.values()}:
        assert re.search(rf"^  {first_charge}: \d+ subscription\(s\)", stdout, re.MULTILINE)
    assert not any(email in stdout for email in emails)


def test_tenants_who_add_a_payment_method_drop_off_the_next_audit(
    settings: Settings, fake: FakeStripe, today: Dump, tmp_path: Path
) -> None:
    linked(settings, tmp_path)
    bills = billing(fake)
    customers = sorted({s["customer"] for s in bills.values()})
    paying = customers[::2]
    for index, customer in enumerate(paying):
        fake.payments.give_payment_method(customer, as_source=index == 0)  # a legacy default source counts too

    readiness = reported(settings, tmp_path, "--verify")[2]["readiness"]
    unready = {s["lease_id"] for s in readiness["subscriptions"] if s["state"] != "ready"}
    assert unready == {lease for lease, s in bills.items() if s["customer"] not in paying}
    for customer in customers[1::2]:
        fake.payments.give_payment_method(customer)
    after = reported(settings, tmp_path, "--verify")[2]
    assert after["can_all_pay"] and after["readiness"]["not_ready"] == 0
    assert after["readiness"]["summary"][0].startswith("Every subscription that bills can be paid")


def test_a_rerun_with_the_other_method_switches_the_linked_subscriptions_that_still_bill_and_nothing_else(
    settings: Settings, mysql_server: Server, fake: FakeStripe, today: Dump, tmp_path: Path
) -> None:
    linked(settings, tmp_path)
    bills = billing(fake)
    repriced = sorted(bills)[0]  # a subscription that bills otherwise than its lease stays a person's call
    query(settings, mysql_server, "UPDATE leases SET rentAmount = rentAmount + 1 WHERE id = %s", repriced)
    switching = {lease: s["id"] for lease, s in bills.items() if lease != repriced}
    before = copy.deepcopy(fake.objects["subscriptions"])
    invoices = len(fake.all("invoices"))

    writes = len(fake.writes())
    _, _, audit = reported(settings, tmp_path, "--verify", *SEND_INVOICE)
    findings = {f["row_id"]: f for f in audit["findings"] if f["drift"] == "collection"}
    assert set(findings) == set(switching) and {f["remedy"] for f in findings.values()} == {"sync"}
    assert all("a sync switches it to invoiced by email" in f["advice"] for f in findings.values())
    dry = cli(settings, tmp_path, "--dry-run", *SEND_INVOICE)
    assert len(fake.writes()) == writes
    assert f"Collection method would change on {len(switching)} linked subscription(s)" in dry.stdout
    assert dry.stdout.index("Collection method would change") < dry.stdout.index(
        "How tenants pay, by first charge date"
    )

    start, writes = len(fake.requests), len(fake.writes())
    cli(settings, tmp_path, "--yes", *SEND_INVOICE)
    sent = updates(fake, start)
    assert len(fake.writes()) - writes == len(sent) == len(switching)  # nothing else was written
    assert {r.path.rsplit("/", 1)[1] for r in sent} == set(switching.values())
    assert all(r.params == {"collection_method": "send_invoice", "days_until_due": "10"} for r in sent)
    for stripe_id, subscription in fake.objects["subscriptions"].items():
        changed = {
            k for k in subscription.keys() | before[stripe_id].keys() if subscription.get(k) != before[stripe_id].get(k)
        }
        assert changed == (set(SWITCHED) if stripe_id in switching.values() else set()), stripe_id
    assert len(fake.all("invoices")) == invoices  # no proration, no invoice
    assert fake.objects["subscriptions"][bills[repriced]["id"]]["collection_method"] == "charge_automatically"

    # The same choice again sends nothing; back and forth, each switch is applied (never an old answer replayed).
    writes = len(fake.writes())
    cli(settings, tmp_path, "--yes", *SEND_INVOICE)
    assert len(fake.writes()) == writes
    for method, args in (
        ("charge_automatically", ("--collection-method", "charge_automatically")),
        ("send_invoice", SEND_INVOICE),
    ):
        start = len(fake.requests)
        cli(settings, tmp_path, "--yes", *args)
        assert len(updates(fake, start)) == len(switching)
        assert {fake.objects["subscriptions"][s]["collection_method"] for s in switching.values()} == {method}
    # Without a choice a rerun leaves every method as it is.
    writes = len(fake.writes())
    cli(settings, tmp_path, "--yes")
    assert len(fake.writes()) == writes


def test_an_earlier_versions_subscriptions_are_kept_and_a_hand_set_pause_is_named(
    settings: Settings, fake: FakeStripe, today: Dump, tmp_path: Path
) -> None:
    linked(settings, tmp_path)
    bills = billing(fake)
    for subscription in fake.all("subscriptions"):  # as an earlier version made them: no trial_settings sent
        subscription["trial_settings"] = None
    paused = sorted(bills)[0]
    bills[paused]["trial_settings"] = {"end_behavior": {"missing_payment_method": "pause"}}
    writes = len(fake.writes())

    plan = cli(settings, tmp_path, "--dry-run")
    data = linked(settings, tmp_path)

    assert len(fake.writes()) == writes  # nothing recreated, nothing set on them
    states = {s["lease_id"]: s["state"] for s in data["readiness"]["subscriptions"]}
    assert states[paused] == "stops_at_trial_end"
    assert {states[lease] for lease in bills if lease != paused} == {"no_payment_method"}
    assert "their trial's end pauses or cancels the subscription" in plan.stdout


def test_a_kill_during_the_switch_is_finished_by_the_next_run_each_subscription_switched_once(
    settings: Settings, fake: FakeStripe, today: Dump, tmp_path: Path
) -> None:
    linked(settings, tmp_path)
    bills = billing(fake)
    (tmp_path / ".env").write_text("COLLECTION_METHOD=send_invoice\nDAYS_UNTIL_DUE=10\n")
    process = start_sync(settings, tmp_path)
    seen = iter(range(1, 1000))
    third = 3

    def moment(stage: str, request: Recorded) -> bool:
        return stage == "processed" and request.path.startswith("/v1/subscriptions/") and next(seen) == third

    fake.hook = kill_when(fake, process, moment)
    assert process.wait(timeout=120) == -signal.SIGKILL
    fake.hook = None
    linked(settings, tmp_path)  # reads the choice from .env too

    applied: dict[str, int] = {}
    for request in updates(fake):
        applied[request.path] = applied.get(request.path, 0) + (request.status == 200)
    assert sorted(applied.values()) == [1] * len(bills)  # the killed run's switches are not sent again
    assert {s["collection_method"] for s in billing(fake).values()} == {"send_invoice"}
    lease_of = {f"/v1/subscriptions/{s['id']}": lease for lease, s in bills.items()}
    for request in updates(fake):  # the sync's key format: the lease's id and a digest, no personal data
        key = request.idempotency_key or ""
        assert re.fullmatch(rf"cohabs-relink:lease:{re.escape(lease_of[request.path])}:[0-9a-f]{{24}}", key), key


def test_a_switch_retried_after_a_500_keeps_its_key_and_is_applied_once(
    settings: Settings, fake: FakeStripe, restored: Dump, quick_sdk_retries: None
) -> None:
    sync(settings)
    bills = billing(fake)
    target = sorted(s["id"] for s in bills.values())[0]
    fake.inject(Fault("status", "POST", f"/v1/subscriptions/{target}", count=1, status=500))

    report = sync(dataclasses.replace(settings, collection_method="send_invoice", days_until_due=10))

    tries = [r for r in updates(fake) if r.path.endswith(target)]
    assert [r.status for r in tries] == [500, 200]
    assert tries[0].idempotency_key == tries[1].idempotency_key  # the SDK's retry: the same request
    assert fake.objects["subscriptions"][target]["collection_method"] == "send_invoice"
    assert not [o for o in report.outcomes if o.kind.value == "leases" and o.result == "failed"]


def test_a_choice_stripe_would_refuse_stops_before_anything_is_read(
    settings: Settings, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    no_days = cli(settings, tmp_path, "--dry-run", "--collection-method", "send_invoice")
    days_alone = cli(settings, tmp_path, "--dry-run", "--days-until-due", "5")
    unknown = cli(settings, tmp_path, "--dry-run", COLLECTION_METHOD="by_carrier_pigeon")

    assert no_days.returncode == days_alone.returncode == 2
    assert "send_invoice needs --days-until-due N (or DAYS_UNTIL_DUE)" in no_days.stderr
    assert "--days-until-due is for --collection-method send_invoice only" in days_alone.stderr
    assert (
        unknown.returncode == 1 and "COLLECTION_METHOD must be charge_automatically or send_invoice" in unknown.stderr
    )
    assert fake.requests == []
    # DAYS_UNTIL_DUE alone is read with send_invoice only: without it the choice is not made.
    assert cli(settings, tmp_path, "--dry-run", DAYS_UNTIL_DUE="10").returncode == 3
