"""Generate a mysqldump of the Cohabs schema with the real dump's quirks, at any size.

The quirks kept: baseRent NULL in every room (the price is in rent); rooms
carrying product ids of the previous Stripe account, several rooms sharing
one; three hubs whose lease names start with bru-, par- and nyc- (New York in
dollars); every lease status; `active` leases whose end date has passed; a
lease pointing at a room that does not exist; users with password and salt.

    python -m devkit.dumpgen --users 2000 --rooms 500 --leases 2000 -o bench.dump
"""

from __future__ import annotations

import argparse
import random
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

HUBS = {
    "bru": "28530664410399680222952505886337",
    "par": "iouldueibhc7wmsanqr6tkvq9wfca2lk",
    "nyc": "ebg84kqxwkil7rceyt7t33q0q8lgue0m",
}
STALE_PRODUCTS = ["prod_KEMikL46NqFm0j", "prod_LhWWoh1zMJQ8Mg", "prod_LKIRK7oG8d8izM"]
FIRST_NAMES = [
    "oscar",
    "kenza",
    "hannah",
    "gráinne",
    "roxane",
    "ana",
    "luis",
    "paul",
    "diana",
    "louise",
    "mihaela anca",
]

DDL = """\
DROP TABLE IF EXISTS `leases`;
CREATE TABLE `leases` (
  `id` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `startDate` datetime NOT NULL,
  `endDate` datetime NOT NULL,
  `rentAmount` decimal(10,2) NOT NULL,
  `number` int(11) NOT NULL,
  `name` varchar(128) COLLATE utf8mb4_unicode_ci NOT NULL,
  `moveoutDate` datetime NOT NULL,
  `preferredMoveoutDate` datetime DEFAULT NULL,
  `moveoutDateRequest` datetime DEFAULT NULL,
  `extensionAccepted` tinyint(1) DEFAULT NULL,
  `moveoutReason` varchar(128) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `moveoutDesiderata` varchar(128) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `depositAmount` decimal(10,2) NOT NULL,
  `signatureDate` datetime NOT NULL,
  `hasCompletedOnboarding` tinyint(1) NOT NULL DEFAULT '0',
  `onboardingCompletedDate` datetime DEFAULT NULL,
  `hasMovedIn` tinyint(1) NOT NULL DEFAULT '0',
  `moveInDate` datetime DEFAULT NULL,
  `hasMovedOut` tinyint(1) NOT NULL DEFAULT '0',
  `endType` enum('generic','switchRoom','switchHouse','moveout','extend') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'generic',
  `sendgridBatchId` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `userId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `roomId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `hasLateFees` tinyint(1) NOT NULL DEFAULT '0',
  `stripeSubscriptionId` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `createdAt` datetime NOT NULL,
  `updatedAt` datetime NOT NULL,
  `hubId` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `chainId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `startType` enum('generic','switchRoom','switchHouse','moveout','extend') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'generic',
  `depositCalculated` tinyint(1) NOT NULL DEFAULT '0',
  `status` enum('signed','void','active','cancelled','finished') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'signed',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

DROP TABLE IF EXISTS `rooms`;
CREATE TABLE `rooms` (
  `id` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `active` tinyint(1) NOT NULL DEFAULT '1',
  `deleted` tinyint(1) NOT NULL DEFAULT '0',
  `number` int(11) DEFAULT NULL,
  `location` varchar(160) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `description` varchar(160) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `baseRent` decimal(10,2) DEFAULT NULL,
  `stripeProductId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `houseId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `lockId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `cmsId` int(11) DEFAULT NULL,
  `createdAt` datetime NOT NULL,
  `updatedAt` datetime NOT NULL,
  `deposit` decimal(10,2) DEFAULT NULL,
  `unitId` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `surface` int(11) DEFAULT NULL,
  `rent` decimal(10,2) DEFAULT NULL,
  `category` enum('essential','essentialPlus','classic','classicPlus','affinity','affinityPlus','solidarity','PMR') COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

DROP TABLE IF EXISTS `users`;
CREATE TABLE `users` (
  `id` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL,
  `active` tinyint(1) NOT NULL DEFAULT '1',
  `salt` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `password` varchar(256) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `email` varchar(256) COLLATE utf8mb4_unicode_ci NOT NULL,
  `emailVisibility` tinyint(1) NOT NULL DEFAULT '1',
  `firstName` varchar(256) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `lastName` varchar(256) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `nickName` varchar(256) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `birthdate` datetime DEFAULT NULL,
  `birthdateVisibility` tinyint(1) NOT NULL DEFAULT '1',
  `picture` varchar(256) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `serviceVouchers` tinyint(1) NOT NULL DEFAULT '0',
  `banned` tinyint(1) NOT NULL DEFAULT '0',
  `confirmed` tinyint(1) NOT NULL DEFAULT '0',
  `role` enum('admin','communityManager','hubManager','propertyManager','intern','cleaning','user') COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `phoneNumber` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `phoneNumberVisibility` tinyint(1) NOT NULL DEFAULT '1',
  `job` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `gender` enum('male','female','other') COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `genderVisibility` tinyint(1) NOT NULL DEFAULT '1',
  `about` varchar(512) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `alreadyConnected` tinyint(1) NOT NULL DEFAULT '0',
  `facebook` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `twitter` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `instagram` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `linkedIn` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `zendeskId` bigint(20) unsigned DEFAULT NULL,
  `nationalityId` varchar(4) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `prefixId` varchar(4) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `createdAt` datetime NOT NULL,
  `updatedAt` datetime NOT NULL,
  `residency` varchar(3) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `employment` enum('employed','unemployed','self-employed','student') COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `address` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `autoRefundDeposit` tinyint(1) NOT NULL DEFAULT '1',
  `bio` text COLLATE utf8mb4_unicode_ci,
  `interests` text COLLATE utf8mb4_unicode_ci,
  `stripeCustomerId` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `email` (`email`),
  UNIQUE KEY `salt` (`salt`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
"""

