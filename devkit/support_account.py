"""A fake Stripe account shaped like the support data (houses, leases, payments).

    seeded = seed(fake, read_rows(connection))          # in tests, on a restored database
    python -m devkit.fake_stripe --seed-support cohabs_support   # the local emulator, seeded (the README's way)

From the rows it makes: a connected account per house, except the look-alike id
(a digit 0 where another house's id has the letter O) that was never connected;
a customer per lease (the payments carry no user); a charge and its
PaymentIntent per payment with a charge id, under that id, whose status follows
the row (succeeded, pending, failed when nothing was paid); the dispute on each
disputed payment's charge; and the transfers already made for some payments.
Every choice is a keyword argument, so tests can shape variants of the data.
"""

from __future__ import annotations

import argparse
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pymysql
import pymysql.cursors

from cohabs.shared.cli import load_environment

from .fake import FakeStripe, Payments

EMPTY_IDS = ("", "NULL")  # how the dump says "no charge id"
DAY = 86_400


@dataclass(frozen=True)
class SupportRows:
    houses: list[dict[str, Any]]
    leases: list[dict[str, Any]]
    payments: list[dict[str, Any]]


@dataclass
class Seeded:
    """What seeding made, by row id, for tests to aim at."""

    payments: Payments
    accounts: dict[str, str] = field(default_factory=dict)  # house id → connected account
    missing_accounts: set[str] = field(default_factory=set)  # account ids in rows the platform lacks
    customers: dict[str, str] = field(default_factory=dict)  # lease id → customer
    charges: dict[str, str] = field(default_factory=dict)  # payment id → charge
    intents: dict[str, str] = field(default_factory=dict)  # payment id → its charge's PaymentIntent
    disputes: dict[str, str] = field(default_factory=dict)  # payment id → dispute
    transfers: dict[str, str] = field(default_factory=dict)  # payment id → transfer already made
    invoices: dict[str, str] = field(default_factory=dict)  # payment id → invoice


def read_rows(connection: pymysql.connections.Connection) -> SupportRows:
    """The three tables of a restored support dump, every column, in id order."""
    with connection.cursor(pymysql.cursors.DictCursor) as cursor:
        tables = []
        for table in ("houses", "leases", "payments"):
            cursor.execute(f"SELECT * FROM `{table}` ORDER BY id")  # noqa: S608 (fixed table names)
            tables.append([dict(row) for row in cursor.fetchall()])
    return SupportRows(*tables)


def charge_id(payment: Mapping[str, Any]) -> str | None:
    value = (payment.get("stripeChargeId") or "").strip()
    return None if value in EMPTY_IDS else value


def lookalike_accounts(account_ids: Iterable[str]) -> set[str]:
    """Ids equal to another id but for a digit 0 where that one has the letter O: the mistyped ones."""
    ids = sorted({a for a in account_ids if a})
    return {
        a
        for a in ids
        for b in ids
        if a != b and len(a) == len(b) and all(x == y or (x == "0" and y == "O") for x, y in zip(a, b, strict=True))
    }


def minor_units(amount: Any) -> int:
    return int((Decimal(str(amount)) * 100).to_integral_value())


def timestamp(value: Any) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return int(moment.replace(tzinfo=UTC).timestamp())


def eligible(payment: Mapping[str, Any], lease: Mapping[str, Any] | None, connected: bool) -> bool:
    """A payment the company's process would have passed on to its house; the default already-transferred pick."""
    amount, paid = Decimal(str(payment["amount"])), Decimal(str(payment["paid"]))
    return (
        charge_id(payment) is not None
        and paid == amount > 0
        and not int(payment["pending"])
        and not int(payment["disputed"])
        and lease is not None
        and timestamp(payment["dueDate"]) <= timestamp(lease["endDate"])
        and connected
    )


