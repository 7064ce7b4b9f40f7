"""Payment resources for the fake Stripe: what `support.py` reads and writes.

Connected accounts, charges and their PaymentIntents, disputes, PaymentIntents
paid by bank transfer (`customer_balance`), transfers, invoice payments and the
platform balance. `install(fake)` adds them to a FakeStripe (requests go
through its idempotency, faults and recording like every other resource);
devkit/support_account.py seeds an account shaped like the support dump.

Strict as the rest of the fake (parameter names from the SDK's typed params),
and faithful where support.py's money decisions depend on it:
- a bank-transfer PaymentIntent stays `requires_action` until the customer's
  cash balance covers it; fund it as in Stripe's test mode, with
  POST /v1/test_helpers/customers/{id}/fund_cash_balance;
- a transfer without `source_transaction` needs the platform's available
  balance; with one, a succeeded charge with enough left untransferred;
- a dispute (an inquiry aside) withdraws its amount plus a fee from the balance;
- an account the platform has not connected answers 403 `account_invalid`, as
  Stripe does (404 `resource_missing` on request, to test both answers).
"""

from __future__ import annotations

import copy
import hashlib
import operator
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stripe.params.test_helpers import CustomerFundCashBalanceParams

from .fake_stripe import ID_CHARS, FakeStripe, Recorded, StripeFailure
from .stripe_params import check_object, params_class

KINDS = (
    "accounts",
    "charges",
    "payment_intents",
    "disputes",
    "transfers",
    "invoice_payments",
    "balance_transactions",
    "cash_balance_transactions",
)
SINGULAR = {
    "accounts": "account",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "disputes": "dispute",
    "transfers": "transfer",
    "invoice_payments": "invoice_payment",
    "balance_transactions": "balance transaction",
    "customers": "customer",
}
MAX_AMOUNT = 99_999_999  # Stripe's ceiling: 8 digits in minor units
MIN_PAYMENT = {"eur": 50, "gbp": 30, "usd": 50}  # Stripe's minimum charge amounts, in minor units
DISPUTE_FEES = {"eur": 2000, "gbp": 2000, "usd": 1500}  # what a chargeback costs the platform
# The bank transfer type Stripe offers per currency, and the address type it shows for it.
BANK_TRANSFERS = {
    "eur": ("eu_bank_transfer", "iban", ["sepa"]),
    "gbp": ("gb_bank_transfer", "sort_code", ["bacs", "fps"]),
    "jpy": ("jp_bank_transfer", "zengin", ["zengin"]),
    "mxn": ("mx_bank_transfer", "spei", ["spei"]),
    "usd": ("us_bank_transfer", "aba", ["ach", "domestic_wire_us"]),
}
EU_BANK_COUNTRIES = ("BE", "DE", "ES", "FR", "IE", "NL")
INQUIRY = ("warning_needs_response", "warning_under_review", "warning_closed")
DISPUTE_STATUSES = (*INQUIRY, "needs_response", "under_review", "won", "lost", "prevented")
_CREATED = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}

Route = Callable[..., dict[str, Any]]


def fail(message: str, code: str | None = None, status: int = 400) -> StripeFailure:
    return StripeFailure(status, message, "invalid_request_error", code)


def new_id(prefix: str) -> str:
    # Stripe's ids carry 24 characters after the prefix; an id column sized on shorter ones would fail late.
    return f"{prefix}_{''.join(secrets.choice(ID_CHARS) for _ in range(24))}"


def as_list(value: Any) -> list[Any]:
    """The SDK sends lists as `name[0]=…&name[1]=…`, which decode to digit-keyed dicts."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=int)]
    return list(value) if isinstance(value, list) else [value]


def _digits(seed: str, count: int) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:count]


def sibling(ident: str, prefix: str) -> str:
    """An id sharing the start of `ident`'s, as a PaymentIntent's first charge shares the PaymentIntent's."""
    return f"{prefix}_{ident.partition('_')[2][:17]}{_digits(ident, 7)}"


