"""Connected accounts: one per house, which transfers pay."""

from __future__ import annotations

from typing import Any

from ..errors import fail
from ..routing import Route
from ..store import Obj, Params, Store, new_id


class Accounts:
    def __init__(self, store: Store) -> None:
        self._store = store
        # Stripe answers 403 `account_invalid` for an account the platform cannot reach; 404 lets a test
        # check that the tool also copes with emulators that answer `resource_missing`.
        self.unknown_account_status = 403
        # The account the key belongs to (GET /v1/account): each fake is an account of its own, and its
        # country decides which connected accounts the platform can pay.
        self.own: Obj = {
            "id": new_id("acct"),
            "object": "account",
            "type": "standard",
            "country": "BE",
            "default_currency": "eur",
            "capabilities": {"card_payments": "active", "transfers": "active"},
            "charges_enabled": True,
            "payouts_enabled": True,
            "metadata": {},
        }

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/account", "AccountRetrieveCurrentParams", self._own),
            Route("GET", "/v1/accounts", "AccountListParams", self._list),
            Route("GET", "/v1/accounts/{id}", "AccountRetrieveParams", self._retrieve),
        ]

    def add(
        self,
        ident: str | None = None,
        name: str | None = None,
        country: str = "BE",
        currency: str = "eur",
        **extra: Any,
    ) -> Obj:
        return self._store.add(
            "accounts",
            "acct",
            {
                "object": "account",
                "type": "express",
                "business_profile": {"name": name, "url": None},
                "business_type": "company",
                "capabilities": {"transfers": "active"},
                "charges_enabled": True,
                "payouts_enabled": True,
                "details_submitted": True,
                "country": country,
                "default_currency": currency,
                "email": None,
                "metadata": {},
                **extra,
            },
            ident,
        )

    def _list(self, params: Params) -> Obj:
        return self._store.page("accounts", params)

    def _own(self, params: Params) -> Obj:
        return dict(self.own)

    def _retrieve(self, ident: str, params: Params) -> Obj:
        account = self._store.objects["accounts"].get(ident)
        if account is not None:
            return account
        if self.unknown_account_status == 404:
            raise fail(f"No such account: '{ident}'", "resource_missing", 404)
        raise fail(
            f"The provided key does not have access to account '{ident}' (or that account does not exist). "
            "Application access may have been revoked.",
            "account_invalid",
            403,
        )
