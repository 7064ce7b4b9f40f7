"""Subscriptions: the sync bills each lease as one, with a single item priced inline.

How a subscription collects (`collection_method`, `days_until_due`) and what
its trial's end does without a payment method (`trial_settings`) follow
Stripe's rules; `end_trials` is the move Stripe makes on its own when a trial
ends, which tests make explicitly after moving the fake's clock.
"""

from __future__ import annotations

from .. import checks, cycles
from ..errors import StripeFailure, fail
from ..routing import Route
from ..store import Obj, Params, Store, new_id, public
from .customers import Customers
from .invoices import Invoices
from .products import Products

MAX_TRIAL = 730 * 86400  # Stripe's furthest trial_end, in seconds from now
ENDED = ("canceled", "incomplete_expired")  # left out of lists unless a status is asked for
AUTOMATIC, INVOICE = "charge_automatically", "send_invoice"
END_BEHAVIORS = ("create_invoice", "pause", "cancel")  # trial_settings.end_behavior.missing_payment_method
DEFAULT_END = "create_invoice"  # Stripe's, when a request sets none
ANCHOR_AT_TRIAL_END = ("now", "unchanged")  # trial_settings.end_behavior.billing_cycle_anchor; `now` by default
# What an `incomplete` subscription still lets an update change, as Stripe documents it.
WHILE_INCOMPLETE = frozenset({"metadata", "default_source", "expand"})


