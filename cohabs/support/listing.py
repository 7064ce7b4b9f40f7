"""Support's account read: what every item needs, read in bulk before planning.

Lists serve where Stripe has them, each read in `created` windows side by side
(shared/stripe/listing.py). The database says where the objects lie: a payment
row's due and payment dates are near its charge's creation, so a list is bounded
to the times the rows that matter cover, and cut where about a page of rows
falls, so that every window is read at once. What a bounded list did not hold
is then retrieved on its own: correctness first. Where a few objects lie far
apart, retrieving each costs fewer requests than listing the months between
them, and is what is done.

Reads that need nothing from each other go together; the plan is made from
what they found (disputes.py, transfers.py), in a dry run as in a real run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from cohabs.shared.stripe import listing
from cohabs.shared.stripe.gateway import Window
from cohabs.support import disputes, transfers
from cohabs.support.calls import Page, SupportCalls
from cohabs.support.objects import Charge, Dispute, Intent, InvoicePayment
from cohabs.support.rows import Payment, PaymentRows, Ref

T = TypeVar("T", bound=listing.Listed)
K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

DAY = 86_400
MARGIN = 45 * DAY  # how far from its row's due and payment dates Stripe may date a charge
# How long before its charge an invoice payment may be made (when the invoice is finalized): an invoice
# paid up to LOOKBACK - MARGIN (90 days) after it was finalized is found by the bounded list.
LOOKBACK = 135 * DAY
PART = 80  # rows a window is cut to hold: under a page, so that one request usually reads it
EACH = 16  # single retrieves in flight at once; the gateway paces them


def stamp(moment: datetime) -> int:
    """A database datetime (naive, UTC) as Stripe's seconds."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def dates_of(payments: Iterable[Payment]) -> list[int]:
    """When the rows say their payments happened: due and payment dates, sorted."""
    return sorted(stamp(d) for p in payments for d in (p.due, p.paid_at) if d is not None)


def cut(low: int | None, high: int | None, known: Sequence[int]) -> list[Window]:
    """[low, high) in windows that each hold about PART of the `known` times (sorted)."""
    inside = [k for k in known if (low is None or k >= low) and (high is None or k < high)]
    cuts = sorted({k for k in inside[PART::PART] if (low is None or k > low) and (high is None or k < high)})
    bounds = [low, *cuts, high]
    return [Window(a, b) for a, b in itertools.pairwise(bounds)]


def around(wanted: Iterable[int], known: Sequence[int], before: int, after: int | None) -> list[Window]:
    """Windows covering every time from `before` seconds before a wanted time to `after` seconds after it
    (to now when `after` is None), overlapping ranges merged, cut to about a page of `known` times each."""
    spans: list[tuple[int, int | None]] = []
    for moment in sorted(set(wanted)):
        low, high = moment - before, None if after is None else moment + after + 1
        if spans and (spans[-1][1] is None or low <= spans[-1][1]):
            last = spans[-1][1]
            spans[-1] = (spans[-1][0], None if last is None or high is None else max(last, high))
        else:
            spans.append((low, high))
    return [window for low, high in spans for window in cut(low, high, known)]


def listing_pays(windows: Sequence[Window], objects: int) -> bool:
    """Whether listing the windows (about a request each) costs fewer requests than `objects` alone."""
    return bool(windows) and len(windows) < objects


class Reads:
    """Reads started at once, each on its own thread; a result is waited for where it is needed."""

    def __init__(self, pool: ThreadPoolExecutor, readers: int) -> None:
        self._pool = pool
        self._readers = readers

    def windows(self, page: Callable[[Window], Page[T]], windows: Sequence[Window]) -> Future[list[T]]:
        """Every object of the windows, each window read by up to `readers` cursors (listing.read_all)."""
        return self._pool.submit(_windows, page, windows, self._readers)

    def each(self, read: Callable[[K], R], keys: Iterable[K]) -> Future[dict[K, R]]:
        return self._pool.submit(_each, read, list(dict.fromkeys(keys)))


@contextmanager
def reads(readers: int) -> Iterator[Reads]:
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="support-read") as pool:
        yield Reads(pool, readers)


def _windows(page: Callable[[Window], Page[T]], windows: Sequence[Window], readers: int) -> list[T]:
    if not windows:
        return []
    found = listing.read_all(dict.fromkeys(range(len(windows)), page), readers, dict(enumerate(windows)))
    return [obj for part in found.values() for obj in part]


