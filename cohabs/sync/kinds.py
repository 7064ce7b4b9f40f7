"""One description per kind of row the sync links: its table and columns, its link, and how Stripe serves it.

The schema check, the executor, the pacing and the account read work from
these descriptions, so a fourth kind is one more entry here (and its row type
and planning rules).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe

from cohabs.shared.stripe.fields import expandable_id, value_at
from cohabs.shared.stripe.pacing import Endpoint
from cohabs.sync.account import CUSTOMER_DETAILS, Remote
from cohabs.sync.rows import Kind


def _nothing_more(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _customer(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "currency": obj.get("currency"),
        "details": tuple((k, obj.get(k)) for k in CUSTOMER_DETAILS),
        "can_pay": bool(value_at(obj, "invoice_settings", "default_payment_method") or obj.get("default_source")),
    }


def _subscription(obj: Mapping[str, Any]) -> dict[str, Any]:
    items = value_at(obj, "items", "data") or []
    price = value_at(items[0], "price") if items else None
    return {
        "status": obj.get("status"),
        "customer": expandable_id(obj.get("customer")),
        "product": expandable_id(value_at(price, "product")),
        "currency": value_at(price, "currency"),
        "amount": value_at(price, "unit_amount"),
        "cancel_at": obj.get("cancel_at"),
        "trial_end": obj.get("trial_end"),
        "collection_method": obj.get("collection_method"),
        "days_until_due": obj.get("days_until_due"),
        "end_behavior": value_at(obj, "trial_settings", "end_behavior", "missing_payment_method"),
        "can_pay": bool(obj.get("default_payment_method") or obj.get("default_source")),
        "anchor": obj.get("billing_cycle_anchor"),
        "anchor_day": value_at(obj, "billing_cycle_anchor_config", "day_of_month"),
        "anchor_at_trial_end": value_at(obj, "trial_settings", "end_behavior", "billing_cycle_anchor"),
        "cancel_comment": value_at(obj, "cancellation_details", "comment"),
    }


@dataclass(frozen=True, slots=True)
class Description:
    kind: Kind
    stripe_object: str  # what Stripe calls one of them: "customer"
    link_key: str  # the metadata key naming the row; other tools rely on it
    id_columns: tuple[str, ...]  # the row's column holding the object's id, every accepted spelling
    # Stripe does not fix the length of its ids: the length it issues today, which an id column must hold.
    id_length: int
    columns: Mapping[str, tuple[str, ...]]  # field -> accepted column names, besides the id column
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # fields read when the table has them
    listed: Mapping[str, str] = field(default_factory=dict)  # filters every listing adds
    compared: Callable[[Mapping[str, Any]], dict[str, Any]] = _nothing_more  # Remote fields beyond id and link

    @property
    def table(self) -> str:
        return self.kind.value

    @property
    def resource(self) -> str:
        """Their name in Stripe's routes and in the SDK's services: "customers"."""
        return f"{self.stripe_object}s"

    @property
    def list_endpoint(self) -> Endpoint:
        return Endpoint("GET", f"/v1/{self.resource}")

    @property
    def create_endpoint(self) -> Endpoint:
        return Endpoint("POST", f"/v1/{self.resource}")

    @property
    def update_endpoint(self) -> Endpoint:
        return Endpoint("POST", f"/v1/{self.resource}/{{id}}")

    def remote(self, obj: Mapping[str, Any]) -> Remote:
        link = value_at(obj, "metadata", self.link_key)
        return Remote(self.kind, obj["id"], link, int(obj.get("created") or 0), **self.compared(obj))

    def _service(self, client: stripe.StripeClient) -> Any:
        return getattr(client.v1, self.resource)

    def create(self, client: stripe.StripeClient, params: Mapping[str, Any], key: str) -> Remote:
        created = self._service(client).create(params=params, options={"idempotency_key": key})
        return self.remote(created.to_dict())

    def update(self, client: stripe.StripeClient, stripe_id: str, params: Mapping[str, Any], key: str) -> None:
        self._service(client).update(stripe_id, params=params, options={"idempotency_key": key})

    def page(self, client: stripe.StripeClient, params: Mapping[str, Any]) -> tuple[list[Remote], bool]:
        """One page of the list, newest first, and whether more follow."""
        found = self._service(client).list(params={**self.listed, **params})
        return [self.remote(obj.to_dict()) for obj in found.data], bool(found.has_more)


KINDS: dict[Kind, Description] = {
    Kind.USER: Description(
        Kind.USER,
        "customer",
        "cohabs_user_id",
        ("stripeCustomerId",),
        id_length=len("cus_") + 14,
        columns={"id": ("id",), "email": ("email",)},
        optional={
            "first_name": ("firstName",),
            "last_name": ("lastName",),
            "phone": ("phoneNumber",),
            "address": ("address",),
        },
        compared=_customer,
    ),
    Kind.ROOM: Description(
        Kind.ROOM,
        "product",
        "cohabs_room_id",
        ("stripeProductId",),
        id_length=len("prod_") + 14,
        columns={"id": ("id",)},
        # A room needs one of baseRent and rent: schema.py checks that pair.
        optional={
            "number": ("number",),
            "location": ("location",),
            "description": ("description",),
            "base_rent": ("baseRent",),
            "rent": ("rent",),
        },
        # An archived product sells nothing (an undone run's, or one archived by hand): not a room's product.
        listed={"active": "true"},
    ),
    Kind.LEASE: Description(
        Kind.LEASE,
        "subscription",
        "cohabs_lease_id",
        # The brief users were given misspelt the column (stripeSubscritpionId): either is accepted.
        ("stripeSubscriptionId", "stripeSubscritpionId"),
        id_length=len("sub_") + 24,
        columns={
            "id": ("id",),
            "user_id": ("userId",),
            "room_id": ("roomId",),
            "hub_id": ("hubId",),
            "status": ("status",),
            "rent_amount": ("rentAmount",),
            "start": ("startDate",),
            "end": ("endDate",),
        },
        optional={"name": ("name",)},
        listed={"status": "all"},  # cancelled subscriptions are links too (ended leases)
        compared=_subscription,
    ),
}
LINK_KEYS: dict[Kind, str] = {kind: description.link_key for kind, description in KINDS.items()}
# An ended lease's subscription is cancelled at once: its own endpoint, its own budget.
CANCEL_SUBSCRIPTION = Endpoint("DELETE", "/v1/subscriptions/{id}")
KEY_NAMESPACE = "cohabs-relink"  # the sync's idempotency keys start with it, as they always have