class Subscriptions:
    def __init__(self, store: Store, customers: Customers, products: Products, invoices: Invoices) -> None:
        self._store = store
        self._customers = customers
        self._products = products
        self._invoices = invoices

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/subscriptions", "SubscriptionListParams", self._list),
            Route("POST", "/v1/subscriptions", "SubscriptionCreateParams", self._create),
            Route("GET", "/v1/subscriptions/{id}", "SubscriptionRetrieveParams", self._retrieve),
            Route("POST", "/v1/subscriptions/{id}", "SubscriptionUpdateParams", self._update),
            Route("DELETE", "/v1/subscriptions/{id}", "SubscriptionCancelParams", self._cancel),
            # Served here: a preview is the subscription's schedule read ahead, and creates nothing.
            Route("POST", "/v1/invoices/create_preview", "InvoiceCreatePreviewParams", self._preview),
        ]

    def _list(self, params: Params) -> Obj:
        status, customer = params.get("status"), params.get("customer")

        def keep(subscription: Obj) -> bool:
            if status is None and subscription["status"] in ENDED:
                return False
            if status not in (None, "all") and subscription["status"] != status:
                return False
            return "customer" not in params or subscription["customer"] == customer

        return self._store.page("subscriptions", params, keep)

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("subscriptions", ident)

    def _create(self, params: Params) -> Obj:
        now = self._store.now()
        customer = self._store.get("customers", params.get("customer") or "")
        price = self._price(params)
        currency = price["currency"]
        # Multi-currency customers: another currency is fine unless a subscription still active bills in one.
        active = self._store.all(
            "subscriptions",
            lambda o: o["customer"] == customer["id"] and o["status"] not in ENDED and o["currency"] != currency,
        )
        if active:
            raise StripeFailure(
                400,
                f"You cannot combine currencies on a single customer. This customer has an active subscription "
                f"({active[0]['id']}) in {active[0]['currency']}, but you are trying to pay in {currency}.",
                code="currency_mismatch",
            )
        trial_end = _trial_end(params, now)
        cancel_at = int(params["cancel_at"]) if params.get("cancel_at") else None
        if cancel_at is not None and cancel_at <= now:
            raise StripeFailure(400, "Invalid cancel_at: must be in the future", code="parameter_invalid")
        checks.lengths(params, {"description": 500})
        collection, days = _collection(params.get("collection_method", AUTOMATIC), params.get("days_until_due"))
        end_behavior = _end_behavior(params)
        anchor, config = _anchor(params, trial_end, now)
        customer["currency"] = currency
        if trial_end:
            status, due = "trialing", 0
        elif collection == INVOICE:
            status, due = "active", price["unit_amount"]
        elif self._customers.can_pay(customer["id"]):
            status, due = "active", 0  # charged at once: nothing left due
        else:
            # No payment method (a fresh account has none): the first invoice cannot be paid.
            status, due = "incomplete", price["unit_amount"]
        subscription = self._store.add(
            "subscriptions",
            "sub",
            {
                "object": "subscription",
                "customer": customer["id"],
                "status": status,
                "currency": currency,
                "collection_method": collection,
                "days_until_due": days,
                "default_payment_method": None,
                "default_source": None,
                "trial_settings": {"end_behavior": end_behavior},
                "description": params.get("description"),
                "metadata": checks.metadata(params),
                "start_date": now,
                "trial_start": now if trial_end else None,
                "trial_end": trial_end,
                "billing_cycle_anchor": anchor,
                "billing_cycle_anchor_config": config,
                "cancel_at": cancel_at,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "backdate_start_date": params.get("backdate_start_date"),
                "proration_behavior": params.get("proration_behavior"),
                "items": {
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {"id": new_id("si"), "object": "subscription_item", "price": public(price), "quantity": 1}
                    ],
                },
            },
        )
        subscription["latest_invoice"] = self._invoices.first_of(subscription, due)["id"]
        return subscription

    def _price(self, params: Params) -> Obj:
        """The one item's recurring price: made from `price_data`, or an existing one."""
        items = list(params.get("items", {}).values()) if isinstance(params.get("items"), dict) else []
        if len(items) != 1:
            raise StripeFailure(400, "This fake bills exactly one item per subscription.")
        item = items[0]
        if "price_data" in item:
            product = self._store.get("products", item["price_data"]["product"])
            if not product["active"]:
                raise StripeFailure(400, f"The product {product['id']} is inactive.")
            price = self._products.price(item["price_data"], product["id"])
        elif "price" in item:
            price = self._store.get("prices", item["price"])
        else:
            raise StripeFailure(400, "Each item needs a price or price_data.")
        if price["type"] != "recurring":
            raise StripeFailure(400, "A subscription needs a recurring price.")
        return price

    def _update(self, ident: str, params: Params) -> Obj:
        subscription = self._store.get("subscriptions", ident)
        if subscription["status"] == "canceled" and params.keys() - {"metadata", "cancellation_details", "expand"}:
            raise fail("A canceled subscription can only update its cancellation_details and metadata.")
        if subscription["status"] == "incomplete" and params.keys() - WHILE_INCOMPLETE:
            raise fail("A subscription in status incomplete can only have metadata and default_source updated.")
        if "collection_method" in params or "days_until_due" in params:
            method = str(params.get("collection_method") or subscription["collection_method"])
            # Switching to charge_automatically drops the days; staying on send_invoice keeps them unless given.
            kept = subscription["days_until_due"] if method == INVOICE else None
            subscription["collection_method"], subscription["days_until_due"] = _collection(
                method, params.get("days_until_due", kept)
            )
        if "trial_settings" in params:
            subscription["trial_settings"] = {"end_behavior": _end_behavior(params)}
        if "metadata" in params:
            subscription["metadata"] = checks.merged_metadata(subscription["metadata"], params)
        if "description" in params:
            subscription["description"] = params["description"] or None
        return subscription

    def end_trials(self) -> list[Obj]:
        """What Stripe does when trials end (the fake's clock at or past `trial_end`); the subscriptions moved.

        With something to charge, the first invoice is paid. send_invoice needs nothing: the invoice is emailed,
        due `days_until_due` days later. Else `trial_settings.end_behavior.missing_payment_method` decides:
        create_invoice leaves the invoice open and the subscription `past_due` (Stripe retries), pause stops
        invoicing (`paused`), cancel ends the subscription.
        """
        now = self._store.now()
        moved = []
        with self._store.lock:
            due = self._store.all(
                "subscriptions", lambda s: s["status"] == "trialing" and (s.get("trial_end") or now + 1) <= now
            )
            for subscription in due:
                self._end_trial(subscription)
                moved.append(subscription)
        return moved

    def _end_trial(self, subscription: Obj) -> None:
        # The first period after the trial: a full month, or prorated up to a later anchor.
        first = next(cycles.periods(subscription), None)
        amount = first.amount if first else 0
        can_pay = bool(
            subscription.get("default_payment_method")
            or subscription.get("default_source")
            or self._customers.can_pay(subscription["customer"])
        )
        when = subscription["trial_end"]
        if subscription["cancel_at"] is not None and subscription["cancel_at"] <= when:
            subscription.update(status="canceled", canceled_at=subscription["cancel_at"], ended_at=when)
            return  # set to stop when its free period ends: nothing is ever billed
        if subscription.get("collection_method") == INVOICE:
            subscription["status"] = "active"
            self._invoices.at_trial_end(
                subscription, amount, paid=False, due=when + subscription["days_until_due"] * 86400
            )
            return
        if can_pay:
            subscription["status"] = "active"
            self._invoices.at_trial_end(subscription, amount, paid=True)
            return
        self._nothing_to_charge(subscription, amount)

    def _nothing_to_charge(self, subscription: Obj, amount: int) -> None:
        """A charge_automatically trial ends without a payment method: its end behaviour decides."""
        when = subscription["trial_end"]
        settings = subscription.get("trial_settings") or {}
        behavior = settings.get("end_behavior", {}).get("missing_payment_method") or DEFAULT_END
        if behavior == "pause":
            subscription["status"] = "paused"  # no invoice until a payment method is added and it resumes
        elif behavior == "cancel":
            subscription.update(status="canceled", canceled_at=when, ended_at=when)
        else:
            subscription["status"] = "past_due"
            self._invoices.at_trial_end(subscription, amount, paid=False)

    def _preview(self, params: Params) -> Obj:
        """The subscription's next invoice as Stripe would make it; nothing is stored, nothing is charged."""
        if not params.get("subscription"):
            raise fail(
                "You must provide at least one of: `subscription`, `schedule`, `subscription_details.items`, "
                "`schedule_details.phases`, `invoice_items`.",
                "parameter_missing",
            )
        subscription = self._store.get("subscriptions", params["subscription"])
        upcoming = self.next_period(subscription)
        if upcoming is None:
            raise fail(f"No upcoming invoices for subscription: {subscription['id']}", "invoice_upcoming_none")
        price = subscription["items"]["data"][0]["price"]
        days = subscription.get("days_until_due")
        return {
            "id": f"upcoming_{new_id('in')}",
            "object": "invoice",
            "customer": subscription["customer"],
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": subscription["id"]}},
            "currency": subscription["currency"],
            "collection_method": subscription["collection_method"],
            "created": upcoming.start,
            "due_date": upcoming.start + days * 86400 if days is not None else None,
            "amount_due": upcoming.amount,
            "subtotal": upcoming.amount,
            "total": upcoming.amount,
            "status": "draft",
            "lines": {
                "object": "list",
                "has_more": False,
                "data": [
                    {
                        "id": new_id("il"),
                        "object": "line_item",
                        "amount": upcoming.amount,
                        "currency": subscription["currency"],
                        "period": {"start": upcoming.start, "end": upcoming.end},
                        "pricing": {"price_details": {"price": price["id"], "product": price["product"]}},
                    }
                ],
            },
        }

    def next_period(self, subscription: Obj) -> cycles.Period | None:
        """What the subscription bills next: the first period not invoiced yet, or None when it bills no more."""
        if subscription["status"] in (*ENDED, "paused"):
            return None
        now = self._store.now()  # a period that started by now was invoiced then
        return next((p for p in cycles.periods(subscription) if p.start > now), None)

    def _cancel(self, ident: str, params: Params) -> Obj:
        subscription = self._store.get("subscriptions", ident)
        if subscription["status"] == "canceled":
            raise StripeFailure(
                400, f"No such subscription: '{ident}' (it is already canceled)", code="resource_missing"
            )
        subscription.update(status="canceled", canceled_at=self._store.now())
        self._invoices.stop_collecting(subscription["customer"])
        details = params.get("cancellation_details") or {}
        subscription["cancellation_details"] = {
            "comment": details.get("comment") or None,
            "feedback": details.get("feedback") or None,
            "reason": "cancellation_requested",
        }
        # Kept for tests: what the cancel asked beyond its details (invoice_now, prorate).
        subscription["_cancel_params"] = {k: v for k, v in params.items() if k != "cancellation_details"}
        return subscription


