"""The sync's Stripe calls, one shape for every kind: list a page, create, update, cancel a subscription;
and, for --verify, a subscription's next invoice as Stripe previews it.

Each kind's description (kinds.py) names its service and endpoints; the
shared gateway paces, retries and counts every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Protocol

import stripe

from cohabs.shared.errors import CannotRun
from cohabs.shared.stripe.fields import expandable_id, value_at
from cohabs.shared.stripe.gateway import PAGE, Counters, RowFailed, StoredFailure, StripeGateway, Window
from cohabs.shared.stripe.idempotency import action_key
from cohabs.shared.stripe.pacing import Endpoint
from cohabs.sync.account import PaymentMethod, Remote
from cohabs.sync.kinds import CANCEL_SUBSCRIPTION, KEY_NAMESPACE, KINDS
from cohabs.sync.previews import UPCOMING_NONE, Preview
from cohabs.sync.rows import Kind

PREVIEW_INVOICE = Endpoint("POST", "/v1/invoices/create_preview")  # its own endpoint, its own budget
LIST_INVOICES = Endpoint("GET", "/v1/invoices")
UPDATE_INVOICE = Endpoint("POST", "/v1/invoices/{id}")
# Stripe's list of one customer's payment methods: its own endpoint, its own budget.
CUSTOMER_PAYMENT_METHODS = Endpoint("GET", "/v1/customers/{id}/payment_methods")
ACCOUNT = Endpoint("GET", "/v1/account")


class Calls(Protocol):
    """What the sync asks of Stripe; tests hand in their own."""

    def page(self, kind: Kind, window: Window) -> tuple[list[Remote], bool]: ...
    def create(self, kind: Kind, params: Mapping[str, Any], key: str) -> Remote: ...
    def update(self, kind: Kind, stripe_id: str, params: Mapping[str, Any], key: str) -> None: ...
    def cancel_subscription(self, subscription_id: str, comment: str | None = None) -> str | None: ...
    def resume_collection(self, customer: str, cancelled: str) -> list[str]: ...
    def preview(self, subscription_id: str) -> Preview | None: ...
    def payment_methods(self, customer: str) -> list[PaymentMethod]: ...
    def account_id(self) -> str | None: ...


class SyncCalls:
    def __init__(self, gateway: StripeGateway) -> None:
        self._gateway = gateway
        self._client = gateway.client

    @property
    def counters(self) -> Counters:
        return self._gateway.counters

    def page(self, kind: Kind, window: Window) -> tuple[list[Remote], bool]:
        """One page of `kind` in `window`, newest first, and whether more follow."""
        description = KINDS[kind]
        params: dict[str, Any] = {"limit": PAGE}
        created = {"gte": window.since, "lt": window.until}
        if any(v is not None for v in created.values()):
            params["created"] = {k: v for k, v in created.items() if v is not None}
        if window.after:
            params["starting_after"] = window.after
        return self._gateway.call(
            description.list_endpoint, f"list {description.resource}", lambda: description.page(self._client, params)
        )

    def create(self, kind: Kind, params: Mapping[str, Any], key: str) -> Remote:
        """Create, for a row the account read found nothing linked to.

        A success Stripe replays from an earlier run is then that run's object gone since (an undone run's
        customer deleted, its product archived): its key is passed like an earlier run's stored error, and
        the next key makes the object anew.
        """
        description = KINDS[kind]
        made = self._gateway.call(
            description.create_endpoint,
            f"create {description.stripe_object}",
            lambda: description.create(self._client, params, key),
            key=key,
        )
        if self._gateway.made_earlier(key):
            raise StoredFailure(f"{made.id} was made by an earlier run under this key and is gone since", True, True)
        return made

    def update(self, kind: Kind, stripe_id: str, params: Mapping[str, Any], key: str) -> None:
        """Set fields again on an object that drifted (its link metadata, a customer's details)."""
        description = KINDS[kind]
        self._gateway.call(
            description.update_endpoint,
            f"update {kind.singular} {stripe_id}",
            lambda: description.update(self._client, stripe_id, params, key),
            key=key,
        )

    def account_id(self) -> str | None:
        """The account the key belongs to (`acct_…`), which a report names so that `--undo` acts only there.

        None when a restricted key may not read it: the sync goes on, and its report cannot be undone.
        """
        try:
            account = self._gateway.call(ACCOUNT, "read the account", self._client.v1.accounts.retrieve_current)
        except CannotRun:
            return None
        return str(account.id)

    def cancel_subscription(self, subscription_id: str, comment: str | None = None) -> str | None:
        """Cancel now, never invoiced nor prorated; `comment` is kept by Stripe as the cancellation's reason.

        Returns the subscription's customer: Stripe has just stopped collecting all its finalized invoices.
        """
        params: stripe.params.SubscriptionCancelParams = {"invoice_now": False, "prorate": False}
        if comment:
            params["cancellation_details"] = {"comment": comment}
        cancelled = self._gateway.call(
            CANCEL_SUBSCRIPTION,
            "cancel subscription",
            lambda: self._client.v1.subscriptions.cancel(
                subscription_id,
                params=params,
                options={"idempotency_key": action_key(KEY_NAMESPACE, "cancel", subscription_id)},
            ),
        )
        return expandable_id(cancelled.customer)

    def resume_collection(self, customer: str, cancelled: str) -> list[str]:
        """Turn automatic collection back on for the customer's open invoices of its other subscriptions.

        Cancelling a subscription stops it for every finalized invoice of the customer (API reference, cancel a
        subscription), so another lease's unpaid rent would stay unpaid. Returns the invoices turned back on;
        RowFailed names those left off.
        """
        params: stripe.params.InvoiceListParams = {"customer": customer, "status": "open", "limit": PAGE}
        invoices = self._gateway.pages(
            LIST_INVOICES,
            f"list the open invoices of {customer}",
            lambda after: self._client.v1.invoices.list(
                params={**params, **({"starting_after": after} if after else {})}
            ),
        )
        stopped = [
            i["id"] for i in invoices if i.get("auto_advance") is False and _subscription_of(i) not in (None, cancelled)
        ]
        resumed, failed = [], []
        for invoice in stopped:
            try:
                self._resume(invoice, cancelled)
                resumed.append(invoice)
            except RowFailed as exc:
                failed.append(f"{invoice} ({exc})")
        if failed:
            raise RowFailed(f"automatic collection is still off for {', '.join(failed)}")
        return resumed

    def preview(self, subscription_id: str) -> Preview | None:
        """Stripe's next invoice for the subscription (creates nothing), or None when it has none to make."""

        def ask() -> Preview | None:
            try:
                invoice = self._client.v1.invoices.create_preview(params={"subscription": subscription_id})
            except stripe.InvalidRequestError as exc:
                if exc.code == UPCOMING_NONE:
                    return None
                raise
            return Preview.of(invoice.to_dict())

        return self._gateway.call(PREVIEW_INVOICE, f"preview the next invoice of {subscription_id}", ask)

    def _resume(self, invoice: str, cancelled: str) -> None:
        self._gateway.call(
            UPDATE_INVOICE,
            f"resume collection of {invoice}",
            lambda: self._client.v1.invoices.update(
                invoice,
                params={"auto_advance": True},
                options={"idempotency_key": f"cohabs-relink:collect:{invoice}:{cancelled}"},
            ),
        )

    def payment_methods(self, customer: str) -> list[PaymentMethod]:
        """Every payment method attached to `customer`, page after page (a customer has a handful)."""
        found: list[PaymentMethod] = []
        while True:
            params: stripe.params.CustomerPaymentMethodListParams = {"limit": PAGE}
            if found:
                params["starting_after"] = found[-1].id
            page = self._gateway.call(
                CUSTOMER_PAYMENT_METHODS,
                f"list the payment methods of customer {customer}",
                partial(self._client.v1.customers.payment_methods.list, customer, params=params),
            )
            found += [PaymentMethod.of(obj.to_dict()) for obj in page.data]
            if not page.has_more or not page.data:
                return found


def _subscription_of(invoice: Mapping[str, Any]) -> str | None:
    """The subscription an invoice bills: under `parent` in recent API versions, top-level before."""
    return expandable_id(
        value_at(invoice, "parent", "subscription_details", "subscription") or invoice.get("subscription")
    )
