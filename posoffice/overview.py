"""What the web pages show, derived from the events the office stores — sans-IO.

*Today* per terminal: its open batch's totals per payment type (card, payment code: a payment code is told
from a card by its masked number's prefix and length, `agent.paycodes.wallet_of_masked`), and when it last
settled.  The alerts, each with the one thing that finishes it:

- a multi-step fix (`fix.plan` … `fix.done` / `fix.closed`; `chain.*` before the rename) still open: the terminal's own resume
  command (`agent.engine.fixrun.resume_command`) and the keypad's way to it;
- a reversal whose tries ran out (`reversal.failed` with state `needs_manual`, no `reversal.done` or
  `reversal.handled` since): `posagent reversals --handled ID --note …` after settling it with the acquirer;
- suspected duplicates within a till and across tills (`posoffice.duplicates`), not yet fixed (`open_pairs`);
- a chain that failed to verify (the collector's `chain_problems`);
- a sale stored offline that the bank declined when it was forwarded (`posoffice.offline`): the store contacts
  the customer;
- a sale stored offline never sent to the bank, its sealed card does not open (`posoffice.offline.never_sent`):
  the store calls the acquirer or the customer, then the terminal's supervisor marks it handled.

Each terminal's row also counts its sales stored offline that the bank has not answered yet.

*Days*: each settled day's approved transactions per terminal (the day its batch's settlement finished), their
net and the fees the contract says (`agent.reconcile.fees`), beside what the bank's statement said for that
day (the newest reconciliation run of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Iterable, Mapping

from agent.engine.fixrun import resume_command
from agent.journal.states import FIX_EVENTS, FIX_ID_KEYS
from agent.paycodes import wallet_of_masked
from agent.reconcile.fees import FeeContract
from agent.cardtypes import card_type
from posoffice.duplicates import Duplicate, Fix
from posoffice.offline import is_stored
from posoffice.refunds import REFUNDABLE_KINDS, UNDO_KINDS, refundable_of
from posoffice.report import SIDES, STILL_APPROVED, Event, Transaction

#: the payment types a batch is totalled by, as the terminal's settlement slip has them
PAYMENT_TYPES = ("card", "code")
#: a fix's event kind (either spelling: terminals shipped `chain.*` before the rename) → what it says
_FIX_SAYS = {kind: says for says, kinds in FIX_EVENTS.items() for kind in kinds}
#: the events `alerts` reads besides the transactions' (migration 0011's partial index lists the same)
ALERT_KINDS = (*_FIX_SAYS, "reversal.failed", "reversal.done", "reversal.handled")


def payment_type(txn: Transaction) -> str:
    return "code" if txn.card and wallet_of_masked(txn.card) is not None else "card"


@dataclass
class Totals:
    count: int = 0
    amount: int = 0  # sales − refunds − voids, minor units


@dataclass
class TerminalToday:
    terminal: str
    merchant: str
    last_contact: str | None
    backlog: int | None
    chain_ok: bool
    open_batch: int | None = None
    open_totals: dict[str, Totals] = field(default_factory=lambda: {p: Totals() for p in PAYMENT_TYPES})
    last_settled_at: float | None = None
    unsettled: int = 0  # approved (or stored offline) transactions in batches not settled yet
    stored: Totals = field(default_factory=Totals)  # sales stored offline the bank has not answered yet

    @property
    def settled(self) -> bool:
        return self.unsettled == 0


def signed(txn: Transaction) -> int:
    """What a transaction adds to a batch's net (0 when it did not stand)."""
    side = SIDES.get(txn.kind)
    if side is None or txn.state not in STILL_APPROVED:
        return 0
    return txn.amount if side == "sales" else -txn.amount


def terminals_today(terminals: Iterable[Mapping[str, Any]], txns: Iterable[Transaction],
                    last_settled: Mapping[str, float] | None = None) -> list[TerminalToday]:
    """`terminals`: `posoffice.store.terminals` rows; `txns`: at least those of the open batches; `last_settled`:
    terminal → its last settlement's time (else taken from `txns`)."""
    rows = {t["terminal"]: TerminalToday(t["terminal"], t["merchant"], t["last_contact"], t["backlog"],
                                         t["chain"] == "ok", last_settled_at=(last_settled or {}).get(t["terminal"]))
            for t in terminals}
    for txn in txns:
        row = rows.get(txn.terminal)
        if row is None:
            continue
        if txn.settled_at is not None:
            row.last_settled_at = max(row.last_settled_at or 0.0, txn.settled_at)
            continue
        row.open_batch = max(row.open_batch or 0, txn.batch)
        if is_stored(txn):  # approved by the card, owed to the bank: not settled
            row.stored.count += 1
            row.stored.amount += txn.amount
            row.unsettled += 1
        amount = signed(txn)
        if amount or (txn.state in STILL_APPROVED and txn.kind in SIDES):
            totals = row.open_totals[payment_type(txn)]
            totals.count += 1
            totals.amount += amount
            row.unsettled += 1
    return [rows[t] for t in sorted(rows)]


@dataclass(frozen=True)
class OpenFix:
    terminal: str
    id: int  # the fix's, on its terminal
    kind: str
    original: Transaction | None
    steps: tuple[str, ...]  # each step's status, as the last fix.step said
    since: float
    command: str