def _collection(method: str, days: object) -> tuple[str, int | None]:
    """Stripe's rule: send_invoice needs days_until_due, which only send_invoice takes."""
    if method == INVOICE and days is None:
        raise fail("Missing required param: days_until_due (collection_method is send_invoice).", "parameter_missing")
    if method != INVOICE and days is not None:
        raise fail("days_until_due can only be set when collection_method is send_invoice.", "parameter_invalid")
    return method, None if days is None else int(str(days))


def _end_behavior(params: Params) -> dict[str, str]:
    asked = (params.get("trial_settings") or {}).get("end_behavior", {})
    wanted, anchor = asked.get("missing_payment_method"), asked.get("billing_cycle_anchor")
    if wanted is not None and wanted not in END_BEHAVIORS:
        raise fail(
            f"Invalid trial_settings[end_behavior][missing_payment_method]: must be one of {', '.join(END_BEHAVIORS)}",
            "parameter_invalid",
        )
    if anchor is not None and anchor not in ANCHOR_AT_TRIAL_END:
        raise fail(
            f"Invalid trial_settings[end_behavior][billing_cycle_anchor]: must be one of {', '.join(ANCHOR_AT_TRIAL_END)}",
            "parameter_invalid",
        )
    return {"missing_payment_method": str(wanted or DEFAULT_END), "billing_cycle_anchor": str(anchor or "now")}