def seed(
    fake: FakeStripe,
    rows: SupportRows,
    *,
    transferred: Collection[str] | None = None,
    missing_accounts: Collection[str] | None = None,
    invoiced: Collection[str] = (),
    dispute_status: str = "needs_response",
    dispute_days: int = 0,
    currencies: Mapping[str, str] | None = None,
    available: Mapping[str, int] | None = None,
    settlement: Mapping[str, tuple[str, Decimal]] | None = None,
    dispute_withdraw: bool | None = None,
) -> Seeded:
    """Fill `fake` with the Stripe side of `rows`.

    transferred: payment ids whose transfer to the house was already made; by default the first
        payment (by payment date, due date when there is none, then id) the company's process would have
        passed on.
    missing_accounts: house account ids the platform has not connected; by default the look-alikes.
    invoiced: payment ids paid through an invoice (the dump's stripeInvoiceId says 'NULL' for all).
    dispute_status: the status of the disputes on disputed payments.
    dispute_days: the disputes arrive over this many days up to now (0: all now, today's incident).
    currencies: house id → currency, "eur" for any other house (the houses are in Brussels).
    available: the platform's available balance per currency before the disputes withdraw theirs
        (0 by default: past payments were paid out).
    settlement: presentment currency → (the currency the platform settles it in, the exchange rate);
        by default every charge settles in its own currency.
    dispute_withdraw: whether a `prevented` dispute took the money (by default it took nothing).
    """
    payments = fake.payments
    seeded = Seeded(payments)
    for currency, (into, rate) in (settlement or {}).items():
        payments.settle_in(currency, into, rate)
    houses = {h["id"]: h for h in rows.houses}
    leases = {lease["id"]: lease for lease in rows.leases}
    account_ids = [h["stripeAccountId"] for h in rows.houses if h.get("stripeAccountId")]
    seeded.missing_accounts = set(lookalike_accounts(account_ids) if missing_accounts is None else missing_accounts)

    def currency_of(house_id: str | None) -> str:
        return (currencies or {}).get(house_id or "", "eur")

    for house in rows.houses:
        account = house.get("stripeAccountId")
        if account and account not in seeded.missing_accounts and account not in fake.objects["accounts"]:
            payments.add_account(
                account,
                name=house["name"],
                currency=currency_of(house["id"]),
                metadata={"cohabs_house_id": house["id"]},
            )
        if account and account not in seeded.missing_accounts:
            seeded.accounts[house["id"]] = account

    for lease in rows.leases:
        seeded.customers[lease["id"]] = fake.resources.customers.add(
            name=f"Tenant of lease {lease['id'][:8]}",
            metadata={"cohabs_lease_id": lease["id"]},
            currency=currency_of(lease.get("houseId")),
        )["id"]

    ordered = sorted(rows.payments, key=lambda p: (timestamp(p["paymentDate"] or p["dueDate"]), p["id"]))
    for payment in ordered:
        ident = charge_id(payment)
        if ident is None or ident in fake.objects["charges"] or ident in fake.objects["payment_intents"]:
            continue
        home = houses.get(leases.get(payment["leaseId"], {}).get("houseId", ""))
        amount, paid = minor_units(payment["amount"]), minor_units(payment["paid"])
        when = timestamp(payment["paymentDate"] or payment["dueDate"])
        due = timestamp(payment["dueDate"])
        if int(payment["pending"]):
            status = "pending"
        elif paid == 0:
            status = "failed"
        else:
            status = "succeeded"
        made = payments.add_charge(
            ident,
            amount=amount,
            currency=currency_of(home["id"] if home else None),
            customer=seeded.customers.get(payment["leaseId"]),
            status=status,
            # How the old system described rent: the month it pays and the house.
            description=f"Rent {datetime.fromtimestamp(due, UTC):%B %Y} - {home['name'] if home else 'unknown house'}",
            created=when,
            method="sepa_debit" if ident.startswith("py_") else "card",
            metadata={"cohabs_payment_id": payment["id"]},
        )
        seeded.charges[payment["id"]] = made["id"]
        seeded.intents[payment["id"]] = made["payment_intent"]
        if payment["id"] in invoiced:
            invoice = payments.add_invoice(made["payment_intent"], description=made["description"], created=when)
            seeded.invoices[payment["id"]] = invoice["id"]

    if transferred is None:
        transferred = [
            p["id"]
            for p in ordered
            if eligible(p, leases.get(p["leaseId"]), leases.get(p["leaseId"], {}).get("houseId") in seeded.accounts)
        ][:1]
    for payment in ordered:
        if payment["id"] not in transferred:
            continue
        destination = seeded.accounts.get(leases.get(payment["leaseId"], {}).get("houseId", ""))
        funded = fake.objects["charges"].get(seeded.charges.get(payment["id"], ""))
        if destination is None or funded is None:
            raise ValueError(f"payment {payment['id']} has no charge or no connected house account to transfer to")
        settled = fake.objects["balance_transactions"][funded["balance_transaction"]]
        seeded.transfers[payment["id"]] = payments.create_transfer(
            {
                # In the currency the charge settled in, as Stripe requires of a transfer it funds.
                "amount": str(settled["amount"]),
                "currency": settled["currency"],
                "destination": destination,
                "source_transaction": funded["id"],
                # A group in the style Stripe names a PaymentIntent's own (group_pi_…): not one support.py
                # chooses, so finding this transfer must not depend on the group.
                "transfer_group": f"group_{funded['payment_intent']}",
            },
            created=funded["created"] + 86400,
        )["id"]

    # Past payments and their transfers were paid out long ago: the balance starts here.
    payments.available.clear()
    payments.available.update(available or {})
    for payment in ordered:
        if int(payment["disputed"]) and payment["id"] in seeded.charges:
            charge = seeded.charges[payment["id"]]
            # Today's incident by default; a wave of them over the last `dispute_days` days, never before its charge.
            ago = zlib.crc32(payment["id"].encode()) % (dispute_days * DAY) if dispute_days else 0
            when = max(fake.store.now() - ago, fake.objects["charges"][charge]["created"] + 1)
            dispute = payments.open_dispute(charge, status=dispute_status, created=when, withdraw=dispute_withdraw)
            seeded.disputes[payment["id"]] = dispute["id"]
    return seeded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The fake's seeding options (python -m devkit.fake_stripe --seed-support …)."""
    group = parser.add_argument_group(
        "seeding from a restored support database",
        "Database settings come from the environment, then .env (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD), "
        "as support.py reads them.",
    )
    group.add_argument(
        "--seed-support",
        nargs="?",
        const="",
        metavar="DATABASE",
        help="shape the account like this support database (default: SUPPORT_DB_NAME, else cohabs_support): "
        "the houses' accounts, a charge per payment, the dispute, a transfer already made",
    )
    group.add_argument("--transferred", action="append", metavar="PAYMENT_ID", help="already transferred (repeat)")
    group.add_argument("--no-transfers", action="store_true", help="no payment was transferred yet")
    group.add_argument("--missing-account", action="append", metavar="ACCOUNT_ID", help="not connected (repeat)")
    group.add_argument("--invoiced", action="append", default=[], metavar="PAYMENT_ID", help="paid by invoice")
    group.add_argument("--dispute-status", default="needs_response")
    group.add_argument("--dispute-days", type=int, default=0, help="the disputes arrive over this many days up to now")
    group.add_argument(
        "--house-currency", action="append", default=[], metavar="HOUSE_ID:CUR", help="a house's currency (repeat)"
    )
    group.add_argument(
        "--settle",
        action="append",
        default=[],
        metavar="CUR:INTO:RATE",
        help="charges in CUR settle in INTO at RATE, e.g. usd:eur:0.92 (repeat)",
    )
    group.add_argument(
        "--prevented-withdrawn", action="store_true", help="a prevented dispute took the money (by default it did not)"
    )
    group.add_argument(
        "--tenant-cash",
        type=int,
        default=0,
        metavar="MINOR",
        help="each disputed tenant already holds this cash balance",
    )