def _each(read: Callable[[K], R], keys: list[K]) -> dict[K, R]:
    if not keys:
        return {}
    with ThreadPoolExecutor(max_workers=min(EACH, len(keys)), thread_name_prefix="support-each") as pool:
        return dict(zip(keys, pool.map(read, keys), strict=True))


def charged(payments: Iterable[Payment]) -> list[Payment]:
    return [p for p in payments if p.charge_id]


# ----- transfers ------------------------------------------------------------------


def read_payouts(calls: SupportCalls, rows: PaymentRows, readers: int) -> transfers.PayoutFacts:
    """The connected accounts, the rows' charges, and every transfer since the earliest of them."""
    known = dates_of(charged(rows.payments))
    wanted = {p.charge_id for p in rows.payments if p.ref is Ref.CHARGE and p.charge_id}
    accounts = {h.account_id for h in rows.houses if h.account_id}
    charge_windows = around(known, known, MARGIN, MARGIN)
    transfer_windows = around(known[:1], known, 2 * MARGIN, None) or [Window()]
    with reads(readers) as read:
        listed_accounts = read.windows(calls.accounts, [Window()] if accounts else [])
        listed = read.windows(calls.charges, charge_windows if listing_pays(charge_windows, len(wanted)) else [])
        sent = read.windows(calls.transfers, transfer_windows)
        intents = read.each(
            calls.intent, [p.charge_id for p in rows.payments if p.ref is Ref.PAYMENT_INTENT and p.charge_id]
        ).result()
        wanted |= {i.latest_charge for i in intents.values() if i and i.latest_charge}
        charges: dict[str, Charge | None] = {c.id: c for c in listed.result() if c.id in wanted}
        connected = {a.id for a in listed_accounts.result()}
        alone = read.each(calls.account, accounts - connected)
        charges |= read.each(calls.charge, wanted - charges.keys()).result()
        found = sent.result() + read.windows(calls.transfers, _earlier(charges, transfer_windows[0])).result()
        exists = {a: a in connected or alone.result()[a] is not None for a in accounts}
    return transfers.PayoutFacts(exists, found, charges, intents)


def _earlier(charges: dict[str, Charge | None], first: Window) -> list[Window]:
    """The transfers a charge retrieved on its own may have that the bounded list began after."""
    oldest = min((c.created for c in charges.values() if c is not None), default=None)
    if first.since is None or oldest is None or oldest - MARGIN >= first.since:
        return []
    return [Window(oldest - MARGIN, first.since)]


# ----- disputes -------------------------------------------------------------------


def read_disputes(calls: SupportCalls, rows: PaymentRows, id_width: int | None, readers: int) -> list[disputes.Facts]:
    """Every dispute; for a dispute with its one row, its charge, the requests since it, the invoice it paid."""
    known = dates_of(charged(rows.payments))
    present = {p.id for p in rows.payments}
    with reads(readers) as read:
        # Disputes come after the charges they take back: the disputed rows say roughly where they lie.
        found = read.windows(calls.disputes, cut(None, None, dates_of(p for p in rows.payments if p.disputed))).result()
        cases: dict[Dispute, Payment] = {}
        for dispute in found:
            matching = disputes.matching_rows(dispute, rows.payments)
            if len(matching) == 1:
                cases[dispute] = matching[0]
        case = _Cases(calls, read, known, cases)
        weighed = case.requests(case.intents(case.charges()))
        weighed = case.invoices(
            weighed, lambda f: bool(f.found) or disputes.new_payment_id(f.dispute.id, id_width) in present
        )
    by_id = {f.dispute.id: f for f in weighed}
    return [by_id.get(d.id) or disputes.Facts(d, None) for d in found]


