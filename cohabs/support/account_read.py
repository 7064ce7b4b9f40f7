"""Support's account read: what every item needs, read in bulk before planning.

Lists serve where Stripe has them, each read in `created` windows side by side
(shared/stripe/listing.py). The database says where the objects lie: a payment
row's payment (or due) date is near its charge's creation, so a list is bounded
to the times the rows that matter cover, and cut where about a page of rows
falls, so that every window is read at once. What a bounded list did not hold
is then retrieved on its own: correctness first. Where a few objects lie far
apart, retrieving each costs fewer requests than listing the months between
them, and is what is done.

Reads that need nothing from each other start together; the plan is made from
what they found (disputes.py, transfers.py), in a dry run as in a real run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from cohabs.shared.clock import to_unix
from cohabs.shared.stripe import listing
from cohabs.shared.stripe.gateway import PAGE, Window
from cohabs.support import disputes, transfers
from cohabs.support.calls import Page, SupportCalls
from cohabs.support.objects import Charge, ConnectedAccount, Dispute, Intent, InvoicePayment
from cohabs.support.rows import Payment, PaymentRows, Ref

T = TypeVar("T", bound=listing.Listed)
K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
Facts = disputes.Facts

DAY = 86_400
MARGIN = 45 * DAY  # how far from its row's payment or due date Stripe may date a charge
# How long before its charge an invoice payment may be made (when the invoice is finalized): an invoice
# paid up to LOOKBACK - MARGIN (90 days) after it was finalized is found by the bounded list.
LOOKBACK = 135 * DAY
PART = 80  # rows a window is cut to hold: under a page, so that one request usually reads it
PARTS = 32  # windows a range is cut into at most; a larger one is cut further as its pages arrive
EACH = 16  # single retrieves in flight at once; the gateway paces them
FEW = 8  # objects named from the start that are retrieved side by side rather than listed


def dates_of(payments: Iterable[Payment]) -> list[int]:
    """When the rows say their payments were made (paid, else due), sorted; rows without a date left out."""
    return sorted(to_unix(when) for p in payments if (when := p.paid_at or p.due) is not None)


def cut(low: int | None, high: int | None, known: Sequence[int]) -> list[Window]:
    """[low, high) in windows that each hold about PART of the `known` times (sorted), PARTS at most."""
    inside = [k for k in known if (low is None or k >= low) and (high is None or k < high)]
    step = max(PART, -(-len(inside) // PARTS))
    cuts = sorted({k for k in inside[step::step] if (low is None or k > low) and (high is None or k < high)})
    return [Window(a, b) for a, b in itertools.pairwise([low, *cuts, high])]


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


def if_cheaper(windows: list[Window], objects: int) -> list[Window]:
    """The windows, when listing them (about a request each) costs fewer requests than reading `objects` alone."""
    return windows if len(windows) < objects else []


def a_few(objects: int) -> bool:
    """Whether `objects` known from the start are better read each at once (one round trip) than listed."""
    return objects <= FEW


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

    def call(self, read: Callable[..., R], *args: Any) -> Future[R]:
        return self._pool.submit(read, *args)


@contextmanager
def reads(readers: int) -> Iterator[Reads]:
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="support-read") as pool:
        yield Reads(pool, readers)


def _windows(page: Callable[[Window], Page[T]], windows: Sequence[Window], readers: int) -> list[T]:
    if not windows:
        return []
    # The list's readers shared among its windows: each window is about a page already.
    each = max(2, readers // len(windows))
    found = listing.read_all(dict.fromkeys(range(len(windows)), page), each, dict(enumerate(windows)))
    return [obj for part in found.values() for obj in part]


def _each(read: Callable[[K], R], keys: list[K]) -> dict[K, R]:
    if not keys:
        return {}
    with ThreadPoolExecutor(max_workers=min(EACH, len(keys)), thread_name_prefix="support-each") as pool:
        return dict(zip(keys, pool.map(read, keys), strict=True))


def known_dates(rows: PaymentRows) -> list[int]:
    """Where the account's payments lie, as the rows that name a Stripe payment say."""
    return dates_of(p for p in rows.payments if p.charge_id)


