"""PaymentIntents: past payments with their charge, and payments by bank transfer that wait for the money.

A bank-transfer PaymentIntent stays `requires_action` until the customer's cash
balance covers it; fund it as in Stripe's test mode, with
POST /v1/test_helpers/customers/{id}/fund_cash_balance. Canceling one that was
funded in part returns what it received to the customer's cash balance.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping

from stripe.params.test_helpers import CustomerFundCashBalanceParams

from .. import checks
from ..errors import fail
from ..routing import Route
from ..store import Obj, Params, Store, matching, new_id, sibling
from . import bank_transfers
from .charges import Charges
from .customers import Customers

MIN_PAYMENT = {"eur": 50, "gbp": 30, "usd": 50}  # Stripe's minimum charge amounts, in minor units
CLASHES = ("automatic_payment_methods", "excluded_payment_method_types", "payment_method_configuration")
# A charge's status → its PaymentIntent's.
INTENT_STATUS = {"succeeded": "succeeded", "pending": "processing", "failed": "requires_payment_method"}
REFERENCE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
# Where Stripe hosts the page that walks a customer through a bank transfer (test mode pages start with test_).
HOSTED_INSTRUCTIONS = "https://payments.stripe.com/bank_transfers/instructions/"


class PaymentIntents:
    def __init__(self, store: Store, customers: Customers, charges: Charges) -> None:
        self._store = store
        self._customers = customers
        self._charges = charges
        self.cash: dict[tuple[str, str], int] = {}  # (customer, currency) → cash balance

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/payment_intents", "PaymentIntentListParams", self._list),
            Route("POST", "/v1/payment_intents", "PaymentIntentCreateParams", self._create, _no_method_types),
            Route("GET", "/v1/payment_intents/{id}", "PaymentIntentRetrieveParams", self._retrieve),
            Route("POST", "/v1/payment_intents/{id}/confirm", "PaymentIntentConfirmParams", self._confirm_route),
            Route("POST", "/v1/payment_intents/{id}/cancel", "PaymentIntentCancelParams", self._cancel),
            Route(
                "POST",
                "/v1/test_helpers/customers/{id}/fund_cash_balance",
                CustomerFundCashBalanceParams,
                self.fund_cash_balance,
            ),
            Route("GET", "/v1/customers/{id}/cash_balance", "CustomerCashBalanceRetrieveParams", self._cash_balance),
        ]

    # ----- past payments ---------------------------------------------------------

    def add_past(
        self,
        ident: str | None,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        status: str = "succeeded",
        description: str | None = None,
        created: int | None = None,
        method: str = "card",
        metadata: Mapping[str, str] | None = None,
    ) -> Obj:
        """A past charge and the PaymentIntent that made it, as for every `ch_3…`/`py_3…` id; returns the charge.

        `ident` may also name the PaymentIntent (`pi_…`): its charge then gets an id of its own.
        It leaves the balance alone: the funds of past payments were paid out long ago.
        """
        if status not in INTENT_STATUS:
            raise ValueError(f"charge status {status!r}")
        with self._store.lock:
            ident = ident or new_id("ch" if method == "card" else "py")
            intent_id = ident if ident.startswith("pi_") else sibling(ident, "pi")
            if ident.startswith("pi_"):
                ident = sibling(ident, "ch" if method == "card" else "py")
            when = self._store.now() if created is None else created
            failed = status == "failed"
            intent = self._store.add(
                "payment_intents",
                "pi",
                _shape(amount, currency, customer, description, metadata, [method])
                | {
                    "created": when,
                    "status": INTENT_STATUS[status],
                    "amount_received": amount if status == "succeeded" else 0,
                    "payment_method": None if failed else new_id("pm"),
                    "last_payment_error": {"code": "insufficient_funds", "type": "card_error"} if failed else None,
                },
                intent_id,
            )
            charge = self._charges.make(intent, ident, status, method, created=when, move=False)
            intent["latest_charge"] = charge["id"]
            return charge

    # ----- requests --------------------------------------------------------------

    def _list(self, params: Params) -> Obj:
        return self._store.page("payment_intents", params, matching(params, "customer"))

    def _retrieve(self, ident: str, params: Params) -> Obj:
        return self._store.retrieve("payment_intents", ident)

    def _create(self, params: Params) -> Obj:
        currency = checks.currency(params["currency"])
        amount = checks.amount(params["amount"], MIN_PAYMENT.get(currency, 1))
        customer = params.get("customer")
        if customer:
            self._customers.named(customer)
        allowed = checks.as_list(params.get("allowed_payment_method_types"))
        if allowed and any(k in params for k in CLASHES):
            raise fail(
                f"allowed_payment_method_types cannot be combined with {', '.join(CLASHES)}.", "parameter_invalid"
            )
        types = _method_types(allowed, currency, customer)
        checks.metadata(params)
        intent = {
            **_shape(amount, currency, customer, params.get("description"), params.get("metadata"), types),
            "allowed_payment_method_types": allowed or None,
            "transfer_group": params.get("transfer_group"),
            "created": self._store.now(),
        }
        _attach(intent, params)
        if params.get("confirm") == "true":
            _confirm(intent)
        # Validated in full before it exists: a refused create leaves nothing behind, as at Stripe.
        stored = self._store.add("payment_intents", "pi", intent)
        self._apply_cash(stored["customer"], currency)
        return stored

    def _confirm_route(self, ident: str, params: Params) -> Obj:
        stored = self._store.get("payment_intents", ident)
        intent = copy.deepcopy(stored)  # nothing changes unless the whole confirmation is valid
        if "allowed_payment_method_types" in params:
            allowed = checks.as_list(params["allowed_payment_method_types"])
            intent["allowed_payment_method_types"] = allowed
            intent["payment_method_types"] = _method_types(allowed, intent["currency"], intent["customer"])
        _attach(intent, params)
        _confirm(intent)
        stored.clear()
        stored.update(intent)
        self._apply_cash(stored["customer"], stored["currency"])
        return stored

    def _cancel(self, ident: str, params: Params) -> Obj:
        intent = self._store.get("payment_intents", ident)
        if intent["status"] not in CANCELABLE:
            raise fail(
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
                f"PaymentIntent with one of the following statuses may be canceled: {', '.join(CANCELABLE)}.",
                "payment_intent_unexpected_state",
            )
        received = intent["amount"] - intent.get("_remaining", intent["amount"])
        if received and intent["customer"]:
            self._unapply(intent, received)
        intent.update(
            status="canceled",
            canceled_at=self._store.now(),
            cancellation_reason=params.get("cancellation_reason"),
            next_action=None,
        )
        return intent

    def _unapply(self, intent: Obj, amount: int) -> None:
        """What a canceled payment had received goes back to the customer's cash balance."""
        key = (intent["customer"], intent["currency"])
        self.cash[key] = self.cash.get(key, 0) + amount
        intent["_remaining"] = intent["amount"]
        self._cash_moved(intent, "unapplied_from_payment", amount)

    # ----- the customer's cash balance -------------------------------------------

    def _cash_moved(self, intent: Obj, kind: str, net: int) -> None:
        """The cash balance transaction Stripe records when a payment takes or gives back the balance's money."""
        key = (intent["customer"], intent["currency"])
        self._store.add(
            "cash_balance_transactions",
            "ccsbtxn",
            {
                "object": "customer_cash_balance_transaction",
                "currency": intent["currency"],
                "customer": intent["customer"],
                "ending_balance": self.cash[key],
                kind: {"payment_intent": intent["id"]},
                "net_amount": net,
                "type": kind,
            },
        )

    def _cash_balance(self, customer_id: str, params: Params) -> Obj:
        """GET /v1/customers/{id}/cash_balance: what the customer holds, per currency (`available`)."""
        self._customers.named(customer_id)
        held = {currency: amount for (owner, currency), amount in self.cash.items() if owner == customer_id}
        return {
            "object": "cash_balance",
            "available": held or None,
            "customer": customer_id,
            "livemode": False,
            "settings": {"reconciliation_mode": "automatic", "using_merchant_default": True},
        }

    def fund_cash_balance(self, customer_id: str, params: Params) -> Obj:
        """Stripe's test helper: a bank transfer from the customer arrives in their cash balance."""
        self._customers.named(customer_id)
        currency = checks.currency(params["currency"])
        if currency not in bank_transfers.BANK_TRANSFERS:
            raise fail(f"Bank transfers cannot fund a cash balance in {currency}.", "parameter_invalid")
        amount = checks.amount(params["amount"], 1)
        key = (customer_id, currency)
        self.cash[key] = self.cash.get(key, 0) + amount
        reference = params.get("reference")
        funded = self._store.add(
            "cash_balance_transactions",
            "ccsbtxn",
            {
                "object": "customer_cash_balance_transaction",
                "currency": currency,
                "customer": customer_id,
                "ending_balance": self.cash[key],
                "funded": {"bank_transfer": {"reference": reference, "type": bank_transfers.transfer_type(currency)}},
                "net_amount": amount,
                "type": "funded",
            },
        )
        self._apply_cash(customer_id, currency, reference)
        return funded

    def _apply_cash(self, customer: str | None, currency: str, reference: str | None = None) -> None:
        """Stripe's automatic reconciliation: the cash balance goes to the PaymentIntents awaiting it.

        First the one whose reference the transfer quotes, then one waiting for exactly that amount,
        then the oldest first; a payment short of its amount stays `requires_action`, partly funded.
        """
        if not customer:
            return
        key = (customer, currency)
        waiting = self._store.all(
            "payment_intents",
            lambda p: p["customer"] == customer and p["currency"] == currency and p["status"] == "requires_action",
        )
        cash = self.cash.get(key, 0)
        # Stable sorts: oldest first among equals, as made first among the same second.
        waiting.sort(key=lambda p: p["created"])
        waiting.sort(key=lambda p: (p.get("_reference") != reference, p["_remaining"] != cash))
        for intent in waiting:
            cash = self.cash.get(key, 0)
            if cash <= 0:
                break
            self._apply(intent, min(cash, intent["_remaining"]))

    def _apply(self, intent: Obj, applied: int) -> None:
        key = (intent["customer"], intent["currency"])
        self.cash[key] -= applied
        intent["_remaining"] -= applied
        intent["next_action"]["display_bank_transfer_instructions"]["amount_remaining"] = intent["_remaining"]
        self._cash_moved(intent, "applied_to_payment", -applied)
        if intent["_remaining"] == 0:
            # Funded in full: the payment succeeds, with a charge whose money lands in the balance.
            charge = self._charges.make(
                intent, sibling(intent["id"], "py"), "succeeded", "customer_balance", self._store.now(), move=True
            )
            intent.update(
                latest_charge=charge["id"], status="succeeded", amount_received=intent["amount"], next_action=None
            )


