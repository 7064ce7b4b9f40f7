"""An account that already holds the customers Stripe's copy brought, synced end to end on the fake over HTTP.

The copy kept the customers and their cards and none of our metadata. The sync
links each tenant to its copy, makes a lone usable card the default, leaves
the rest to a person (and says what each holds), never touches a customer no
user has, and a rerun writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cohabs.shared.clock import utc_now
from cohabs.shared.settings import Settings
from cohabs.sync.run import Options, World, run
from cohabs.sync.run_report import Report
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server
from tests.helpers import cli, query, reported

FAR, EXPIRED = (12, 2099), (1, 2020)


def sync_now(settings: Settings, **options: Any) -> Report:
    """An in-process sync on the machine's clock, as the fake and the dump have it."""
    return run(settings, Options(**options), World(echo=lambda text: None, now=utc_now, sleep=lambda s: None))


def payers(settings: Settings) -> list[str]:
    """Users with a lease charged automatically: whose first rent needs a card."""
    planned = sync_now(settings, dry_run=True)
    return sorted({b.user_id for b in planned.readiness.billable})


def stored(settings: Settings, mysql_server: Server, user_id: str) -> str | None:
    ((found,),) = query(settings, mysql_server, "SELECT stripeCustomerId FROM users WHERE id = %s", user_id)
    return str(found) if found else None


def test_copied_customers_are_linked_lone_cards_become_defaults_and_a_rerun_writes_nothing(
    settings: Settings, mysql_server: Server, fake: FakeStripe, today: Dump, tmp_path: Path
) -> None:
    tenants = payers(settings)
    assert len(tenants) >= 6
    email = {u["id"]: u["email"] for u in today.users}
    one, other_case, expired, two, none, shared = tenants[:6]
    copies = {
        one: fake.payments.add_copied_customer(email[one], cards=[FAR]),
        other_case: fake.payments.add_copied_customer(email[other_case].upper(), cards=[FAR]),
        expired: fake.payments.add_copied_customer(email[expired], cards=[EXPIRED]),
        two: fake.payments.add_copied_customer(email[two], cards=[FAR, (6, 2098)]),
        none: fake.payments.add_copied_customer(email[none]),
    }
    twins = [fake.payments.add_copied_customer(email[shared], cards=[FAR]) for _ in range(2)]
    stranger = fake.payments.add_copied_customer("stranger@example.com", cards=[FAR])

    dry = sync_now(settings, dry_run=True)
    assert {o.row_id: said for o, said in dry.customer_changes} == {
        user: f"links {copy['id']}, adding our metadata"
        + (
            f" and makes {fake.payments.payment_methods_of(copy['id'])[0]['id']} its default payment method"
            if user in (one, other_case)
            else ""
        )
        for user, copy in copies.items()
    }
    assert fake.writes() == []

    first = sync_now(settings)
    assert first.unsynced  # the shared email (and the dump's orphan lease) wait for a person
    for user, copy in copies.items():
        assert stored(settings, mysql_server, user) == copy["id"]
        assert fake.objects["customers"][copy["id"]]["metadata"] == {"cohabs_user_id": user}
    defaults = {
        user: fake.objects["customers"][copy["id"]]["invoice_settings"]["default_payment_method"]
        for user, copy in copies.items()
    }
    assert defaults == {
        one: fake.payments.payment_methods_of(copies[one]["id"])[0]["id"],
        other_case: fake.payments.payment_methods_of(copies[other_case]["id"])[0]["id"],
        expired: None,
        two: None,
        none: None,
    }
    # The shared email: nothing created, no copy touched, its leases wait.
    assert stored(settings, mysql_server, shared) is None
    mine = [c for c in fake.all("customers") if (c["email"] or "").casefold() == email[shared].casefold()]
    assert [c["id"] for c in mine] == [t["id"] for t in twins] and all(c["metadata"] == {} for c in mine)
    untouched = [r for r in fake.requests if stranger["id"] in r.path and r.method == "POST"]
    assert untouched == [] and fake.objects["customers"][stranger["id"]]["metadata"] == {}
    billed = {s["customer"] for s in fake.all("subscriptions")}
    assert {c["id"] for c in copies.values()} <= billed and not billed & {t["id"] for t in twins}

    _, _, audit = reported(settings, tmp_path, "--verify")
    states: dict[str, set[tuple[str, str | None]]] = {}
    customers = {c["id"]: user for user, c in copies.items()}
    for item in audit["readiness"]["subscriptions"]:
        if item["customer"] in customers:
            states.setdefault(customers[item["customer"]], set()).add((item["state"], item["holds"]))
    assert states[one] == states[other_case] == {("ready", None)}
    ((state, holds),) = states[expired]
    assert state == "no_payment_method" and holds is not None and holds.startswith("only cards expired by")
    ((state, holds),) = states[two]
    assert state == "no_payment_method" and holds is not None and holds.startswith("2 payment methods can pay")
    assert states[none] == {("no_payment_method", "no payment method in Stripe")}
    person = {f["row_id"] for f in audit["findings"] if f["remedy"] == "person"}
    assert shared in person

    writes = len(fake.writes())
    again = sync_now(settings)
    assert len(fake.writes()) == writes and again.customer_changes == []

    # A person decides with the copy's mapping: the user gets that copy, and its lone card becomes the default.
    (tmp_path / "map.csv").write_text(f"email,stripe_customer_id\n{email[shared].upper()},{twins[1]['id']}\n")
    code, stdout, _ = reported(settings, tmp_path, "--yes", "--customer-map", "map.csv")
    assert code == 3 and "Customers changed so that tenants can pay (1)" in stdout  # the orphan lease remains
    assert stored(settings, mysql_server, shared) == twins[1]["id"]
    (card,) = fake.payments.payment_methods_of(twins[1]["id"])
    assert fake.objects["customers"][twins[1]["id"]]["invoice_settings"]["default_payment_method"] == card["id"]
    assert fake.objects["customers"][twins[0]["id"]]["metadata"] == {}
    writes = len(fake.writes())
    sync_now(settings)
    assert len(fake.writes()) == writes
    (tmp_path / "bad.csv").write_text("customer,who\ncus_1,x\n")
    refused = cli(settings, tmp_path, "--dry-run", "--customer-map", "bad.csv")
    assert refused.returncode == 1 and "needs a header" in refused.stdout + refused.stderr


def test_an_account_an_earlier_version_linked_gets_nothing_new(
    settings: Settings, fake: FakeStripe, today: Dump
) -> None:
    sync_now(settings)  # every user gets a customer of ours, without a card
    email = {u["id"]: u["email"] for u in today.users}
    tenant = payers(settings)[0]
    copy = fake.payments.add_copied_customer(email[tenant], cards=[FAR])  # a copy made after the sync
    writes, customers = len(fake.writes()), len(fake.all("customers"))
    again = sync_now(settings)
    assert len(fake.writes()) == writes and len(fake.all("customers")) == customers
    assert fake.objects["customers"][copy["id"]]["metadata"] == {} and again.customer_changes == []