# ----- transfers ------------------------------------------------------------------


def read_payouts(calls: SupportCalls, rows: PaymentRows, readers: int) -> transfers.PayoutFacts:
    """The houses' accounts, the rows' charges and PaymentIntents, and every transfer since shortly before them.

    A transfer of a charge is made after the charge (Stripe needs the charge to
    fund it); one in its transfer group that names no charge is looked for from
    MARGIN before it.
    """
    known = known_dates(rows)
    wanted = {p.charge_id for p in rows.payments if p.ref is Ref.CHARGE and p.charge_id}
    paid_by = [p for p in rows.payments if p.ref is Ref.PAYMENT_INTENT and p.charge_id]
    transfer_windows = around(known[:1], known, 2 * MARGIN, None) or [Window()]
    with reads(readers) as read:
        accounts = read.call(_accounts, calls, {h.account_id for h in rows.houses if h.account_id}, readers)
        listed = read.windows(calls.charges, if_cheaper(around(known, known, MARGIN, MARGIN), len(wanted)))
        sent = read.windows(calls.transfers, transfer_windows)
        intents = read.call(_intents, calls, paid_by, known, readers).result()
        wanted |= {i.latest_charge for i in intents.values() if i and i.latest_charge}
        charges: dict[str, Charge | None] = {c.id: c for c in listed.result() if c.id in wanted}
        charges |= read.each(calls.charge, wanted - charges.keys()).result()
        earlier = read.windows(calls.transfers, _before(charges, transfer_windows[0]))
        found = sent.result() + earlier.result()
        return transfers.PayoutFacts(accounts.result(), found, charges, intents)


def _accounts(calls: SupportCalls, wanted: set[str], readers: int) -> dict[str, ConnectedAccount | None]:
    """The houses' connected accounts: a few asked for each at once; many listed, those not listed asked after."""
    if a_few(len(wanted)):
        return _each(calls.account, sorted(wanted))
    found: dict[str, ConnectedAccount | None] = {
        a.id: a for a in _windows(calls.accounts, [Window()], readers) if a.id in wanted
    }
    return found | _each(calls.account, sorted(wanted - found.keys()))


def _intents(
    calls: SupportCalls, rows: Sequence[Payment], known: Sequence[int], readers: int
) -> dict[str, Intent | None]:
    """The PaymentIntents rows name (`pi_…`, as re-collections do): listed around the rows' dates where that
    costs less, else each; what the list did not hold, each."""
    wanted = {p.charge_id for p in rows if p.charge_id}
    windows = if_cheaper(around(dates_of(rows), known, MARGIN, MARGIN), len(wanted))
    found: dict[str, Intent | None] = {i.id: i for i in _windows(calls.intents, windows, readers) if i.id in wanted}
    return found | _each(calls.intent, sorted(wanted - found.keys()))


def _before(charges: dict[str, Charge | None], first: Window) -> list[Window]:
    """What the transfers list did not cover of the time since MARGIN before the oldest charge."""
    oldest = min((c.created for c in charges.values() if c is not None), default=None)
    if first.since is None or oldest is None or oldest - MARGIN >= first.since:
        return []
    return [Window(oldest - MARGIN, first.since)]


# ----- disputes -------------------------------------------------------------------


def read_disputes(calls: SupportCalls, rows: PaymentRows, id_width: int | None, readers: int) -> list[Facts]:
    """Every dispute; for a dispute with its one row, its charge, the requests since it, the invoice it paid."""
    present = {p.id for p in rows.payments}
    flagged = [p for p in rows.payments if p.disputed and p.charge_id]
    with reads(readers) as read:
        listed = read.call(every_dispute, calls, len(flagged), readers)  # first: its pages follow each other
        ahead = _Ahead(calls, read, known_dates(rows), flagged)
        found = listed.result()
        cases: dict[Dispute, Payment] = {}
        for dispute in found:
            matching = disputes.matching_rows(dispute, rows.payments)
            if len(matching) == 1:
                cases[dispute] = matching[0]
        weighed = ahead.paid(ahead.requests(ahead.intents(ahead.charges(cases))))
        weighed = ahead.invoices(
            weighed, lambda f: bool(f.found) or disputes.new_payment_id(f.dispute.id, id_width) in present
        )
    by_id = {f.dispute.id: f for f in weighed}
    return [by_id.get(d.id) or Facts(d, None) for d in found]