USER_COLUMNS = (
    "id active salt password email emailVisibility firstName lastName nickName birthdate birthdateVisibility picture "
    "serviceVouchers banned confirmed role phoneNumber phoneNumberVisibility job gender genderVisibility about "
    "alreadyConnected facebook twitter instagram linkedIn zendeskId nationalityId prefixId createdAt updatedAt "
    "residency employment address autoRefundDeposit bio interests stripeCustomerId"
).split()
ROOM_COLUMNS = (
    "id active deleted number location description baseRent stripeProductId houseId lockId cmsId createdAt "
    "updatedAt deposit unitId surface rent category"
).split()
LEASE_COLUMNS = (
    "id startDate endDate rentAmount number name moveoutDate preferredMoveoutDate moveoutDateRequest "
    "extensionAccepted moveoutReason moveoutDesiderata depositAmount signatureDate hasCompletedOnboarding "
    "onboardingCompletedDate hasMovedIn moveInDate hasMovedOut endType sendgridBatchId userId roomId hasLateFees "
    "stripeSubscriptionId createdAt updatedAt hubId chainId startType depositCalculated status"
).split()


@dataclass
class Dump:
    users: list[dict[str, Any]]
    rooms: list[dict[str, Any]]
    leases: list[dict[str, Any]]

    def sql(self) -> str:
        return dump_sql(
            "Synthetic Cohabs dump (devkit/dumpgen.py)",
            DDL,
            [
                ("leases", LEASE_COLUMNS, self.leases),
                ("rooms", ROOM_COLUMNS, self.rooms),
                ("users", USER_COLUMNS, self.users),
            ],
        )

    def write(self, path: Path) -> Path:
        path.write_text(self.sql(), encoding="utf-8")
        return path


def dump_sql(title: str, ddl: str, tables: Iterable[tuple[str, Sequence[str], Sequence[dict[str, Any]]]]) -> str:
    """A mysqldump-like script: the DDL, then each table's rows in INSERTs of 500."""
    parts = [
        f"-- {title}\n",
        "/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET FOREIGN_KEY_CHECKS=0 */;\n",
        "/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n\n",
        ddl,
    ]
    for table, columns, rows in tables:
        for chunk in _chunks(rows, 500):
            values = ",".join("(" + ",".join(_literal(r.get(c)) for c in columns) + ")" for r in chunk)
            parts.append(f"\nINSERT INTO `{table}` VALUES {values};\n")
    return "".join(parts)


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value:%Y-%m-%d %H:%M:%S}'"
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _ident(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(32))


