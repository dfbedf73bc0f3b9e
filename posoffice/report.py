"""Transactions as the office knows them, and a day's totals, derived from the events alone — no I/O.

The journal's events carry the transaction facts: `txn.begin` holds the kind and the amount (minor
units), `txn.complete` and `txn.confirmed` the state the answer left it in, `txn.fail` makes it in doubt,
`reversal.done` reversed, `reversal.handled` resolved by a person.  A sale stored offline (and an offline
completion) is an advice: its `txn.begin` says `state` advice_pending (journals older than that say nothing
until the answer), each `advice.attempt` is one try to forward it, and the advice's answer is its
`txn.complete` (with the bank's `response_code`); `advice.needs_manual` says it can never be forwarded (its
sealed card does not open) and `advice.handled` that a person settled it (resolved_manually).  So the office needs no other table
from the terminal.  A transaction counts on the day of its approval when its own last outcome still
leaves it approved (a sale later reversed does not count; a sale later voided does, and so does its void).
A void or refund that changes its original is counted as itself: net = sales - refunds - voids.

`transactions` gives each financial transaction with what a statement reconciliation needs: kind, amount,
trace, batch, state, when it was made and the day its batch was settled (`settlement.finish` names the
batch).  Newer journals also put on `txn.begin` the masked card (`card`), the card number's keyed
fingerprint (`fingerprint`) and the journal id of the transaction a void, refund, completion or correction
names (`original`), and on `txn.complete` the acquirer's reference (`rrn`) and the authorisation code
(`auth_code`); a refund keyed at another till than its sale may name it by `original_rrn` and
`original_date` (MMDD).  Events written before lack them: those fields are None, and whoever reads them
says what it could not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Iterable, Mapping

#: which transaction kinds count on which side (corrections and pre-auth completions charge the card;
#: a pre-authorization itself only holds funds and is not counted)
SIDES = {"sale": "sales", "correction": "sales", "completion": "sales", "refund": "refunds",
         "void": "voids", "completion_void": "voids"}
#: the state each outcome event leaves a transaction in (None: read it from the event's details)
STATE_AFTER = {"txn.complete": None, "txn.confirmed": None, "txn.fail": "in_doubt", "reversal.done": "reversed",
               # a stored sale whose sealed card does not open (agent.journal.offline): never forwarded, then settled
               # by a person
               "advice.needs_manual": "advice_needs_manual", "advice.handled": "resolved_manually"}
STILL_APPROVED = ("approved", "voided", "refunded", "refunded_partially")
#: the financial kinds a settlement statement lists (as the terminal's own reconciliation reads them)
SETTLED_KINDS = ("sale", "correction", "void", "refund", "completion", "completion_void")
#: the events `transactions` reads: the outcomes, an advice's tries, and the end of a batch's settlement
TRANSACTION_KINDS = ("txn.begin", "txn.complete", "txn.fail", "txn.confirmed", "reversal.done", "reversal.handled",
                     "advice.attempt", "advice.needs_manual", "advice.handled", "settlement.finish")


@dataclass
class Line:
    count: int = 0
    amount: int = 0


@dataclass
class TerminalDay:
    terminal: str
    sales: Line = field(default_factory=Line)
    refunds: Line = field(default_factory=Line)
    voids: Line = field(default_factory=Line)

    @property
    def net(self) -> int:
        return self.sales.amount - self.refunds.amount - self.voids.amount

    def as_json(self) -> dict[str, Any]:
        return {"terminal": self.terminal, "net": self.net,
                **{side: {"count": getattr(self, side).count, "amount": getattr(self, side).amount}
                   for side in ("sales", "refunds", "voids")}}


@dataclass(frozen=True)
class Transaction:
    """One financial transaction of one terminal, as its shipped events tell it."""

    terminal: str
    txn_id: int
    kind: str
    amount: int
    trace: int
    batch: int
    state: str | None  # the state its last outcome left it in (None: no answer yet)
    made_at: float  # its txn.begin
    settled_at: float | None  # the settlement.finish of its batch, None while the batch is open
    card: str | None = None  # the masked card number (first 6, last 4)
    fingerprint: str | None = None  # the keyed HMAC of the card number: its key is the terminal's own
    original: int | None = None  # the journal id (on the same terminal) of the transaction this one names
    rrn: str | None = None  # the acquirer's retrieval reference number, from its answer
    auth_code: str | None = None
    original_rrn: str | None = None  # the original named by its reference, when it is not in this journal
    original_date: str | None = None  # MMDD, with original_rrn
    response_code: str | None = None  # field 39 of its last answer
    forwarded: int = 0  # an advice's tries to forward it (`advice.attempt`): a stored sale was forwarded when > 0

    def local_date(self, zone: tzinfo | None) -> str:
        return _date(self.made_at, zone)

    def settled_on(self, zone: tzinfo | None) -> str | None:
        return None if self.settled_at is None else _date(self.settled_at, zone)


def _date(at: float, zone: tzinfo | None) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%Y%m%d")


class DayOf:
    """`DayOf(zone)(at)` is `_date(at, zone)`, remembering the last local day's bounds: a terminal's events come
    in time order, so most timestamps fall in the day before them and no date is formatted again."""

    def __init__(self, zone: tzinfo | None):
        self.zone, self.start, self.end, self.text = zone, 0.0, -1.0, ""

    def __call__(self, at: float) -> str:
        if self.start <= at < self.end:
            return self.text
        made = datetime.fromtimestamp(at, self.zone)
        text = made.strftime("%Y%m%d")
        start = made.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        start_at, end_at = start.timestamp(), end.replace(tzinfo=start.tzinfo).timestamp()
        # kept only where both bounds check out (a day that starts inside a clock change is not remembered)
        if start_at <= at < end_at and _date(start_at, self.zone) == text and _date(end_at, self.zone) != text:
            self.start, self.end, self.text = start_at, end_at, text
        return text


#: what txn.begin and txn.complete may carry beyond the kind and amount (absent from older events)
BEGIN_TEXTS = ("card", "fingerprint", "original_rrn", "original_date")
COMPLETE_TEXTS = ("rrn", "auth_code", "response_code")
#: every field of an event's details that `transactions` reads, in the order of an event row's values
TRANSACTION_FIELDS = ("kind", "amount", "trace", "batch", "state", "original", *BEGIN_TEXTS, *COMPLETE_TEXTS)
#: of those, the whole numbers (the others are texts); a value of another JSON type counts as absent
WHOLE_FIELDS = ("amount", "trace", "batch", "original")
#: the largest whole number a field may hold (the database reads them as bigint)
WHOLE_LIMIT = 10 ** 18


#: an event as the office stores it: (terminal, seq, txn_id, kind, at, details)
Event = tuple[str, int, int | None, str, float, Mapping[str, Any]]
#: an event row: (terminal, seq, txn_id, kind, at, *TRANSACTION_FIELDS), each field an int, a str or None
EventRow = tuple[str, int, int | None, str, float, *tuple[Any, ...]]


def event_row(event: Event) -> EventRow:
    """(terminal, seq, txn_id, kind, at, details) → the event row `transactions_of_rows` reads:
    (terminal, seq, txn_id, kind, at, *TRANSACTION_FIELDS), as `posoffice.store.transaction_rows` selects it."""
    terminal, seq, txn_id, kind, at, details = event
    return (terminal, seq, txn_id, kind, at,
            *(_whole(details, name) if name in WHOLE_FIELDS else _string(details, name) for name in TRANSACTION_FIELDS))


def _string(details: Mapping[str, Any], name: str) -> str | None:
    value = details.get(name)
    return value if isinstance(value, str) else None


def _whole(details: Mapping[str, Any], name: str) -> int | None:
    value = details.get(name)
    ok = isinstance(value, int) and not isinstance(value, bool) and -WHOLE_LIMIT < value < WHOLE_LIMIT
    return value if ok else None


def _text(value: str | None) -> str | None:
    return (value.strip() or None) if value else None


def _fold_state(txn: dict[str, Any], kind: str, details: Any) -> None:
    if kind == "txn.complete":
        for name in COMPLETE_TEXTS:
            txn[name] = _text(_string(details, name)) or txn.get(name)
    if kind == "reversal.handled":
        if txn["state"] == "in_doubt":
            txn["state"] = "resolved_manually"
    elif kind in STATE_AFTER:
        txn["state"] = STATE_AFTER[kind] or details.get("state")


def transactions(events: Iterable[Event]) -> list[Transaction]:
    """`events`: (terminal, seq, txn_id, kind, at, details), each terminal's in chain order.  The financial
    transactions, by terminal and id (see `transactions_of_rows`)."""
    return transactions_of_rows(map(event_row, events))


# a transaction being folded: a list in Transaction's field order
_STATE, _SETTLED_AT, _RRN, _AUTH_CODE, _CODE, _FORWARDED = 6, 8, 12, 13, 16, 17


def transactions_of_rows(rows: Iterable[EventRow]) -> list[Transaction]:
    """`rows`: event rows of `TRANSACTION_KINDS` (`event_row`; posoffice.store.transaction_rows selects them so),
    each terminal's in chain order.  The financial transactions, by terminal and id."""
    txns: dict[tuple[str, int], list[Any]] = {}
    open_batches: dict[tuple[str, int | None], list[list[Any]]] = {}
    settled_kinds, state_after = frozenset(SETTLED_KINDS), STATE_AFTER
    for (terminal, _seq, txn_id, kind, at, what, amount, trace, batch, state, original,
         card, fingerprint, original_rrn, original_date, rrn, auth_code, code) in rows:
        if kind == "settlement.finish":
            for settled in open_batches.pop((terminal, batch), ()):
                settled[_SETTLED_AT] = at
            continue
        if txn_id is None:
            continue
        if kind == "txn.begin":
            if what not in settled_kinds or amount is None or trace is None or batch is None:
                continue
            begun = [terminal, txn_id, what, amount, trace, batch, state, at, None, _text(card), _text(fingerprint),
                     original, None, None, _text(original_rrn), _text(original_date), None, 0]
            txns[(terminal, txn_id)] = begun
            open_batches.setdefault((terminal, batch), []).append(begun)
            continue
        txn = txns.get((terminal, txn_id))
        if txn is None:
            continue
        if kind == "txn.complete":
            txn[_RRN] = _text(rrn) or txn[_RRN]
            txn[_AUTH_CODE] = _text(auth_code) or txn[_AUTH_CODE]
            txn[_CODE] = _text(code) or txn[_CODE]
        elif kind == "advice.attempt":
            txn[_FORWARDED] += 1
            continue
        if kind == "reversal.handled":
            if txn[_STATE] == "in_doubt":
                txn[_STATE] = "resolved_manually"
        elif kind in state_after:
            txn[_STATE] = state_after[kind] or state
    return [Transaction(*txns[key]) for key in sorted(txns)]


def day_totals(events: Iterable[tuple[str, int, int, str, float, Any]]) -> list[TerminalDay]:
    """`events`: (terminal, seq, txn_id, kind, at, details) in chain order, for the transactions approved on
    the day (posoffice.store.day_events)."""
    txns: dict[tuple[str, int], dict[str, Any]] = {}
    for terminal, _seq, txn_id, kind, _at, details in events:
        txn = txns.setdefault((terminal, txn_id), {"kind": None, "amount": None, "state": None})
        if kind == "txn.begin":
            txn["kind"], txn["amount"] = details.get("kind"), details.get("amount")
        else:
            _fold_state(txn, kind, details)
    days: dict[str, TerminalDay] = {}
    for (terminal, _txn_id), txn in sorted(txns.items()):
        day = days.setdefault(terminal, TerminalDay(terminal))
        side = SIDES.get(txn["kind"])
        if side is None or txn["state"] not in STILL_APPROVED or not isinstance(txn["amount"], int):
            continue
        line = getattr(day, side)
        line.count += 1
        line.amount += txn["amount"]
    return [days[t] for t in sorted(days)]