def every_dispute(calls: SupportCalls, expected: int, readers: int) -> list[Dispute]:
    """Every dispute: the newest page, then the rest in windows read side by side.

    How many disputes there are is roughly known: the rows marked disputed.
    How densely the newest lay in time says how far back the rest should go;
    that span is cut into windows of about half a page, and one more window
    takes everything older. Any count and any spread are read in full; a good
    guess only saves round trips.
    """
    first, more = calls.disputes(Window())
    if not more:
        return first
    return first + _windows(calls.disputes, rest_of(first, expected, readers), readers)


def rest_of(page: Sequence[Dispute], expected: int, readers: int) -> list[Window]:
    """Windows covering everything older than `page` (newest first), cut for `expected` objects in all."""
    cursor, oldest = page[-1].id, page[-1].created
    left = expected - len(page)
    if left <= 0:
        return [Window(after=cursor)]  # no estimate: the shared read finds its way (listing.next_windows)
    per_second = len(page) / (page[0].created - oldest + 1)
    depth = math.ceil(1.5 * left / per_second)  # room for a spread wider than the newest page's
    parts = max(1, min(readers, depth, math.ceil(left / (PAGE / 2))))
    bounds = sorted({max(1, oldest - depth * n // parts) for n in range(1, parts + 1)}, reverse=True)
    return [
        Window(bounds[0], None, after=cursor),
        *(Window(low, high) for high, low in itertools.pairwise(bounds)),
        Window(None, bounds[-1]),
    ]


class _Ahead:
    """What the disputes with one row need, read in as few rounds as can be.

    The rows marked disputed say which charges the disputes are on, before the
    disputes are read: their charges, their invoice payments and the
    PaymentIntents since the earliest of them (where a dispute's re-collection
    is found again, as every dispute comes after its charge) are listed at
    once, each where listing costs fewer requests than reading per dispute.
    Once the disputes are known, whatever these lists could not vouch for is
    read on its own.
    """

    def __init__(self, calls: SupportCalls, read: Reads, known: Sequence[int], flagged: list[Payment]) -> None:
        self._calls = calls
        self._read = read
        self._known = known
        dates = dates_of(flagged)
        request_windows = if_cheaper(around(dates[:1], known, 0, None), len(flagged))
        invoice_windows = if_cheaper(around(dates, known, LOOKBACK, MARGIN), len(flagged))
        self._listed = read.windows(calls.charges, if_cheaper(around(dates, known, MARGIN, MARGIN), len(flagged)))
        self._requests = read.windows(calls.intents, request_windows)
        self._requests_since = request_windows[0].since if request_windows else None
        self._paid = read.windows(calls.invoice_payments, invoice_windows)
        self._vouching = bool(invoice_windows)
        self._vouched: set[str] = set()  # charges whose invoice payment the bounded list holds, if it has one

    def charges(self, cases: dict[Dispute, Payment]) -> list[Facts]:
        wanted = {d.charge for d in cases if d.charge}
        found: dict[str, Charge | None] = {c.id: c for c in self._listed.result() if c.id in wanted}
        self._vouched = set(found) if self._vouching else set()
        found |= self._read.each(self._calls.charge, wanted - found.keys()).result()
        return [Facts(d, found.get(d.charge or "")) for d in cases]

    def intents(self, facts: list[Facts]) -> list[Facts]:
        """The disputed PaymentIntent, where the charge lacks a customer or a description."""
        wanted = [
            i for f in facts if f.charge and (i := _intent_id(f)) and not (f.charge.customer and f.charge.description)
        ]
        found = self._read.each(self._calls.intent, wanted).result()
        return [replace(f, intent=found[i]) if (i := _intent_id(f)) in found else f for f in facts]

    def requests(self, facts: list[Facts]) -> list[Facts]:
        """The customer's PaymentIntents since the dispute: requests that name it, and bank transfer requests
        that name none."""
        asking = [f for f in facts if f.charge is not None and f.customer]
        by_customer: dict[str, list[Intent]] = {}
        for intent in sorted(self._since(asking), key=lambda i: (i.created, i.id)):
            if intent.customer:
                by_customer.setdefault(intent.customer, []).append(intent)
        weighed = []
        for f in facts:
            if f.charge is not None and f.customer:
                mine = [i for i in by_customer.get(f.customer, []) if i.created >= f.dispute.created]
                requests = tuple(i for i in mine if i.dispute == f.dispute.id)
                f = replace(f, found=requests, unnamed=tuple(i for i in mine if i.dispute is None and i.bank_transfer))
            weighed.append(f)
        return weighed

    def paid(self, facts: list[Facts]) -> list[Facts]:
        """The charges of paid requests whose dispute gave the money back: was the tenant refunded? (Rare: each.)"""
        wanted = {
            i.id: i.latest_charge
            for f in facts
            if not f.dispute.money_withdrawn
            for i in f.found
            if i.status == "succeeded" and i.latest_charge
        }
        found = self._read.each(self._calls.charge, wanted.values()).result()
        charge_of = {intent: charge for intent, charge_id in wanted.items() if (charge := found.get(charge_id))}
        return [
            replace(f, request_charges={i.id: charge_of[i.id] for i in f.found if i.id in charge_of}) for f in facts
        ]

    def _since(self, asking: list[Facts]) -> list[Intent]:
        """PaymentIntents made since each dispute: the early list, what it began after, or each customer's."""
        if not asking:
            return []
        since = min(f.dispute.created for f in asking)
        if self._requests_since is not None:
            gap = [Window(since, self._requests_since)] if since < self._requests_since else []
            return self._requests.result() + self._read.windows(self._calls.intents, gap).result()
        windows = if_cheaper(around([since], self._known, 0, None), len(asking))
        if windows:
            return self._read.windows(self._calls.intents, windows).result()
        first: dict[str, int] = {}
        for f in asking:
            assert f.customer is not None
            first[f.customer] = min(first.get(f.customer, f.dispute.created), f.dispute.created)
        each = self._read.each(lambda c: _windows(partial(self._calls.intents_of, c), [Window(first[c])], 1), first)
        return [i for found in each.result().values() for i in found]

    def invoices(self, facts: list[Facts], handled: Callable[[Facts], bool]) -> list[Facts]:
        """The number of the invoice each disputed payment paid, for the disputes not handled yet."""
        waiting = {f.dispute.id: i for f in facts if f.charge and (i := _intent_id(f)) and not handled(f)}
        alone = [
            waiting[f.dispute.id]
            for f in facts
            if f.dispute.id in waiting and f.charge and f.charge.id not in self._vouched
        ]
        by_one = self._read.each(self._calls.invoice_payments_of, alone)
        newest: dict[str, InvoicePayment] = {}
        for paid in [*self._paid.result(), *(p for found in by_one.result().values() for p in found)]:
            held = newest.get(paid.payment_intent or "")
            if (
                paid.payment_intent
                and paid.invoice
                and (held is None or (paid.created, paid.id) > (held.created, held.id))
            ):
                newest[paid.payment_intent] = paid
        used = [newest[i] for i in waiting.values() if i in newest]
        numbers = self._numbers(used)
        return [
            replace(f, invoice=numbers.get(newest[waiting[f.dispute.id]].invoice or ""))
            if waiting.get(f.dispute.id) in newest
            else f
            for f in facts
        ]

    def _numbers(self, paid: Sequence[InvoicePayment]) -> dict[str, str | None]:
        """Invoice id -> its number: an invoice is made before the payments that pay it."""
        ids = {p.invoice for p in paid if p.invoice}
        windows = if_cheaper(around([p.created for p in paid], self._known, MARGIN, 0), len(ids))
        numbers = {i.id: i.number for i in self._read.windows(self._calls.invoices, windows).result() if i.id in ids}
        alone = self._read.each(self._calls.invoice, ids - numbers.keys()).result()
        return numbers | {k: (v.number if v else None) for k, v in alone.items()}


def _intent_id(facts: Facts) -> str | None:
    return (facts.charge.payment_intent if facts.charge else None) or facts.dispute.payment_intent