def generate(
    users: int = 40, rooms: int = 20, leases: int = 40, *, now: datetime | None = None, seed: int = 7, orphans: int = 1
) -> Dump:
    """A dump whose dates sit around `now`, so leases are ongoing, future and ended at once."""
    rng = random.Random(seed)
    now = (now or datetime(2026, 11, 26, 12, 0, 0)).replace(microsecond=0)
    created = now - timedelta(days=900)
    user_rows: list[dict[str, Any]] = []
    room_rows: list[dict[str, Any]] = []
    lease_rows: list[dict[str, Any]] = []
    cities = list(HUBS)
    for index in range(users):
        uid = _ident(rng)
        user_rows.append(
            {
                "id": uid,
                "active": 1,
                "salt": "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(32)),
                "password": "pbkdf2$" + "".join(rng.choice(string.hexdigits) for _ in range(40)),
                "email": f"it+{uid}@cohabs.com",
                "emailVisibility": 1,
                "firstName": rng.choice(FIRST_NAMES).title(),
                "lastName": f"Tenant{index}",
                "birthdate": datetime(1990, 1, 1) + timedelta(days=rng.randrange(4000)),
                "birthdateVisibility": 1,
                "serviceVouchers": 0,
                "banned": 0,
                "confirmed": 0,
                "role": "user",
                "phoneNumber": f"{rng.randrange(100, 999)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
                "phoneNumberVisibility": 1,
                "job": "Tenant",
                "gender": rng.choice(["male", "female", "other"]),
                "genderVisibility": 1,
                "about": "Free-text bio that must never reach Stripe",
                "alreadyConnected": 0,
                "nationalityId": "be",
                "createdAt": created,
                "updatedAt": created,
                "employment": "employed",
                "autoRefundDeposit": 1,
                "_city": cities[index % len(cities)],
            }
        )
    for index in range(rooms):
        room_rows.append(
            {
                "id": _ident(rng),
                "active": 1,
                "deleted": 0,
                "number": index % 25 + 1,
                "location": rng.choice(["first floor, street side", "second floor, garden side", "basement"]),
                "description": f"This {rng.randrange(9, 20)}sqm bedroom with a shared bathroom",
                "baseRent": None,
                "stripeProductId": STALE_PRODUCTS[index % len(STALE_PRODUCTS)],
                "houseId": _ident(rng),
                "createdAt": created,
                "updatedAt": created,
                "deposit": Decimal("1300.00"),
                "rent": Decimal(rng.choice([1000, 1200, 1400, 1850])).quantize(Decimal("0.01")),
                "_city": cities[index % len(cities)],
            }
        )
    rooms_by_city = {c: [r for r in room_rows if r["_city"] == c] or room_rows for c in cities}
    statuses = ["active", "active", "signed", "finished", "cancelled", "void"]
    for index in range(leases):
        user = user_rows[index % len(user_rows)]
        city = user["_city"]
        room = rng.choice(rooms_by_city[city])
        status = statuses[index % len(statuses)]
        if status == "signed" and index % 12 == 2:
            start = now + timedelta(days=rng.randrange(5, 200))  # starts later
        elif status in ("active", "signed"):
            start = now - timedelta(days=rng.randrange(20, 300))
        else:
            start = now - timedelta(days=rng.randrange(400, 800))
        start = start.replace(hour=16, minute=0, second=0)
        months = rng.choice([6, 12])
        end = start + timedelta(days=30 * months)
        if status == "active" and index % 12 == 6:
            end = now - timedelta(days=rng.randrange(1, 60))  # the snapshot's "active but over"
        number = 100 + index
        lease_rows.append(
            {
                "id": _ident(rng),
                "startDate": start,
                "endDate": end,
                "rentAmount": (room["rent"] - Decimal(rng.randrange(0, 300))).quantize(Decimal("0.01")),
                "number": number,
                "name": f"{city}-house-{room['number']}-{user['firstName'].lower()}-{number}",
                "moveoutDate": end,
                "extensionAccepted": 0,
                "depositAmount": Decimal("1100.00"),
                "signatureDate": start - timedelta(days=30),
                "hasCompletedOnboarding": 1,
                "hasMovedIn": 1,
                "hasMovedOut": 0,
                "endType": "generic",
                "userId": user["id"],
                "roomId": room["id"],
                "hasLateFees": 0,
                "stripeSubscriptionId": None,
                "createdAt": start - timedelta(days=30),
                "updatedAt": start - timedelta(days=30),
                "hubId": HUBS[city],
                "startType": "generic",
                "depositCalculated": 1,
                "status": status,
            }
        )
    for lease in lease_rows[:orphans]:
        lease["roomId"] = _ident(rng)  # points at no room, as in the real dump
    return Dump(user_rows, room_rows, lease_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic Cohabs dump with the real DDL and quirks.")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--leases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", type=datetime.fromisoformat, default=None, help="reference date (default today)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    now = args.now or datetime.now().replace(microsecond=0)
    dump = generate(args.users, args.rooms, args.leases, now=now, seed=args.seed)
    dump.write(args.output)
    print(f"wrote {args.output}: {args.users} users, {args.rooms} rooms, {args.leases} leases")


if __name__ == "__main__":
    main()