def _anchor(params: Params, trial_end: int | None, now: int) -> tuple[int, Obj | None]:
    """The billing cycle anchor after any trial, and the config whose day it keeps (Stripe's rules, cycles.py).

    The trial's end is known at creation, so its effect on the anchor is applied here: with `now` (the
    default) an anchor at or before the trial end becomes the trial end, and its day is the trial end's.
    """
    config, explicit = params.get("billing_cycle_anchor_config"), params.get("billing_cycle_anchor")
    if config and explicit:
        raise fail("billing_cycle_anchor and billing_cycle_anchor_config are mutually exclusive.", "parameter_invalid")
    starts = trial_end or now
    if config:
        day = int(config["day_of_month"])
        if not 1 <= day <= 31:
            raise fail("billing_cycle_anchor_config[day_of_month] must be between 1 and 31.", "parameter_invalid")
        kept: Obj | None = {
            k: int(config[k]) if config.get(k) else None for k in ("day_of_month", "hour", "minute", "month", "second")
        }
        anchor = cycles.anchor_from_config(config, starts)
    else:
        kept, anchor = None, int(explicit) if explicit else starts
    if anchor < starts:
        raise fail(
            "billing_cycle_anchor cannot be before the trial end.",
            "subscription_update_trial_after_billing_cycle_anchor",
        )
    at_trial_end = (params.get("trial_settings") or {}).get("end_behavior", {}).get("billing_cycle_anchor") or "now"
    if trial_end and anchor == trial_end and at_trial_end == "now":
        return trial_end, None
    return anchor, kept


def _trial_end(params: Params, now: int) -> int | None:
    trial_end = params.get("trial_end")
    if trial_end is None or trial_end == "now":
        return None
    end = int(trial_end)
    if end <= now:
        raise StripeFailure(400, "Invalid timestamp: must be in the future", code="parameter_invalid")
    if end - now > MAX_TRIAL:
        raise StripeFailure(400, "trial_end can be at most 730 days in the future")
    return end
