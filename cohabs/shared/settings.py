"""Settings from the environment (and `.env`), validated once at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cohabs.shared.errors import CannotRun

# The three hubs of the Cohabs dump. Lease names say which city each is:
# bru-… and par-… bill in euros, nyc-… in US dollars.
DEFAULT_HUB_CURRENCIES: dict[str, str] = {
    "28530664410399680222952505886337": "eur",  # Brussels
    "iouldueibhc7wmsanqr6tkvq9wfca2lk": "eur",  # Paris
    "ebg84kqxwkil7rceyt7t33q0q8lgue0m": "usd",  # New York
}
DEFAULT_CURRENCY = "eur"
STRIPE_API = "https://api.stripe.com"
# Stripe's documented limits, requests/s: the account's (live, sandbox) and each endpoint's, in both modes.
LIVE_RATE, TEST_RATE, ENDPOINT_RATE = 100.0, 25.0, 25.0
# The defaults run a little under them: clocks and networks jitter, and a 429 costs more than the headroom.
RATE_HEADROOM = 0.97
# How the sync's subscriptions collect (sync only): Stripe's two collection methods.
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
MAX_DAYS_UNTIL_DUE = 365  # the tool's bound: a longer term for rent is a typo, not a choice
_KEY = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")
_SECRETS = re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Settings:
    db_host: str = "127.0.0.1"
    db_port: int = 3306
    db_user: str = "root"
    db_password: str = field(default="", repr=False)
    db_name: str = "cohabs_onboarding"  # the sync's database
    support_db_name: str = "cohabs_support"  # support's: the other dump, whose `leases` differs from the sync's
    stripe_key: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    hub_currencies: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_HUB_CURRENCIES))
    default_currency: str = DEFAULT_CURRENCY
    rate_limit: float | None = None  # the account's budget
    endpoint_rate_limit: float | None = None  # each endpoint's budget
    stripe_timeout: float = 30.0
    collection_method: str | None = None  # None: not chosen (new subscriptions charge automatically)
    days_until_due: int | None = None  # read with send_invoice only

    @property
    def mode(self) -> str | None:
        """The key's mode from its prefix, test or live; None without a key."""
        return key_mode(self.stripe_key)

    @property
    def live(self) -> bool:
        return self.mode == "live"

    @property
    def api_target(self) -> str:
        """Where Stripe calls go, as an error message should name it."""
        return f"STRIPE_API_BASE {self.stripe_api_base}" if self.stripe_api_base else f"Stripe ({STRIPE_API})"

    @property
    def effective_rate(self) -> float:
        """Requests per second for the whole account."""
        return self.rate_limit if self.rate_limit is not None else default_rate(live=self.live)

    @property
    def endpoint_rate(self) -> float:
        """Requests per second for each endpoint (method and route)."""
        return self.endpoint_rate_limit if self.endpoint_rate_limit is not None else DEFAULT_ENDPOINT_RATE


def default_rate(*, live: bool) -> float:
    """The account's budget when no limit is set: what --help shows, and what a run uses."""
    return (LIVE_RATE if live else TEST_RATE) * RATE_HEADROOM


DEFAULT_ENDPOINT_RATE = ENDPOINT_RATE * RATE_HEADROOM


def key_mode(key: str | None) -> str | None:
    if not key:
        return None
    match = _KEY.match(key)
    if match:
        return match.group(2)
    if key.startswith(("pk_test_", "pk_live_")):
        raise CannotRun(
            "STRIPE_SECRET_KEY holds a publishable key (pk_…), which can only make tokens in a browser: "
            "put the account's secret key (sk_…) or a restricted key (rk_…) there"
        )
    raise CannotRun("STRIPE_SECRET_KEY does not look like a Stripe secret key (sk_test_…, sk_live_…, rk_…)")


def mask_key(key: str | None) -> str:
    if not key:
        return "(none)"
    prefix = key[: key.index("_", 3) + 1] if key.count("_") >= 2 else ""
    return f"{prefix}…{key[-4:]}"


def redact(text: str) -> str:
    """Mask anything that looks like a Stripe key, wherever it came from."""
    return _SECRETS.sub(lambda m: mask_key(m.group(0)), text)


def parse_hub_currencies(spec: str) -> dict[str, str]:
    """`hub=usd,other=eur` → {"hub": "usd", "other": "eur"}."""
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        hub, sep, currency = part.partition("=")
        currency = currency.strip().lower()
        if not sep or not hub.strip() or not re.fullmatch(r"[a-z]{3}", currency):
            raise CannotRun(f"HUB_CURRENCIES: expected hubId=currency (e.g. abc=usd), got {part!r}")
        result[hub.strip()] = currency
    return result


def _number(env: Mapping[str, str], name: str, kind: type[int | float]) -> int | float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise CannotRun(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise CannotRun(f"{name} must be positive, got {raw!r}")
    return value


def _api_base(raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CannotRun(
            f"STRIPE_API_BASE is not an http(s) address (got {raw!r}): for the local emulator, "
            "http://localhost:12111; leave it empty for Stripe itself"
        )
    return raw.rstrip("/")


def parse_collection(env: Mapping[str, str]) -> tuple[str | None, int | None]:
    """COLLECTION_METHOD and DAYS_UNTIL_DUE, each checked on its own (the sync checks the pair)."""
    method = env.get("COLLECTION_METHOD", "").strip().lower() or None
    if method is not None and method not in COLLECTION_METHODS:
        raise CannotRun(f"COLLECTION_METHOD must be {' or '.join(COLLECTION_METHODS)}, got {method!r}")
    days = _number(env, "DAYS_UNTIL_DUE", int)
    if days is not None and days > MAX_DAYS_UNTIL_DUE:
        raise CannotRun(f"DAYS_UNTIL_DUE must be {MAX_DAYS_UNTIL_DUE} or less, got {days}")
    return method, int(days) if days is not None else None


def load_settings(env: Mapping[str, str]) -> Settings:
    hubs = dict(DEFAULT_HUB_CURRENCIES)
    hubs.update(parse_hub_currencies(env.get("HUB_CURRENCIES", "")))
    key = env.get("STRIPE_SECRET_KEY", "").strip() or None
    key_mode(key)  # reject malformed keys early
    port = _number(env, "DB_PORT", int)
    rate = _number(env, "STRIPE_RATE_LIMIT", float)
    endpoint_rate = _number(env, "STRIPE_ENDPOINT_RATE_LIMIT", float)
    timeout = _number(env, "STRIPE_TIMEOUT", float)
    method, days = parse_collection(env)
    return Settings(
        db_host=env.get("DB_HOST", "").strip() or "127.0.0.1",
        db_port=int(port) if port else 3306,
        db_user=env.get("DB_USER", "").strip() or "root",
        db_password=env.get("DB_PASSWORD", ""),
        db_name=env.get("DB_NAME", "").strip() or "cohabs_onboarding",
        support_db_name=env.get("SUPPORT_DB_NAME", "").strip() or "cohabs_support",
        stripe_key=key,
        stripe_api_base=_api_base(env.get("STRIPE_API_BASE", "").strip()),
        hub_currencies=hubs,
        rate_limit=rate,
        endpoint_rate_limit=endpoint_rate,
        stripe_timeout=timeout or 30.0,
        collection_method=method,
        days_until_due=days,
    )