class _Cases:
    """The disputes that have their one row, and what each needs, read in as few rounds as can be.

    The three lists that need only the disputes start together: the charges, the
    PaymentIntents since the earliest dispute, the invoice payments; each only
    where listing costs fewer requests than reading per dispute.
    """

    def __init__(self, calls: SupportCalls, read: Reads, known: Sequence[int], cases: dict[Dispute, Payment]) -> None:
        self._calls = calls
        self._read = read
        self._known = known
        self._cases = list(cases)
        charge_dates = dates_of(cases.values())
        self._wanted = {d.charge for d in cases if d.charge}
        charge_windows = around(charge_dates, known, MARGIN, MARGIN)
        request_windows = around([d.created for d in cases], known, 0, None)
        invoice_windows = around(charge_dates, known, LOOKBACK, MARGIN)
        self._every_request = listing_pays(request_windows, len(cases))  # else each customer's own list
        self._vouching = listing_pays(invoice_windows, len(cases))  # else each PaymentIntent's invoice payments
        self._listed = read.windows(
            calls.charges, charge_windows if listing_pays(charge_windows, len(self._wanted)) else []
        )
        self._listed_requests = read.windows(calls.intents, request_windows if self._every_request else [])
        self._paid = read.windows(calls.invoice_payments, invoice_windows if self._vouching else [])
        self._vouched: set[str] = set()  # charges whose invoice payment the bounded list would hold

    def charges(self) -> list[disputes.Facts]:
        found: dict[str, Charge | None] = {c.id: c for c in self._listed.result() if c.id in self._wanted}
        self._vouched = set(found) if self._vouching else set()
        found |= self._read.each(self._calls.charge, self._wanted - found.keys()).result()
        return [disputes.Facts(d, found.get(d.charge or "")) for d in self._cases]

    def intents(self, facts: list[disputes.Facts]) -> list[disputes.Facts]:
        """The disputed PaymentIntent, where the charge lacks a customer or a description."""
        wanted = [
            intent_id
            for f in facts
            if f.charge is not None
            and (intent_id := _intent_id(f))
            and not (f.charge.customer and f.charge.description)
        ]
        found = self._read.each(self._calls.intent, wanted).result()
        return [replace(f, intent=found[i]) if (i := _intent_id(f)) in found else f for f in facts]

    def requests(self, facts: list[disputes.Facts]) -> list[disputes.Facts]:
        """The customer's PaymentIntents since the dispute: requests that name it, and bank transfer requests
        that name none."""
        since: dict[str, int] = {}
        for f in facts:
            if f.charge is not None and f.customer:
                since[f.customer] = min(since.get(f.customer, f.dispute.created), f.dispute.created)
        if self._every_request:
            made = self._listed_requests.result()
        else:
            each = self._read.each(lambda c: _windows(partial(self._calls.intents_of, c), [Window(since[c])], 1), since)
            made = [i for found in each.result().values() for i in found]
        by_customer: dict[str, list[Intent]] = {}
        for intent in sorted(made, key=lambda i: (i.created, i.id)):
            if intent.customer:
                by_customer.setdefault(intent.customer, []).append(intent)
        weighed = []
        for f in facts:
            mine = [i for i in by_customer.get(f.customer or "", []) if i.created >= f.dispute.created]
            if f.charge is not None and f.customer:
                requests = tuple(i for i in mine if i.dispute == f.dispute.id)
                unnamed = tuple(i for i in mine if i.dispute is None and i.bank_transfer)
                f = replace(f, found=requests, unnamed=unnamed)
            weighed.append(f)
        return weighed

    def invoices(self, facts: list[disputes.Facts], handled: Callable[[disputes.Facts], bool]) -> list[disputes.Facts]:
        """The number of the invoice each disputed payment paid, for the disputes not handled yet."""
        open_ = [f for f in facts if f.charge is not None and _intent_id(f) and not handled(f)]
        newest: dict[str, InvoicePayment] = {}
        alone = [_intent_id(f) for f in open_ if f.charge is not None and f.charge.id not in self._vouched]
        by_one = self._read.each(self._calls.invoice_payments_of, [i for i in alone if i])
        for paid in [*self._paid.result(), *(p for found in by_one.result().values() for p in found)]:
            if paid.payment_intent and paid.invoice:
                held = newest.get(paid.payment_intent)
                if held is None or (paid.created, paid.id) > (held.created, held.id):
                    newest[paid.payment_intent] = paid
        wanted = [newest[i] for f in open_ if (i := _intent_id(f)) in newest]
        numbers = self._numbers(wanted)
        return [
            replace(f, invoice=numbers.get(newest[i].invoice or ""))
            if f in open_ and (i := _intent_id(f)) in newest
            else f
            for f in facts
        ]

    def _numbers(self, paid: Sequence[InvoicePayment]) -> dict[str, str | None]:
        """Invoice id -> its number: invoices are made before the payments that pay them."""
        ids = {p.invoice for p in paid if p.invoice}
        windows = around([p.created for p in paid], self._known, MARGIN, 0)
        listed = self._read.windows(self._calls.invoices, windows if listing_pays(windows, len(ids)) else [])
        numbers = {i.id: i.number for i in listed.result() if i.id in ids}
        alone = self._read.each(self._calls.invoice, ids - numbers.keys()).result()
        return numbers | {k: (v.number if v else None) for k, v in alone.items()}


def _intent_id(facts: disputes.Facts) -> str | None:
    return (facts.charge.payment_intent if facts.charge else None) or facts.dispute.payment_intent
