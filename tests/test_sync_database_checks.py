"""The database is checked before any Stripe write, and MySQL's errors are named for what they are."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import stripe

from cohabs.shared import mysql
from cohabs.shared.errors import CannotRun
from cohabs.shared.mysql import mysql_failed
from cohabs.shared.settings import Settings
from cohabs.sync import db
from cohabs.sync.execute import UNSTORED, Result
from cohabs.sync.problems import Problem
from cohabs.sync.rows import Kind
from devkit.dumpgen import Dump
from devkit.fake_stripe import FakeStripe
from devkit.mysql import Server, free_port
from tests.helpers import TEST_KEY, assert_one_object_per_row, cli, line, ongoing, query, sync


def refused(settings: Settings, fake: FakeStripe, tmp_path: Path, *args: str) -> str:
    """Run the CLI; it must stop with exit 1 before any Stripe write, and not blame the connection."""
    done = cli(settings, tmp_path, "--yes", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert fake.writes() == []
    assert "lost the MySQL connection" not in done.stderr and "Traceback" not in done.stderr
    return done.stderr


def test_a_users_view_that_cannot_be_updated_stops_the_run_before_stripe(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    query(settings, mysql_server, "RENAME TABLE users TO users_data")
    query(settings, mysql_server, "CREATE VIEW users AS SELECT DISTINCT * FROM users_data")
    for args in ((), ("--dry-run",)):
        said = refused(settings, fake, tmp_path, *args)
        assert "`users`.`stripeCustomerId` cannot be written (error 1288" in said
        assert "the table is a view MySQL cannot update" in said and "nothing was sent to Stripe" in said


def test_a_view_whose_columns_are_gone_is_named_as_such(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    query(settings, mysql_server, "RENAME TABLE rooms TO rooms_data")
    query(settings, mysql_server, "CREATE VIEW rooms AS SELECT * FROM rooms_data")
    query(settings, mysql_server, "ALTER TABLE rooms_data DROP COLUMN category")
    said = refused(settings, fake, tmp_path)
    assert "MySQL lists no columns for `rooms` (a view that refers to tables or columns that are gone?)" in said
    assert fake.requests == []


def test_a_users_table_beside_users_is_never_merged_with_it(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    query(settings, mysql_server, "CREATE TABLE Users (id varchar(32) PRIMARY KEY, firstName varchar(64))")
    for args in ((), ("--verify",)):
        said = refused(settings, fake, tmp_path, *args)
        assert "tables `Users` and `users` both answer to `users`" in said and "rename or drop the other one" in said
    assert fake.requests == []


@pytest.fixture
def limited_user(settings: Settings, mysql_server: Server) -> Iterator[Settings]:
    """A MySQL user that may read the test database, and nothing more unless a test grants it."""
    name, password = f"relink_{secrets.token_hex(4)}", secrets.token_hex(8)
    admin = mysql_server.connect()
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT SELECT ON `{settings.db_name}`.* TO '{name}'@'%'")
    try:
        yield dataclasses.replace(settings, db_user=name, db_password=password)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER '{name}'@'%'")
        admin.close()


@pytest.mark.parametrize("grant", ["", "UPDATE (email) ON {db}.users"])
def test_a_missing_update_privilege_stops_the_run_before_stripe(
    settings: Settings,
    mysql_server: Server,
    fake: FakeStripe,
    restored: Dump,
    tmp_path: Path,
    limited_user: Settings,
    grant: str,
) -> None:
    if grant:  # every privilege but UPDATE of the id column
        admin = mysql_server.connect()
        with admin.cursor() as cur:
            for target in (f"UPDATE ON `{settings.db_name}`.{t}" for t in ("rooms", "leases")):
                cur.execute(f"GRANT {target} TO '{limited_user.db_user}'@'%'")
            cur.execute(f"GRANT {grant.format(db=f'`{settings.db_name}`')} TO '{limited_user.db_user}'@'%'")
        admin.close()
    said = refused(limited_user, fake, tmp_path)
    assert "`users`.`stripeCustomerId` cannot be written" in said
    assert ("GRANT UPDATE on it to DB_USER" if grant else "GRANT SELECT, UPDATE on it to DB_USER") in said
    assert ("`rooms`" in said) is not bool(grant)


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        (
            "ALTER TABLE leases MODIFY stripeSubscriptionId varchar(20)",
            "`leases`.`stripeSubscriptionId` holds 20 characters, but lease ids need 28",
        ),
        ("ALTER TABLE users MODIFY stripeCustomerId int", "`users`.`stripeCustomerId` is not a text column"),
    ],
)
def test_an_id_column_too_narrow_for_stripes_ids_stops_the_run_before_stripe(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path, ddl: str, message: str
) -> None:
    query(settings, mysql_server, "UPDATE users SET stripeCustomerId = NULL")
    query(settings, mysql_server, ddl)
    for args in ((), ("--dry-run",)):
        said = refused(settings, fake, tmp_path, *args)
        assert message in said and "widen it" in said


def test_a_column_is_measured_against_the_longest_id_the_account_holds(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, tmp_path: Path
) -> None:
    query(settings, mysql_server, "ALTER TABLE users MODIFY stripeCustomerId varchar(32)")
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": fake.url})
    created = client.v1.customers.create(params={"email": "someone@example.com"})
    customer = fake.objects["customers"].pop(created.id)
    customer["id"] = "cus_" + "L" * 36  # Stripe may issue longer ids one day: this account already has
    fake.objects["customers"][customer["id"]] = customer
    fake.requests.clear()

    said = refused(settings, fake, tmp_path)

    assert "`users`.`stripeCustomerId` holds 32 characters, but user ids need 40" in said


@pytest.fixture
def refusing_trigger(settings: Settings, mysql_server: Server, restored: Dump) -> Iterator[list[str]]:
    """A trigger that refuses the ids of one ongoing lease, one ended lease and one user."""
    ended = next(x["id"] for x in restored.leases[1:] if x["status"] in ("void", "finished"))
    picked = [ongoing(restored)[0]["id"], ended, restored.users[5]["id"]]
    for table, row in (("leases", picked[:2]), ("users", picked[2:])):
        rows = ", ".join(f"'{r}'" for r in row)
        query(
            settings,
            mysql_server,
            f"CREATE TRIGGER refuse_{table} BEFORE UPDATE ON {table} FOR EACH ROW "
            f"IF NEW.id IN ({rows}) THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a trigger'; END IF",
        )
    try:
        yield picked
    finally:
        for table in ("leases", "users"):
            query(settings, mysql_server, f"DROP TRIGGER IF EXISTS refuse_{table}")


def test_an_id_that_cannot_be_stored_leaves_its_subscription_unable_to_bill(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump, refusing_trigger: list[str]
) -> None:
    live_lease, ended_lease, user = refusing_trigger

    report = sync(settings)

    for kind, row in ((Kind.LEASE, live_lease), (Kind.LEASE, ended_lease), (Kind.USER, user)):
        failed = line(report, kind, row)
        assert failed.result == Result.FAILED and failed.problem is Problem.NOT_STORED
        assert "could not be stored (MySQL refused the write: error 1644: refused by a trigger" in failed.detail
    assert "cancelled it so that it cannot bill" in line(report, Kind.LEASE, live_lease).detail
    unstored = [s for s in fake.all("subscriptions") if s["metadata"]["cohabs_lease_id"] in (live_lease, ended_lease)]
    assert {s["status"] for s in unstored} == {"canceled"}
    assert {s["cancellation_details"]["comment"] for s in unstored} == {UNSTORED}

    for table in ("leases", "users"):
        query(settings, mysql_server, f"DROP TRIGGER refuse_{table}")
    again = sync(settings)

    assert [o.row_id for o in again.unsynced] == [restored.leases[0]["id"]]
    # The ongoing lease bills again under a new subscription; the ended one keeps its cancelled one.
    by_lease = {s["metadata"]["cohabs_lease_id"]: s for s in fake.all("subscriptions") if s["status"] == "trialing"}
    assert live_lease in by_lease and ended_lease not in by_lease
    voided = {s["metadata"]["cohabs_lease_id"]: s["id"] for s in unstored}
    assert line(again, Kind.LEASE, live_lease).stale_id == voided[live_lease]  # replaced, under a new key
    assert line(again, Kind.LEASE, ended_lease).result == Result.ADOPTED
    assert line(again, Kind.USER, user).result in (Result.ADOPTED, Result.REPLACED)
    assert len([s for s in fake.all("customers") if s["metadata"]["cohabs_user_id"] == user]) == 1


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (pymysql.err.OperationalError(2013, "Lost connection to server during query"), "lost the MySQL connection"),
        (pymysql.err.InterfaceError(0, ""), "lost the MySQL connection"),
        (pymysql.err.OperationalError(1054, "Unknown column 'x' in 'SELECT'"), "a column the sync reads or writes"),
        (pymysql.err.OperationalError(1288, "The target table users of the UPDATE is not updatable"), "a view"),
        (pymysql.err.ProgrammingError(1146, "Table 'db.rooms' doesn't exist"), "restore the dump"),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), "fix what MySQL says"),
    ],
)
def test_mysql_errors_are_named_for_what_they_are(error: pymysql.err.Error, said: str) -> None:
    message = str(mysql_failed(error, " while linking user u1"))
    assert said in message
    assert ("lost the MySQL connection" in message) is (said == "lost the MySQL connection")
    assert "while linking user u1" in message


def test_a_connection_the_pool_cannot_open_mid_run_is_named_lost(settings: Settings, restored: Dump) -> None:
    # Mid-run, a write may need a new connection just as MySQL goes away (killed in its handshake, a
    # restart): the login worked moments ago, so that is a lost connection, not a server never up.
    conn = mysql.connect(settings)
    try:
        schema = db.read_schema(conn)
    finally:
        conn.close()
    gone = dataclasses.replace(settings, db_port=free_port())
    with pytest.raises(CannotRun, match="cannot connect to MySQL"):
        mysql.connect(gone)  # the run's first connection says the server is not there
    writer = db.IdWriter(lambda: mysql.connect_again(gone), schema)
    with pytest.raises(pymysql.err.OperationalError) as lost:
        writer.write(Kind.USER, restored.users[0]["id"], "cus_1")
    assert "lost the MySQL connection" in str(mysql_failed(lost.value, " while linking user u1"))


def test_every_row_is_still_linked_once_after_the_checks(
    settings: Settings, mysql_server: Server, fake: FakeStripe, restored: Dump
) -> None:
    # The no-op probe of every table changes nothing and costs no Stripe call.
    before = query(settings, mysql_server, "SELECT id, stripeProductId FROM rooms ORDER BY id")
    sync(settings, dry_run=True)
    assert query(settings, mysql_server, "SELECT id, stripeProductId FROM rooms ORDER BY id") == before
    sync(settings)
    assert_one_object_per_row(settings, mysql_server, fake, restored)
