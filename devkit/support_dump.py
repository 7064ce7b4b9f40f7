"""A dump of the support data's three tables with its situations, for tests and `make support-demo`.

The situations kept (values differ from the real dump): one disputed payment
on a `ch_` charge; other charges are `py_` ids; two payments with paid 0 but a
charge id on one lease; two pending payments, one with an empty charge id;
three payments due after their (finished) lease ended; four payments paid in
full to one house; a house with no payment at all, whose account id differs
from another house's only by a digit 0 for a letter O; `stripeInvoiceId`
holding the string 'NULL'; `userId` NULL.

For the benchmark, as many more as asked of two kinds: settled rent (paid in
full, a monthly payment of a year's lease in a house with a connected
account, never transferred), and disputed payments (a tenant each, as a
fraud wave brings them).

    python -m devkit.support_dump -o support.dump
    python -m devkit.support_dump -o bench.dump --extra-settled 300 --extra-disputed 300
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .dumpgen import dump_sql

DDL = """\
DROP TABLE IF EXISTS `houses`;
CREATE TABLE `houses` (
  `id` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `name` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `active` tinyint(1) NOT NULL DEFAULT '1',
  `deleted` tinyint(1) NOT NULL DEFAULT '0',
  `stripeAccountId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `createdAt` datetime NOT NULL,
  `updatedAt` datetime NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

DROP TABLE IF EXISTS `leases`;
CREATE TABLE `leases` (
  `id` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `startDate` datetime NOT NULL,
  `endDate` datetime NOT NULL,
  `rentAmount` decimal(10,2) NOT NULL,
  `houseId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `status` enum('signed','void','active','cancelled','finished') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'signed',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

DROP TABLE IF EXISTS `payments`;
CREATE TABLE `payments` (
  `id` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `amount` decimal(10,2) NOT NULL,
  `paid` decimal(10,2) NOT NULL DEFAULT '0.00',
  `pending` tinyint(1) NOT NULL DEFAULT '0',
  `dueDate` datetime NOT NULL,
  `paymentDate` datetime DEFAULT NULL,
  `comment` varchar(1024) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `retries` int(11) NOT NULL DEFAULT '0',
  `stripeChargeId` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `stripeInvoiceId` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `createdAt` datetime NOT NULL,
  `updatedAt` datetime NOT NULL,
  `leaseId` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `userId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `disputed` tinyint(1) NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
"""
HOUSE_COLUMNS = ["id", "name", "active", "deleted", "stripeAccountId", "createdAt", "updatedAt"]
LEASE_COLUMNS = ["id", "startDate", "endDate", "rentAmount", "houseId", "status"]
PAYMENT_COLUMNS = [
    "id",
    "amount",
    "paid",
    "pending",
    "dueDate",
    "paymentDate",
    "comment",
    "retries",
    "stripeChargeId",
    "stripeInvoiceId",
    "createdAt",
    "updatedAt",
    "leaseId",
    "userId",
    "disputed",
]


def row_id(name: str) -> str:
    """A 32-character id like the dump's, stable for a name."""
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def charge_id(prefix: str, name: str) -> str:
    return f"{prefix}_3Test{hashlib.sha256(name.encode()).hexdigest()[:19]}"


@dataclass
class SupportDump:
    houses: list[dict[str, Any]] = field(default_factory=list)
    leases: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)

    def payment(self, name: str) -> dict[str, Any]:
        return next(p for p in self.payments if p["id"] == row_id(name))

    def sql(self) -> str:
        return dump_sql(
            "Synthetic support dump (devkit/support_dump.py)",
            DDL,
            [
                ("houses", HOUSE_COLUMNS, self.houses),
                ("leases", LEASE_COLUMNS, self.leases),
                ("payments", PAYMENT_COLUMNS, self.payments),
            ],
        )

    def write(self, path: Path) -> Path:
        path.write_text(self.sql(), encoding="utf-8")
        return path


MADE = datetime(2022, 12, 15, 23, 55, 45)  # when the dump's payments were made


def generate(extra_settled: int = 0, extra_disputed: int = 0) -> SupportDump:
    made = MADE
    dump = SupportDump()
    for name, account in (
        ("flagey", "acct_1TestFlagey10xyz"),
        ("parvis", "acct_1TestP9OT3xOBxQ"),  # letter O
        ("louis", "acct_1TestP90T3x0BxQ"),  # the same with digit 0: never connected
    ):
        dump.houses.append(
            {
                "id": row_id(name),
                "name": {"flagey": "Flagey 10", "parvis": "Parvis 69", "louis": "Louis 880"}[name],
                "active": 1,
                "deleted": 0,
                "stripeAccountId": account,
                "createdAt": datetime(2021, 4, 12, 16),
                "updatedAt": datetime(2022, 4, 12, 16),
            }
        )
    for name, start, end, rent, house, status in (
        ("current", datetime(2022, 5, 1, 16), datetime(2023, 5, 1, 8), "100.00", "flagey", "active"),
        ("ended", datetime(2021, 1, 1, 16), datetime(2022, 5, 1, 8), "750.00", "flagey", "finished"),
        ("parvis", datetime(2021, 1, 1, 16), datetime(2023, 2, 1, 8), "1500.00", "parvis", "active"),
        ("louis", datetime(2022, 3, 1, 16), datetime(2023, 8, 1, 8), "685.00", "louis", "active"),
    ):
        dump.leases.append(
            {
                "id": row_id(f"lease-{name}"),
                "startDate": start,
                "endDate": end,
                "rentAmount": Decimal(rent),
                "houseId": row_id(house),
                "status": status,
            }
        )

    def pay(name: str, lease: str, amount: str, paid: str, charge: str, **extra: Any) -> None:
        due = extra.pop("due", made)
        dump.payments.append(
            {
                "id": row_id(name),
                "amount": Decimal(amount),
                "paid": Decimal(paid),
                "pending": 0,
                "dueDate": due,
                "paymentDate": due,
                "comment": None,
                "retries": 0,
                "stripeChargeId": charge,
                "stripeInvoiceId": "NULL",
                "createdAt": made,
                "updatedAt": made,
                "leaseId": row_id(f"lease-{lease}"),
                "userId": None,
                "disputed": 0,
                **extra,
            }
        )

    for n in range(1, 5):
        pay(f"paid-{n}", "current", "880.00", "880.00", charge_id("py", f"paid-{n}"))
    pay("pending", "current", "240.00", "240.00", charge_id("py", "pending"), pending=1)
    pay("pending-no-charge", "current", "880.00", "880.00", "", pending=1)
    pay("unpaid-1", "parvis", "1500.00", "0.00", charge_id("py", "unpaid-1"))
    pay("unpaid-2", "parvis", "1500.00", "0.00", charge_id("py", "unpaid-2"))
    pay("disputed", "parvis", "1500.00", "1500.00", charge_id("ch", "disputed"), disputed=1)
    for month in (10, 11, 12):
        pay(
            f"late-{month}",
            "ended",
            "700.00",
            "700.00",
            charge_id("py", f"late-{month}"),
            due=made.replace(month=month),
        )
    _settled(dump, extra_settled)
    _disputed(dump, extra_disputed)
    return dump


def _lease(dump: SupportDump, name: str, house: str, start: datetime, end: datetime, rent: Decimal) -> str:
    dump.leases.append(
        {
            "id": row_id(name),
            "startDate": start,
            "endDate": end,
            "rentAmount": rent,
            "houseId": row_id(house),
            "status": "active",
        }
    )
    return row_id(name)


def _payment(
    dump: SupportDump, name: str, lease: str, amount: Decimal, due: datetime, charge: str, disputed: int
) -> None:
    dump.payments.append(
        {
            "id": row_id(name),
            "amount": amount,
            "paid": amount,
            "pending": 0,
            "dueDate": due,
            "paymentDate": due,
            "comment": None,
            "retries": 0,
            "stripeChargeId": charge,
            "stripeInvoiceId": "NULL",
            "createdAt": due,
            "updatedAt": due,
            "leaseId": lease,
            "userId": None,
            "disputed": disputed,
        }
    )


def _settled(dump: SupportDump, count: int) -> None:
    """`count` monthly payments paid in full, twelve to a lease, in the houses whose account is connected."""
    for n in range(count):
        year, month = divmod(n, 12)
        lease_name = f"extra-lease-{year}"
        rent = Decimal(500 + 37 * year % 700).quantize(Decimal("0.01"))
        if month == 0:
            house = ("flagey", "parvis")[year % 2]
            _lease(dump, lease_name, house, datetime(2022, 1, 1, 12), datetime(2023, 12, 31, 12), rent)
        due = datetime(2022, month + 1, 1 + year % 28, 8, year % 60, n % 60)
        _payment(dump, f"extra-paid-{n}", row_id(lease_name), rent, due, charge_id("py", f"extra-paid-{n}"), 0)


def _disputed(dump: SupportDump, count: int) -> None:
    """`count` payments paid in full by card and disputed, each by its own tenant, over the year."""
    for n in range(count):
        amount = Decimal(900 + n % 400).quantize(Decimal("0.01"))
        lease = _lease(
            dump,
            f"extra-dispute-lease-{n}",
            ("flagey", "parvis")[n % 2],
            datetime(2021, 6, 1, 12),
            datetime(2023, 6, 1, 12),
            amount,
        )
        due = datetime(2022, 1 + n % 12, 1 + n % 28, 9, n % 60, (7 * n) % 60)
        _payment(dump, f"extra-disputed-{n}", lease, amount, due, charge_id("ch", f"extra-disputed-{n}"), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic dump shaped like the support data.")
    parser.add_argument("-o", "--output", type=Path, default=Path("support.dump"))
    parser.add_argument("--extra-settled", type=int, default=0, metavar="N", help="more payments to transfer")
    parser.add_argument("--extra-disputed", type=int, default=0, metavar="N", help="more disputed payments")
    args = parser.parse_args()
    print(f"wrote {generate(args.extra_settled, args.extra_disputed).write(args.output)}")


if __name__ == "__main__":
    main()