@dataclass(frozen=True)
class ManualReversal:
    terminal: str
    reversal: int
    txn: Transaction | None
    tries: int
    at: float
    error: str

    @property
    def command(self) -> str:
        return f'posagent reversals --handled {self.reversal} --note "what the acquirer said"'


@dataclass
class _Planned:
    """A fix as its `fix.plan` said, with each step's status as the last `fix.step` said."""

    kind: str
    txn_id: int | None  # the original's
    at: float
    steps: tuple[str, ...]


def open_fixes(events: Iterable[Event], txns: Iterable[Transaction]) -> list[OpenFix]:
    """`events`: (terminal, seq, txn_id, kind, at, details) of `ALERT_KINDS`, in chain order."""
    by_id: dict[tuple[str, int | None], Transaction] = {(t.terminal, t.txn_id): t for t in txns}
    fixes: dict[tuple[str, int], _Planned] = {}
    for terminal, _seq, txn_id, kind, at, details in events:
        says = _FIX_SAYS.get(kind)
        fix_id = next((details[k] for k in FIX_ID_KEYS if k in details), None) if isinstance(details, dict) else None
        if says is None or not isinstance(fix_id, int):
            continue
        key = (terminal, fix_id)
        if says == "plan":
            fixes[key] = _Planned(details.get("kind", ""), txn_id, at,
                                  tuple(str(s.get("status", "owed")) for s in details.get("steps") or ()
                                        if isinstance(s, dict)))
        elif key in fixes and says == "step":
            fixes[key].steps = tuple(str(s) for s in details.get("steps") or ())
        else:  # done or closed
            fixes.pop(key, None)
    found = []
    for (terminal, fix_id), c in sorted(fixes.items(), key=lambda kv: kv[1].at):
        original = by_id.get((terminal, c.txn_id))
        command = resume_command(c.kind, c.txn_id or 0, original.trace if original else 0)  # the terminal's own rule
        found.append(OpenFix(terminal, fix_id, c.kind, original, c.steps, c.at, command))
    return found


def manual_reversals(events: Iterable[Event], txns: Iterable[Transaction]) -> list[ManualReversal]:
    by_id: dict[tuple[str, int | None], Transaction] = {(t.terminal, t.txn_id): t for t in txns}  # None: no txn
    waiting: dict[tuple[str, int], ManualReversal] = {}
    for terminal, _seq, txn_id, kind, at, details in events:
        reversal = details.get("reversal") if isinstance(details, dict) else None
        if not kind.startswith("reversal.") or not isinstance(reversal, int):
            continue
        key = (terminal, reversal)
        if kind == "reversal.failed" and details.get("state") == "needs_manual":
            waiting[key] = ManualReversal(terminal, reversal, by_id.get((terminal, txn_id)),
                                          int(details.get("tries") or 0), at, str(details.get("error") or ""))
        elif kind in ("reversal.done", "reversal.handled"):
            waiting.pop(key, None)
    return sorted(waiting.values(), key=lambda r: r.at)


def standing(txn: Transaction, txns: Iterable[Transaction], zone: tzinfo | None = None) -> str | None:
    """The state the terminal's journal shows for it: an approved charge that a void or refund named (on any
    till) is voided, refunded or partly refunded — the original's own events do not say so; None: no answer yet."""
    if txn.kind in REFUNDABLE_KINDS and txn.state == "approved":
        undone = refundable_of(txn, txns, zone)
        if undone.void is not None and undone.void.state == "approved":
            return "voided"
        if undone.refunded:
            return "refunded" if undone.refunded >= txn.amount else "refunded_partially"
    return txn.state


def open_pairs(pairs: Iterable[Duplicate], undos: Iterable[Transaction],
               zone: tzinfo | None = None) -> list[tuple[Duplicate, Fix]]:
    """The suspected duplicates (`find_duplicates(..., within_tills=True)`) not fixed yet, each with its fix, newest
    first; `undos`: the voids and refunds that may name their charges (nothing else decides it)."""
    undos = [t for t in undos if t.kind in UNDO_KINDS]
    found = []
    for d in sorted(pairs, key=lambda d: (-d.second.made_at, d.second.terminal, d.second.txn_id)):
        context = [d.first, d.second, *undos]
        if not d.fixed(context, zone):
            found.append((d, d.fix(context, zone)))
    return found


# ----------------------------------------------------------------------------- days
@dataclass
class TerminalDayTotals:
    net: int = 0
    fees: int = 0
    count: int = 0


def settled_days(txns: Iterable[Transaction], zone: tzinfo | None, contract: FeeContract,
                 credit_bins: tuple[str, ...]) -> dict[str, dict[str, TerminalDayTotals]]:
    """settlement day (YYYYMMDD) → terminal → the approved transactions' net and the contract's fees."""
    days: dict[str, dict[str, TerminalDayTotals]] = {}
    for txn in txns:
        day = txn.settled_on(zone)
        amount = signed(txn)
        if day is None or not amount:
            continue
        cell = days.setdefault(day, {}).setdefault(txn.terminal, TerminalDayTotals())
        cell.net += amount
        cell.count += 1
        cell.fees += contract.line_fee(txn.kind, card_type(txn.card, credit_bins), amount)
    return {d: days[d] for d in sorted(days)}