def seed_from_arguments(fake: FakeStripe, args: argparse.Namespace) -> list[str]:
    """Seed `fake` when --seed-support was given; the lines that say what was made (none when not asked)."""
    if args.seed_support is None:
        return []
    environment = load_environment()
    settings = environment.settings
    database = args.seed_support or settings.support_db_name
    try:
        connection = pymysql.connect(
            host=settings.db_host,
            port=settings.db_port,
            user=settings.db_user,
            password=settings.db_password,  # from the environment or .env only, never argv
            database=database,
            charset="utf8mb4",
        )
        try:
            rows = read_rows(connection)
        finally:
            connection.close()
    except pymysql.MySQLError as exc:
        raise SystemExit(
            f"error: cannot read the support database `{database}` on {settings.db_host}:{settings.db_port} "
            f"({exc.args[-1]}): restore it first (./restore_dump.sh --database {database} FILE)"
        ) from None
    seeded = seed(
        fake,
        rows,
        transferred=() if args.no_transfers else args.transferred,
        missing_accounts=args.missing_account,
        invoiced=args.invoiced,
        dispute_status=args.dispute_status,
        dispute_days=args.dispute_days,
        currencies=dict(pair.split(":", 1) for pair in args.house_currency),
        settlement={cur: (into, Decimal(rate)) for cur, into, rate in (s.split(":") for s in args.settle)},
        dispute_withdraw=args.prevented_withdrawn,
    )
    if args.tenant_cash:
        for payment, charge in seeded.charges.items():
            if payment in seeded.disputes:
                found = fake.objects["charges"][charge]
                seeded.payments.fund_cash_balance(found["customer"], args.tenant_cash, found["currency"])
    return [
        f"seeded from `{database}` on {settings.db_host}:{settings.db_port}: {len(seeded.accounts)} connected "
        f"accounts (not connected: {', '.join(sorted(seeded.missing_accounts)) or 'none'}), "
        f"{len(seeded.charges)} charges, {len(seeded.disputes)} disputes, "
        f"{len(seeded.transfers)} transfers already made",
    ]
