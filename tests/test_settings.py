"""Settings: what they read from the environment and refuse, and keys masked wherever they appear."""

from __future__ import annotations

import pytest

from cohabs.shared.errors import CannotRun
from cohabs.shared.settings import DEFAULT_HUB_CURRENCIES, load_settings, mask_key, redact


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
