"""Small pure pieces: settings, key masking, schema resolution, the account index."""

from __future__ import annotations

import subprocess

import pytest

from cohabs.shared.errors import CannotRun, SchemaError
from cohabs.shared.settings import DEFAULT_HUB_CURRENCIES, load_settings, mask_key, redact
from cohabs.sync.account import Account, Remote
from cohabs.sync.rows import Kind
from cohabs.sync.schema import resolve
from tests.helpers import ROOT


def test_keys_are_masked_wherever_they_appear() -> None:
    assert mask_key("sk_test_51Abcdefghijklmnop1234") == "sk_test_…1234"
    assert mask_key("rk_live_XYZ9876") == "rk_live_…9876"
    assert redact("failed with sk_live_51SecretSecret9999 today") == "failed with sk_live_…9999 today"


def test_settings_validate_what_they_read() -> None:
    settings = load_settings({"DB_PORT": "3307", "HUB_CURRENCIES": "atlantis=GBP", "STRIPE_SECRET_KEY": "sk_live_x1"})
    assert settings.db_port == 3307
    assert settings.hub_currencies == {**DEFAULT_HUB_CURRENCIES, "atlantis": "gbp"}
    assert settings.live and settings.effective_rate == 97.0 and settings.endpoint_rate == 24.25
    raised = load_settings({"STRIPE_RATE_LIMIT": "400", "STRIPE_ENDPOINT_RATE_LIMIT": "80"})
    assert (raised.effective_rate, raised.endpoint_rate) == (400.0, 80.0)  # limits Stripe raised, used as given
    assert load_settings({}).effective_rate == 24.25
    assert "sk_live_x1" not in repr(settings)
    with pytest.raises(CannotRun, match="DB_PORT must be a number"):
        load_settings({"DB_PORT": "abc"})
    with pytest.raises(CannotRun, match="STRIPE_ENDPOINT_RATE_LIMIT must be positive"):
        load_settings({"STRIPE_ENDPOINT_RATE_LIMIT": "0"})
    with pytest.raises(CannotRun, match="hubId=currency"):
        load_settings({"HUB_CURRENCIES": "atlantis=pounds"})
    with pytest.raises(CannotRun, match="does not look like a Stripe secret key"):
        load_settings({"STRIPE_SECRET_KEY": "whsec_not_an_api_key"})
    with pytest.raises(CannotRun, match=r"holds a publishable key \(pk_…\)"):
        load_settings({"STRIPE_SECRET_KEY": "pk_test_publishable"})
    with pytest.raises(CannotRun, match="STRIPE_API_BASE is not an http"):
        load_settings({"STRIPE_API_BASE": "notaurl"})
    assert load_settings({"STRIPE_API_BASE": "http://localhost:12111/"}).stripe_api_base == "http://localhost:12111"


def test_schema_names_every_missing_piece_at_once() -> None:
    columns = [("users", "id", None), ("users", "email", None), ("rooms", "id", None), ("rooms", "rent", None)]
    with pytest.raises(SchemaError) as caught:
        resolve(columns)
    message = str(caught.value)
    assert "`users`.`stripeCustomerId` is missing" in message
    assert "`rooms`.`stripeProductId` is missing" in message
    assert "table `leases` is missing" in message


def test_restore_dump_says_what_is_missing() -> None:
    missing = subprocess.run([str(ROOT / "restore_dump.sh"), "/nonexistent.dump"], capture_output=True, text=True)
    assert missing.returncode == 1
    assert "dump file not found: /nonexistent.dump" in missing.stderr
    down = subprocess.run(
        [str(ROOT / "restore_dump.sh"), str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DB_PORT": "1"},
    )
    assert down.returncode == 1
    assert "cannot connect to MySQL at 127.0.0.1:1" in down.stderr


def test_an_object_listed_twice_is_one_object_linked_once() -> None:
    subscription = Remote(Kind.LEASE, "sub_1", "lease-1", 100, status="active")
    account = Account.of([subscription, Remote(Kind.LEASE, "sub_2", "lease-1", 200), subscription])
    assert account.size() == 2
    assert [r.id for r in account.linked_to(Kind.LEASE, "lease-1")] == ["sub_1", "sub_2"]