@dataclass
class Payments:
    """The payment side of one fake account. Amounts are integers in minor units, per currency."""

    fake: FakeStripe
    # Stripe answers 403 `account_invalid` for an account the platform cannot reach; 404 lets a test
    # check that the tool also copes with emulators that answer `resource_missing`.
    unknown_account_status: int = 403
    # Funds land available at once here (Stripe holds card funds pending for days): nothing support.py
    # does depends on the wait, and one number per currency is easier to assert.
    available: dict[str, int] = field(default_factory=dict)
    cash: dict[tuple[str, str], int] = field(default_factory=dict)  # (customer, currency) → cash balance

    def __post_init__(self) -> None:
        for kind in KINDS:
            self.fake.objects.setdefault(kind, {})
        table: list[tuple[str, str, str | type, Route]] = [
            ("GET", r"/v1/accounts", "AccountListParams", self._list_accounts),
            ("GET", r"/v1/accounts/([^/]+)", "AccountRetrieveParams", self._retrieve_account),
            ("GET", r"/v1/balance", "BalanceRetrieveParams", self._balance),
            (
                "GET",
                r"/v1/balance_transactions/([^/]+)",
                "BalanceTransactionRetrieveParams",
                self._retriever("balance_transactions"),
            ),
            ("GET", r"/v1/charges", "ChargeListParams", self._list_charges),
            ("GET", r"/v1/charges/([^/]+)", "ChargeRetrieveParams", self._retriever("charges")),
            ("GET", r"/v1/payment_intents", "PaymentIntentListParams", self._list_payment_intents),
            ("POST", r"/v1/payment_intents", "PaymentIntentCreateParams", self._create_payment_intent),
            (
                "GET",
                r"/v1/payment_intents/([^/]+)",
                "PaymentIntentRetrieveParams",
                self._retriever("payment_intents"),
            ),
            ("POST", r"/v1/payment_intents/([^/]+)/confirm", "PaymentIntentConfirmParams", self._confirm_route),
            ("GET", r"/v1/disputes", "DisputeListParams", self._list_disputes),
            ("GET", r"/v1/disputes/([^/]+)", "DisputeRetrieveParams", self._retriever("disputes")),
            ("POST", r"/v1/disputes/([^/]+)", "DisputeUpdateParams", self._update_dispute),
            ("POST", r"/v1/disputes/([^/]+)/close", "DisputeCloseParams", self._close_dispute),
            ("POST", r"/v1/transfers", "TransferCreateParams", self.create_transfer),
            ("GET", r"/v1/transfers", "TransferListParams", self._list_transfers),
            ("GET", r"/v1/transfers/([^/]+)", "TransferRetrieveParams", self._retriever("transfers")),
            ("GET", r"/v1/invoice_payments", "InvoicePaymentListParams", self._list_invoice_payments),
            (
                "GET",
                r"/v1/invoice_payments/([^/]+)",
                "InvoicePaymentRetrieveParams",
                self._retriever("invoice_payments"),
            ),
            (
                "POST",
                r"/v1/test_helpers/customers/([^/]+)/fund_cash_balance",
                CustomerFundCashBalanceParams,
                self._fund_cash_balance,
            ),
        ]
        self._routes = [
            (method, re.compile(pattern), params if isinstance(params, type) else params_class(params), handler)
            for method, pattern, params, handler in table
        ]
        self.fake.routes.append(self.route)

    # ----- inspection ------------------------------------------------------------

    def all(self, kind: str) -> list[dict[str, Any]]:
        return self.fake.all(kind)

    def dispute_writes(self) -> list[Recorded]:
        """Every request that tried to answer, update or close a dispute: the tool must send none."""
        return [r for r in self.fake.requests if r.method == "POST" and r.path.startswith("/v1/disputes")]

    def transfers_of(self, charge: str) -> list[dict[str, Any]]:
        return [t for t in self.all("transfers") if t["source_transaction"] == charge]

    # ----- request handling ------------------------------------------------------

    def route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        for verb, pattern, cls, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None or verb != method:
                continue
            if handler == self._create_payment_intent and "payment_method_types" in params:
                # The pinned API version removed it as an input; Stripe names the replacement.
                raise fail(
                    "payment_method_types is no longer supported in this API version: "
                    "use allowed_payment_method_types.",
                    "payment_method_types_no_longer_supported",
                )
            errors: list[str] = []
            check_object(params, cls, errors)
            if errors:
                code = "parameter_unknown" if "unknown" in errors[0] else "parameter_invalid"
                raise fail(errors[0], "parameter_missing" if errors[0].startswith("Missing") else code)
            with self.fake._lock:
                answer = handler(*match.groups(), params)
                payload = answer if answer.get("object") in ("list", "balance") else self.fake._public(answer)
                return 200, self._expand(payload, as_list(params.get("expand")))
        return None

    def _retriever(self, kind: str) -> Route:
        return lambda ident, params: self._get(kind, ident)

    def _get(self, kind: str, ident: str) -> dict[str, Any]:
        obj = self.fake.objects[kind].get(ident)
        if obj is None:
            raise fail(f"No such {SINGULAR.get(kind, kind)}: '{ident}'", "resource_missing", 404)
        return obj

    def _find(self, ident: str) -> dict[str, Any] | None:
        for objects in self.fake.objects.values():
            if ident in objects:
                return objects[ident]
        return None

    def _expand(self, payload: dict[str, Any], paths: list[Any]) -> dict[str, Any]:
        for path in paths:
            parts = str(path).split(".")
            if len(parts) > 4:
                raise fail(f"You cannot expand more than 4 levels of a property ({path}).")
            self._expand_path(payload, parts, str(path))
        return payload

    def _expand_path(self, node: dict[str, Any], parts: list[str], path: str) -> None:
        key, rest = parts[0], parts[1:]
        value = node.get(key)
        if key not in node or (isinstance(value, list) and not rest):
            raise fail(f"This property cannot be expanded ({path}).")
        if isinstance(value, str):
            found = self._find(value)
            if found is None:
                raise fail(f"This property cannot be expanded ({path}).")
            value = node[key] = self.fake._public(found)
        for child in value if isinstance(value, list) else [value]:
            if rest and isinstance(child, dict):
                self._expand_path(child, rest, path)

    def _store(self, kind: str, prefix: str, obj: dict[str, Any], ident: str | None = None) -> dict[str, Any]:
        ident = ident or new_id(prefix)
        if ident in self.fake.objects[kind]:
            raise ValueError(f"{ident} already exists")
        self.fake._seq += 1
        obj = {"id": ident, **obj, "_seq": self.fake._seq}
        obj.setdefault("created", int(self.fake.now()))
        obj.setdefault("livemode", False)
        self.fake.objects[kind][ident] = obj
        return obj

    def _page(
        self, kind: str, params: dict[str, Any], keep: Callable[[dict[str, Any]], bool] = lambda o: True
    ) -> dict[str, Any]:
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise fail("Invalid limit: must be between 1 and 100", "parameter_invalid")
        created = params.get("created")
        found = [o for o in self.fake.objects[kind].values() if keep(o) and _created_matches(o["created"], created)]
        found.sort(key=lambda o: (o["created"], o["_seq"]), reverse=True)  # newest first, as Stripe lists
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise fail("You may only specify one of these parameters: ending_before, starting_after.")
        cursor = after or before
        index = next((i for i, o in enumerate(found) if o["id"] == cursor), None) if cursor else None
        if cursor and index is None:
            raise fail(f"No such {SINGULAR.get(kind, kind)}: '{cursor}'", "resource_missing")
        if after:
            found = found[index + 1 :] if index is not None else found
            page = found[:limit]
        elif before:
            found = found[:index]
            page = found[-limit:]
        else:
            page = found[:limit]
        return {
            "object": "list",
            "url": f"/v1/{kind}",
            "has_more": len(found) > limit,
            "data": [self.fake._public(o) for o in page],
        }

    def _currency(self, value: str) -> str:
        currency = value.lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise fail(f"Invalid currency: {value}.", "parameter_invalid")
        return currency

    @staticmethod
    def _amount(value: Any, minimum: int) -> int:
        amount = int(value)
        if amount < minimum:
            raise fail(f"Amount must be at least {minimum} in minor units.", "amount_too_small")
        if amount > MAX_AMOUNT:
            raise fail(f"Amount must be no more than {MAX_AMOUNT} in minor units.", "amount_too_large")
        return amount

    def _customer(self, ident: str) -> dict[str, Any]:
        customer = self.fake.objects["customers"].get(ident)
        if customer is None or customer.get("deleted"):
            raise fail(f"No such customer: '{ident}'", "resource_missing")
        return customer

    # ----- balance ---------------------------------------------------------------

    def book(
        self,
        currency: str,
        amount: int,
        kind: str,
        source: str,
        fee: int = 0,
        category: str | None = None,
        move: bool = True,
    ) -> dict[str, Any]:
        """A balance transaction: `amount` (signed) minus `fee` moves the available balance (unless past history)."""
        if move:
            self.available[currency] = self.available.get(currency, 0) + amount - fee
        return self._store(
            "balance_transactions",
            "txn",
            {
                "object": "balance_transaction",
                "amount": amount,
                "available_on": int(self.fake.now()),
                "balance_type": "payments",
                "currency": currency,
                "description": None,
                "exchange_rate": None,
                "fee": fee,
                "fee_details": [{"amount": fee, "currency": currency, "type": "stripe_fee"}] if fee else [],
                "net": amount - fee,
                "reporting_category": category or kind,
                "source": source,
                "status": "available",
                "type": kind,
            },
        )

    def _balance(self, params: dict[str, Any]) -> dict[str, Any]:
        currencies = sorted(self.available) or ["eur"]

        def funds(book: dict[str, int]) -> list[dict[str, Any]]:
            return [
                {"amount": book.get(c, 0), "currency": c, "source_types": {"card": book.get(c, 0)}} for c in currencies
            ]

        return {
            "object": "balance",
            "livemode": False,
            "available": funds(self.available),
            "pending": funds({}),
            "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        }

    # ----- connected accounts ----------------------------------------------------

    def add_account(
        self,
        ident: str | None = None,
        name: str | None = None,
        country: str = "BE",
        currency: str = "eur",
        **extra: Any,
    ) -> dict[str, Any]:
        return self._store(
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

    def _retrieve_account(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        account = self.fake.objects["accounts"].get(ident)
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

    def _list_accounts(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page("accounts", params)

    # ----- charges and their PaymentIntents --------------------------------------

    def add_charge(
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
    ) -> dict[str, Any]:
        """A past charge and the PaymentIntent that made it, as for every `ch_3…`/`py_3…` id.

        `ident` may also name the PaymentIntent (`pi_…`): its charge then gets an id of its own.
        It leaves the balance alone: the funds of past payments were paid out long ago.
        """
        if status not in ("succeeded", "pending", "failed"):
            raise ValueError(f"charge status {status!r}")
        with self.fake._lock:
            ident = ident or new_id("ch" if method == "card" else "py")
            intent_id = ident if ident.startswith("pi_") else sibling(ident, "pi")
            if ident.startswith("pi_"):
                ident = sibling(ident, "ch" if method == "card" else "py")
            when = int(self.fake.now()) if created is None else created
            failed = status == "failed"
            intent = self._store(
                "payment_intents",
                "pi",
                self._intent_shape(amount, currency, customer, description, metadata, [method])
                | {
                    "created": when,
                    "status": {"succeeded": "succeeded", "pending": "processing", "failed": "requires_payment_method"}[
                        status
                    ],
                    "amount_received": amount if status == "succeeded" else 0,
                    "payment_method": None if failed else new_id("pm"),
                    "last_payment_error": {"code": "insufficient_funds", "type": "card_error"} if failed else None,
                },
                intent_id,
            )
            return self._charge(intent, ident, status, method, created=when, move=False)

    def _charge(
        self, intent: dict[str, Any], ident: str, status: str, method: str, created: int, move: bool
    ) -> dict[str, Any]:
        succeeded, failed = status == "succeeded", status == "failed"
        charge = self._store(
            "charges",
            ident.partition("_")[0],
            {
                "object": "charge",
                "created": created,
                "amount": intent["amount"],
                "amount_captured": intent["amount"] if succeeded else 0,
                "amount_refunded": 0,
                "balance_transaction": None,
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "captured": succeeded,
                "currency": intent["currency"],
                "customer": intent["customer"],
                "description": intent["description"],
                "disputed": False,
                "failure_code": "insufficient_funds" if failed else None,
                "failure_message": "The payment failed: insufficient funds." if failed else None,
                "metadata": dict(intent["metadata"]),
                "on_behalf_of": None,
                "outcome": {"type": "issuer_declined" if failed else "authorized"},
                "paid": succeeded,
                "payment_intent": intent["id"],
                "payment_method": intent["payment_method"] or new_id("pm"),
                "payment_method_details": {"type": method, method: {}},
                "receipt_email": None,
                "refunded": False,
                "source_transfer": None,
                "statement_descriptor": None,
                "status": status,
                "transfer_data": None,
                "transfer_group": intent["transfer_group"],
            },
            ident,
        )
        intent["latest_charge"] = ident
        if succeeded:
            txn = self.book(intent["currency"], intent["amount"], "charge", ident, move=move)
            charge["balance_transaction"] = txn["id"]
        return charge

    def refund(self, charge_id: str, amount: int | None = None) -> dict[str, Any]:
        """Refund (part of) a charge, as the dashboard would: support.py must then never pay it out."""
        with self.fake._lock:
            charge = self._get("charges", charge_id)
            left = charge["amount"] - charge["amount_refunded"]
            amount = left if amount is None else amount
            if not 0 < amount <= left:
                raise ValueError(f"{charge_id} has {left} left to refund, not {amount}")
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self.book(charge["currency"], -amount, "refund", charge_id)
            return charge

    def _list_charges(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page("charges", params, _matching(params, "customer", "payment_intent", "transfer_group"))

    @staticmethod
    def _intent_shape(
        amount: int,
        currency: str,
        customer: str | None,
        description: str | None,
        metadata: Mapping[str, str] | None,
        types: list[str],
    ) -> dict[str, Any]:
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

    def _list_payment_intents(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page("payment_intents", params, _matching(params, "customer"))

    def _create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        currency = self._currency(params["currency"])
        amount = self._amount(params["amount"], MIN_PAYMENT.get(currency, 1))
        customer = params.get("customer")
        if customer:
            self._customer(customer)
        allowed = as_list(params.get("allowed_payment_method_types"))
        clash = ("automatic_payment_methods", "excluded_payment_method_types", "payment_method_configuration")
        if allowed and any(k in params for k in clash):
            raise fail(f"allowed_payment_method_types cannot be combined with {', '.join(clash)}.", "parameter_invalid")
        types = self._method_types(allowed, currency, customer)
        self.fake._metadata(params)
        intent = {
            "id": new_id("pi"),
            **self._intent_shape(amount, currency, customer, params.get("description"), params.get("metadata"), types),
            "allowed_payment_method_types": allowed or None,
            "transfer_group": params.get("transfer_group"),
            "created": int(self.fake.now()),
        }
        self._attach(intent, params)
        if params.get("confirm") == "true":
            self._confirm(intent)
        # Validated in full before it exists: a refused create leaves nothing behind, as at Stripe.
        stored = self._store("payment_intents", "pi", {k: v for k, v in intent.items() if k != "id"}, intent["id"])
        self._apply_cash(stored["customer"], currency)
        return stored

    @staticmethod
    def _method_types(allowed: list[str], currency: str, customer: str | None) -> list[str]:
        """A fresh account's dynamic payment methods are cards; allowed types that cannot work are dropped.

        customer_balance needs a customer and a currency Stripe takes bank transfers in.
        """
        types = [t for t in allowed or ["card"] if t != "customer_balance" or (customer and currency in BANK_TRANSFERS)]
        if not types:
            raise fail(
                f"None of the allowed_payment_method_types ({', '.join(allowed)}) can be used here: customer_balance "
                f"needs a customer and one of the currencies {', '.join(BANK_TRANSFERS)}.",
                "parameter_invalid",
            )
        return types

    def _attach(self, intent: dict[str, Any], params: dict[str, Any]) -> None:
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
        options = params.get("payment_method_options") or {}
        balance = options.get("customer_balance")
        if balance:
            intent["payment_method_options"] = {
                **intent["payment_method_options"],
                "customer_balance": self._bank_transfer_options(balance, intent["currency"]),
            }

    @staticmethod
    def _bank_transfer_options(options: dict[str, Any], currency: str) -> dict[str, Any]:
        transfer = options.get("bank_transfer")
        if options.get("funding_type") != "bank_transfer" or not transfer:
            raise fail(
                "payment_method_options[customer_balance] needs funding_type=bank_transfer and bank_transfer[type].",
                "parameter_missing",
            )
        expected = BANK_TRANSFERS.get(currency, ("", "", []))[0]
        if transfer["type"] != expected:
            raise fail(
                f"Invalid payment_method_options[customer_balance][bank_transfer][type]: {transfer['type']} cannot "
                f"take {currency} (it needs {expected or 'a currency Stripe takes bank transfers in'}).",
                "parameter_invalid",
            )
        shaped: dict[str, Any] = {
            "type": expected,
            "requested_address_types": as_list(transfer.get("requested_address_types")),
        }
        if expected == "eu_bank_transfer":
            country = (transfer.get("eu_bank_transfer") or {}).get("country")
            if not country:
                raise fail(
                    "Missing required param: payment_method_options[customer_balance][bank_transfer][eu_bank_transfer][country].",
                    "parameter_missing",
                )
            if country not in EU_BANK_COUNTRIES:
                raise fail(
                    f"Invalid country {country}: must be one of {', '.join(EU_BANK_COUNTRIES)}.", "parameter_invalid"
                )
            shaped["eu_bank_transfer"] = {"country": country}
        return {"funding_type": "bank_transfer", "bank_transfer": shaped}

    def _confirm(self, intent: dict[str, Any]) -> None:
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
        options = intent["payment_method_options"].get("customer_balance")
        if options is None:
            raise fail(
                "Missing required param: payment_method_options[customer_balance][funding_type].", "parameter_missing"
            )
        kind = options["bank_transfer"]["type"]
        intent["_remaining"] = intent["amount"]
        intent["_reference"] = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(12))
        intent["status"] = "requires_action"
        intent["next_action"] = {
            "type": "display_bank_transfer_instructions",
            "display_bank_transfer_instructions": {
                "amount_remaining": intent["amount"],
                "currency": intent["currency"],
                "financial_addresses": [self._address(intent["customer"], intent["currency"], options)],
                "hosted_instructions_url": None,
                "reference": intent["_reference"],
                "type": kind,
            },
        }

    @staticmethod
    def _address(customer: str, currency: str, options: dict[str, Any]) -> dict[str, Any]:
        """The customer's virtual bank account: the same one for every payment of that customer."""
        _, kind, networks = BANK_TRANSFERS[currency]
        number = _digits(customer + currency, 12)
        holder = "Fake Stripe Payments"
        country = options["bank_transfer"].get("eu_bank_transfer", {}).get("country", "")
        details = {
            "iban": {
                "account_holder_name": holder,
                "bic": "FAKEBEBBXXX",
                "country": country,
                "iban": f"{country}00{number}",
            },
            "sort_code": {"account_holder_name": holder, "account_number": number[:8], "sort_code": "000000"},
            "aba": {"account_number": number, "bank_name": "Fake Bank", "routing_number": "000000000"},
            "zengin": {"account_holder_name": holder, "account_number": number[:7], "bank_code": "0000"},
            "spei": {"bank_code": "000", "bank_name": "Fake Bank", "clabe": number + "000000"},
        }[kind]
        return {"type": kind, kind: details, "supported_networks": networks}

    def _confirm_route(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._get("payment_intents", ident)
        intent = copy.deepcopy(stored)  # nothing changes unless the whole confirmation is valid
        if "allowed_payment_method_types" in params:
            allowed = as_list(params["allowed_payment_method_types"])
            intent["allowed_payment_method_types"] = allowed
            intent["payment_method_types"] = self._method_types(allowed, intent["currency"], intent["customer"])
        self._attach(intent, params)
        self._confirm(intent)
        stored.clear()
        stored.update(intent)
        self._apply_cash(stored["customer"], stored["currency"])
        return stored

    def _fund_cash_balance(self, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Stripe's test helper: a bank transfer from the customer arrives in their cash balance."""
        self._customer(customer_id)
        currency = self._currency(params["currency"])
        if currency not in BANK_TRANSFERS:
            raise fail(f"Bank transfers cannot fund a cash balance in {currency}.", "parameter_invalid")
        amount = self._amount(params["amount"], 1)
        key = (customer_id, currency)
        self.cash[key] = self.cash.get(key, 0) + amount
        reference = params.get("reference")
        funded = self._store(
            "cash_balance_transactions",
            "ccsbtxn",
            {
                "object": "customer_cash_balance_transaction",
                "currency": currency,
                "customer": customer_id,
                "ending_balance": self.cash[key],
                "funded": {"bank_transfer": {"reference": reference, "type": BANK_TRANSFERS[currency][0]}},
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
        waiting = sorted(
            (
                p
                for p in self.fake.objects["payment_intents"].values()
                if p["customer"] == customer and p["currency"] == currency and p["status"] == "requires_action"
            ),
            key=lambda p: (p["created"], p["_seq"]),
        )
        cash = self.cash.get(key, 0)
        waiting.sort(key=lambda p: (p.get("_reference") != reference, p["_remaining"] != cash))
        for intent in waiting:
            cash = self.cash.get(key, 0)
            if cash <= 0:
                break
            applied = min(cash, intent["_remaining"])
            self.cash[key] = cash - applied
            intent["_remaining"] -= applied
            intent["next_action"]["display_bank_transfer_instructions"]["amount_remaining"] = intent["_remaining"]
            self._store(
                "cash_balance_transactions",
                "ccsbtxn",
                {
                    "object": "customer_cash_balance_transaction",
                    "currency": currency,
                    "customer": customer,
                    "ending_balance": self.cash[key],
                    "applied_to_payment": {"payment_intent": intent["id"]},
                    "net_amount": -applied,
                    "type": "applied_to_payment",
                },
            )
            if intent["_remaining"] == 0:
                self._succeed(intent)

    def _succeed(self, intent: dict[str, Any]) -> None:
        """Funded in full: the payment succeeds, with a charge whose money lands in the balance."""
        charge = sibling(intent["id"], "py")
        self._charge(intent, charge, "succeeded", "customer_balance", created=int(self.fake.now()), move=True)
        intent.update(status="succeeded", amount_received=intent["amount"], next_action=None)

    # ----- disputes --------------------------------------------------------------

    def open_dispute(
        self, charge_id: str, status: str = "needs_response", reason: str = "fraudulent", created: int | None = None
    ) -> dict[str, Any]:
        """The cardholder's bank disputes a charge: a chargeback takes amount + fee from the balance."""
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"dispute status {status!r}")
        with self.fake._lock:
            charge = self._get("charges", charge_id)
            if charge["status"] != "succeeded" or charge["disputed"]:
                raise ValueError(
                    f"{charge_id} cannot be disputed (status {charge['status']}, disputed {charge['disputed']})"
                )
            charge["disputed"] = True
            when = int(self.fake.now()) if created is None else created
            dispute = self._store(
                "disputes",
                "dp",
                {
                    "object": "dispute",
                    "created": when,
                    "amount": charge["amount"] - charge["amount_refunded"],
                    "balance_transactions": [],
                    "charge": charge_id,
                    "currency": charge["currency"],
                    "enhanced_eligibility_types": [],
                    "evidence": {"customer_name": None, "product_description": None, "uncategorized_text": None},
                    "evidence_details": {
                        "due_by": when + 7 * 86400,
                        "has_evidence": False,
                        "past_due": False,
                        "submission_count": 0,
                    },
                    "is_charge_refundable": False,
                    "metadata": {},
                    "network_reason_code": "10.4",
                    "payment_intent": charge["payment_intent"],
                    "payment_method_details": {
                        "type": "card",
                        "card": {"brand": "visa", "case_type": "inquiry" if status in INQUIRY else "chargeback"},
                    },
                    "reason": reason,
                    "status": status,
                },
            )
            if status not in INQUIRY:
                self._withdraw(dispute)
            if status == "won":
                self._reinstate(dispute)
            return dispute

    def set_dispute_status(self, dispute_id: str, status: str) -> dict[str, Any]:
        """Move a dispute on, as the card network would, with the money Stripe moves for it."""
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"dispute status {status!r}")
        with self.fake._lock:
            dispute = self._get("disputes", dispute_id)
            if dispute["status"] in INQUIRY and status not in INQUIRY:
                self._withdraw(dispute)  # an inquiry that became a chargeback: now the money leaves
            if status == "won" and dispute["status"] != "won":
                self._reinstate(dispute)
            dispute["status"] = status
            return dispute

    def _withdraw(self, dispute: dict[str, Any]) -> None:
        fee = DISPUTE_FEES.get(dispute["currency"], 1500)
        txn = self.book(dispute["currency"], -dispute["amount"], "adjustment", dispute["id"], fee, "dispute")
        dispute["balance_transactions"].append(self.fake._public(txn))

    def _reinstate(self, dispute: dict[str, Any]) -> None:
        # A won dispute returns the amount; the fee stays with Stripe.
        txn = self.book(dispute["currency"], dispute["amount"], "adjustment", dispute["id"], 0, "dispute_reversal")
        dispute["balance_transactions"].append(self.fake._public(txn))

    def _list_disputes(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page("disputes", params, _matching(params, "charge", "payment_intent"))

    def _update_dispute(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        # Modelled because the SDK has the route; answering a dispute is the tool's to never do,
        # and dispute_writes() lets a test prove it.
        dispute = self._get("disputes", ident)
        if dispute["status"] not in ("needs_response", "warning_needs_response"):
            raise fail(f"This dispute is {dispute['status']} and can no longer be updated.")
        dispute["evidence"] = {**dispute["evidence"], **(params.get("evidence") or {})}
        dispute["metadata"] = {**dispute["metadata"], **self.fake._metadata(params)}
        if params.get("submit", "true") == "true" and "evidence" in params:
            dispute["evidence_details"]["submission_count"] += 1
            dispute["status"] = "warning_under_review" if dispute["status"] in INQUIRY else "under_review"
        return dispute

    def _close_dispute(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        # Closing accepts the loss. Modelled for the same reason as the update above.
        dispute = self._get("disputes", ident)
        if dispute["status"] not in ("needs_response", "warning_needs_response"):
            raise fail(f"This dispute is already {dispute['status']}.")
        dispute["status"] = "warning_closed" if dispute["status"] in INQUIRY else "lost"
        return dispute

    # ----- transfers -------------------------------------------------------------

    def create_transfer(self, params: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        """POST /v1/transfers; seeding calls it too, with the date of a past transfer."""
        with self.fake._lock:
            return self._create_transfer(params, created)

    def _create_transfer(self, params: dict[str, Any], created: int | None) -> dict[str, Any]:
        if "amount" not in params:
            raise fail("Missing required param: amount.", "parameter_missing")
        currency = self._currency(params["currency"])
        amount = self._amount(params["amount"], 1)
        destination = params["destination"]
        if destination not in self.fake.objects["accounts"]:
            raise fail(f"No such destination: '{destination}'", "resource_missing")
        source = params.get("source_transaction")
        if source:
            charge = self.fake.objects["charges"].get(source)
            if charge is None:
                raise fail(f"No such charge: '{source}'", "resource_missing")
            if charge["status"] != "succeeded":
                raise fail(
                    f"The source_transaction {source} has status {charge['status']}: only a succeeded charge can "
                    "fund a transfer.",
                    "parameter_invalid",
                )
            if charge["currency"] != currency:
                raise fail(
                    f"The currency of source_transaction {source} ({charge['currency']}) must be the same as the "
                    f"transfer currency ({currency}).",
                    "parameter_invalid",
                )
            taken = sum(t["amount"] - t["amount_reversed"] for t in self.transfers_of(source))
            left = charge["amount"] - charge["amount_refunded"] - taken
            if amount > left:
                raise fail(
                    f"The transfer amount ({amount}) exceeds what source_transaction {source} has left to "
                    f"transfer ({left}).",
                    "parameter_invalid",
                )
        elif self.available.get(currency, 0) < amount:
            raise fail(
                "You have insufficient funds in your Stripe account for this transfer. Your available "
                f"{currency} balance is {self.available.get(currency, 0)}; a transfer with source_transaction "
                "is funded by its charge instead.",
                "balance_insufficient",
            )
        ident = new_id("tr")
        return self._store(
            "transfers",
            "tr",
            {
                "object": "transfer",
                "created": int(self.fake.now()) if created is None else created,
                "amount": amount,
                "amount_reversed": 0,
                # A transfer funded by its charge is taken from that charge's funds, so it moves the
                # balance too; only the check above differs.
                "balance_transaction": self.book(currency, -amount, "transfer", ident)["id"],
                "currency": currency,
                "description": params.get("description"),
                "destination": destination,
                "destination_payment": new_id("py"),
                "metadata": self.fake._metadata(params),
                "reversals": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "total_count": 0,
                    "url": f"/v1/transfers/{ident}/reversals",
                },
                "reversed": False,
                "source_transaction": source,
                "source_type": "card",
                "transfer_group": params.get("transfer_group"),
            },
            ident,
        )

    def _list_transfers(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page("transfers", params, _matching(params, "destination", "transfer_group"))

    # ----- invoices and invoice payments -----------------------------------------

    def add_invoice(
        self,
        payment_intent: str,
        number: str | None = None,
        description: str | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        """A paid invoice and the invoice payment that ties it to `payment_intent`."""
        with self.fake._lock:
            intent = self._get("payment_intents", payment_intent)
            customer = intent["customer"] or ""
            when = intent["created"] if created is None else created
            count = 1 + sum(1 for i in self.fake.objects["invoices"].values() if i.get("customer") == customer)
            invoice = self._store(
                "invoices",
                "in",
                {
                    "object": "invoice",
                    "created": when,
                    "number": number or f"{hashlib.sha256(customer.encode()).hexdigest()[:8].upper()}-{count:04d}",
                    "status": "paid",
                    "customer": customer,
                    "currency": intent["currency"],
                    "amount_due": intent["amount"],
                    "amount_paid": intent["amount"],
                    "amount_remaining": 0,
                    "total": intent["amount"],
                    "collection_method": "charge_automatically",
                    "description": description,
                    "metadata": {},
                    "parent": None,
                    "status_transitions": {"paid_at": when, "finalized_at": when},
                },
            )
            self._store(
                "invoice_payments",
                "inpay",
                {
                    "object": "invoice_payment",
                    "created": when,
                    "amount_paid": intent["amount"],
                    "amount_requested": intent["amount"],
                    "currency": intent["currency"],
                    "invoice": invoice["id"],
                    "is_default": True,
                    "payment": {"type": "payment_intent", "payment_intent": payment_intent},
                    "status": "paid",
                    "status_transitions": {"canceled_at": None, "paid_at": when},
                },
            )
            return invoice

    def _list_invoice_payments(self, params: dict[str, Any]) -> dict[str, Any]:
        payment = params.get("payment") or {}
        kind = payment.get("type")
        if kind and not payment.get(kind):
            raise fail(f"Missing required param: payment[{kind}].", "parameter_missing")

        def keep(o: dict[str, Any]) -> bool:
            return (
                (not params.get("invoice") or o["invoice"] == params["invoice"])
                and (not params.get("status") or o["status"] == params["status"])
                and (not kind or o["payment"].get(kind) == payment[kind])
            )

        return self._page("invoice_payments", params, keep)


def _matching(params: dict[str, Any], *names: str) -> Callable[[dict[str, Any]], bool]:
    wanted = {name: params[name] for name in names if params.get(name)}
    return lambda o: all(o.get(name) == value for name, value in wanted.items())


def _created_matches(created: int, spec: Any) -> bool:
    if spec is None:
        return True
    if isinstance(spec, dict):
        return all(_CREATED[op](created, int(value)) for op, value in spec.items())
    return created == int(spec)


def install(fake: FakeStripe, unknown_account_status: int = 403) -> Payments:
    """The fake's payment resources; installing twice returns the first set."""
    for route in fake.routes:
        owner = getattr(route, "__self__", None)
        if isinstance(owner, Payments):
            return owner
    return Payments(fake, unknown_account_status)