def _no_method_types(params: Params) -> None:
    if "payment_method_types" in params:
        # The pinned API version removed it as an input; Stripe names the replacement.
        raise fail(
            "payment_method_types is no longer supported in this API version: use allowed_payment_method_types.",
            "payment_method_types_no_longer_supported",
        )


def _shape(
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None,
    metadata: Mapping[str, str] | None,
    types: list[str],
) -> Obj:
    return {
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "allowed_payment_method_types": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": None,
        "confirmation_method": "automatic",
        "currency": currency,
        "customer": customer,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_options": {},
        "payment_method_types": types,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def _method_types(allowed: list[str], currency: str, customer: str | None) -> list[str]:
    """A fresh account's dynamic payment methods are cards; allowed types that cannot work are dropped.

    customer_balance needs a customer and a currency Stripe takes bank transfers in.
    """
    usable = bank_transfers.BANK_TRANSFERS
    types = [t for t in allowed or ["card"] if t != "customer_balance" or (customer and currency in usable)]
    if not types:
        raise fail(
            f"None of the allowed_payment_method_types ({', '.join(allowed)}) can be used here: customer_balance "
            f"needs a customer and one of the currencies {', '.join(usable)}.",
            "parameter_invalid",
        )
    return types


def _attach(intent: Obj, params: Params) -> None:
    """The payment method and its options the request gives, checked against the intent."""
    if "payment_method" in params:
        raise fail(f"No such PaymentMethod: '{params['payment_method']}'", "resource_missing")
    data = params.get("payment_method_data")
    if data:
        kind = data["type"]
        if kind not in intent["payment_method_types"]:
            raise fail(
                f"The payment method type provided: {kind} is invalid. This payment_intent is configured to "
                f"accept the following payment_method_types: {intent['payment_method_types']}.",
                "payment_intent_invalid_parameter",
            )
        if kind != "customer_balance":
            raise fail(f"This fake takes only customer_balance payment methods, not {kind}.")
        intent.update(payment_method=new_id("pm"), status="requires_confirmation")
    given = (params.get("payment_method_options") or {}).get("customer_balance")
    if given:
        intent["payment_method_options"] = {
            **intent["payment_method_options"],
            "customer_balance": bank_transfers.options(given, intent["currency"]),
        }


def _confirm(intent: Obj) -> None:
    """Confirmed: the intent shows the bank transfer instructions and waits for the money."""
    if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise fail(
            f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}.",
            "payment_intent_unexpected_state",
        )
    if not intent["payment_method"]:
        raise fail(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            "payment_intent_unexpected_state",
        )
    chosen = intent["payment_method_options"].get("customer_balance")
    if chosen is None:
        raise fail(
            "Missing required param: payment_method_options[customer_balance][funding_type].", "parameter_missing"
        )
    intent["_remaining"] = intent["amount"]
    intent["_reference"] = "".join(secrets.choice(REFERENCE_CHARS) for _ in range(12))
    intent["status"] = "requires_action"
    intent["next_action"] = {
        "type": "display_bank_transfer_instructions",
        "display_bank_transfer_instructions": {
            "amount_remaining": intent["amount"],
            "currency": intent["currency"],
            "financial_addresses": [bank_transfers.address(intent["customer"], intent["currency"], chosen)],
            "hosted_instructions_url": HOSTED_INSTRUCTIONS + "test_" + secrets.token_urlsafe(48).replace("-", "A"),
            "reference": intent["_reference"],
            "type": chosen["bank_transfer"]["type"],
        },
    }
