"""Fixes: a multi-step fix whose whole plan the journal holds before its first irreversible step.

A correction (void → sale on the same card, refund of a difference, a linked sale), a duplicate's
repair and a pre-auth completion's correction (completion void → new completion) are fixes.  A fix is planned
(every step, in order, with its amount) in one commit before anything is sent; each step's outcome
updates it; it ends ``done`` (every step approved) or ``closed`` by a supervisor with the reason.
Until then it is ``open`` and every interface says what was done, what is still owed and the one
action that finishes it.

Steps reference journal transactions: a step's transactions are those linked to the fix's original
(``original_id``; for a completion's fix also to its pre-auth, which the new completion names; for a step
with ``of``, to that transaction — a refund of an earlier correction's sale)
journaled after the fix was planned (``id > watermark``) with the step's kind — so
what a step did is read from the transactions themselves, which survive a kill between any two
commits; the step list stored here is the plan and the last known progress.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from agent.journal.errors import JournalError, NotFound
from agent.journal.records import Txn, txn_from_row
from agent.journal.states import FIX, FIX_EVENTS, FIX_ID_KEYS, STEP_KINDS, FixState
from agent.journal.store import Core, Store
from agent.journal.transactions import TXN_SELECT, Transactions

if TYPE_CHECKING:
    import sqlite3

FIX_KINDS = ("correction", "duplicate_fix", "completion_fix")
MAX_STEPS = 8
MAX_REASON = 200
#: how a fix ends: the state the caller names and the event of the `FIX` table that leads there
END_EVENTS = {FixState.DONE: "finish", FixState.CLOSED: "close"}


class FixStep(TypedDict):
    """One step of a fix's plan: `op` void|sale|refund (a completion's fix: completion_void|completion), its
    `amount`, `of` the id of the transaction a void or refund applies to when it is not the original (an
    earlier correction's sale), and `status` planned|done|pending|owed once journaled."""

    op: str
    amount: int
    of: NotRequired[int]
    status: NotRequired[str]


@dataclass(frozen=True)
class Fix:
    """A planned multi-step fix of transaction `original_id`; `target` is what the original's card should
    stand charged for it once the fix is done (minor units)."""

    id: int
    kind: str
    state: str  # a FixState value: open, done, closed
    original_id: int
    target: int | None
    steps: tuple[FixStep, ...]
    watermark: int
    reason: str | None
    operator: str
    role: str
    created_at: float
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        return {name: (list(getattr(self, name)) if name == "steps" else getattr(self, name))
                for name in self.__dataclass_fields__}


def fix_from_row(row: Any) -> Fix:
    return Fix(id=row["id"], kind=row["kind"], state=row["state"], original_id=row["original_id"],
               target=row["target"], steps=tuple(json.loads(row["steps"])), watermark=row["watermark"],
               reason=row["reason"], operator=row["operator"], role=row["role"], created_at=row["created_at"],
               updated_at=row["updated_at"])


def _check_steps(steps: Any) -> list[FixStep]:
    if not isinstance(steps, (list, tuple)) or not 1 <= len(steps) <= MAX_STEPS:
        raise JournalError(f"a fix needs 1 to {MAX_STEPS} steps, not {steps!r}")
    out: list[FixStep] = []
    for n, step in enumerate(steps, 1):
        op, amount = (step.get("op"), step.get("amount")) if isinstance(step, dict) else (None, None)
        if op not in STEP_KINDS:
            raise JournalError(f"fix step {n}: op must be one of {', '.join(STEP_KINDS)}, not {op!r}")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise JournalError(f"fix step {n}: amount must be a positive whole number of minor units, "
                               f"not {amount!r}")
        of = step.get("of")
        if of is not None and (isinstance(of, bool) or not isinstance(of, int) or of <= 0):
            raise JournalError(f"fix step {n}: of must name a transaction by its id, not {of!r}")
        checked: FixStep = {"op": op, "amount": amount}
        if of is not None:
            checked["of"] = of
        checked["status"] = str(step.get("status") or "planned")
        out.append(checked)
    return out


def _plan_of(steps: list[FixStep]) -> list[tuple[str, int, int | None]]:
    """What a plan is, without its progress: each step's operation, amount and the transaction it applies to."""
    return [(s["op"], s["amount"], s.get("of")) for s in steps]


class Fixes(Store):
    """The `fixes` table: plan, progress and end multi-step fixes."""

    def __init__(self, core: Core, txns: Transactions):
        super().__init__(core)
        self._txns = txns

    def plan_fix(self, kind: str, original_id: int, *, steps: list[FixStep], target: int | None,
                 operator: str, role: str) -> Fix:
        """Journal the whole plan of a fix before its first step; refused while the original has an open one."""
        if kind not in FIX_KINDS:
            raise JournalError(f"fix kind must be one of {', '.join(FIX_KINDS)}, not {kind!r}")
        planned = _check_steps(steps)
        with self._write(f"plan a {kind}") as w:
            self._txns.row(original_id)  # NotFound names the id
            busy = self._conn.execute(f"SELECT id FROM fixes WHERE original_id = ? AND state = '{FixState.OPEN}'",
                                      (original_id,)).fetchone()
            if busy is not None:
                raise JournalError(f"transaction {original_id} already has open fix {busy[0]}; resume or close "
                                   "it first", txn_id=original_id)
            watermark = self._conn.execute("SELECT coalesce(max(id), 0) FROM transactions").fetchone()[0]
            now = self._clock()
            row = w.insert("fixes", {"kind": kind, "state": FIX.initial, "original_id": original_id, "target": target,
                                     "steps": json.dumps(planned), "watermark": watermark, "reason": None,
                                     "operator": operator, "role": role, "created_at": now, "updated_at": now})
            w.record(FIX_EVENTS["plan"][0], original_id, operator, role,
                     {FIX_ID_KEYS[0]: row["id"], "kind": kind, "steps": planned, "target": target})
        return fix_from_row(row)

    def update_fix(self, fix_id: int, steps: list[FixStep]) -> Fix:
        """Record each step's progress (same plan: op and amount may not change)."""
        updated = _check_steps(steps)
        with self._write(f"update fix {fix_id}") as w:
            row = self._fix_row(fix_id)
            FIX.step(row["state"], "record_step", fix_id)
            plan = json.loads(row["steps"])
            if _plan_of(plan) != _plan_of(updated):
                raise JournalError(f"fix {fix_id}: the plan's steps cannot change, only their progress")
            row = w.update("fixes", fix_id, {"steps": json.dumps(updated), "updated_at": self._clock()})
            w.record(FIX_EVENTS["step"][0], row["original_id"], None, "system",
                     {FIX_ID_KEYS[0]: fix_id, "steps": [s["status"] for s in updated]})
        return fix_from_row(row)

    def end_fix(self, fix_id: int, state: FixState, *, reason: str | None = None, steps: list[FixStep] | None = None,
                operator: str = "system", role: str = "system") -> Fix:
        """Finish a fix: ``done`` (every step approved) or ``closed`` (a supervisor's decision, with why)."""
        event = END_EVENTS.get(state)
        if event is None:
            raise JournalError(f"a fix ends {FixState.DONE} or {FixState.CLOSED}, not {str(state)!r}")
        if state == FixState.CLOSED:
            reason = (reason or "").strip()
            if not reason or len(reason) > MAX_REASON:
                raise JournalError(f"closing fix {fix_id} needs a reason of 1 to {MAX_REASON} characters "
                                   "(what was done instead, e.g. \"customer paid cash\")")
        with self._write(f"end fix {fix_id}") as w:
            row = self._fix_row(fix_id)
            state = FIX.step(row["state"], event, fix_id)
            changes: dict[str, Any] = {"state": state, "reason": reason, "updated_at": self._clock()}
            if steps is not None:
                changes["steps"] = json.dumps(_check_steps(steps))
            row = w.update("fixes", fix_id, changes)
            w.record(FIX_EVENTS[state][0], row["original_id"], operator, role,
                     {FIX_ID_KEYS[0]: fix_id, "reason": reason})
        return fix_from_row(row)

    def get_fix(self, fix_id: int) -> Fix:
        return fix_from_row(self._fix_row(fix_id))

    def open_fixes(self) -> list[Fix]:
        """Every fix still open, oldest first."""
        return [fix_from_row(r) for r in self._conn.execute(
            f"SELECT * FROM fixes WHERE state = '{FixState.OPEN}' ORDER BY id")]

    def fixes_of(self, original_id: int) -> list[Fix]:
        """Every fix of one original, oldest first."""
        return [fix_from_row(r) for r in self._conn.execute(
            "SELECT * FROM fixes WHERE original_id = ? ORDER BY id", (original_id,))]

    def open_fix_of(self, original_id: int) -> Fix | None:
        row = self._conn.execute(f"SELECT * FROM fixes WHERE original_id = ? AND state = '{FixState.OPEN}'",
                                 (original_id,)).fetchone()
        return None if row is None else fix_from_row(row)

    def all_fixes(self) -> list[Fix]:
        return [fix_from_row(r) for r in self._conn.execute("SELECT * FROM fixes ORDER BY id")]

    def fix_txns(self, fix_id: int) -> list[Txn]:
        """The transactions the fix's steps journaled (linked to its original, after it was planned)."""
        row = self._fix_row(fix_id)
        linked = [row["original_id"], *sorted({s["of"] for s in json.loads(row["steps"]) if s.get("of")})]
        if row["kind"] == "completion_fix":  # the new completion hangs from the pre-auth, not from the one it replaces
            preauth_id = self._conn.execute("SELECT original_id FROM transactions WHERE id = ?",
                                            (row["original_id"],)).fetchone()[0]
            if preauth_id is not None:
                linked.append(preauth_id)
        marks = ", ".join("?" * len(linked))
        return [txn_from_row(r) for r in self._conn.execute(
            TXN_SELECT + f" WHERE t.original_id IN ({marks}) AND t.id > ? ORDER BY t.id", (*linked, row["watermark"]))]

    def _fix_row(self, fix_id: int) -> sqlite3.Row:
        if isinstance(fix_id, bool) or not isinstance(fix_id, int):
            raise JournalError(f"fix id must be a whole number, not {fix_id!r}")
        row: sqlite3.Row | None = self._conn.execute("SELECT * FROM fixes WHERE id = ?", (fix_id,)).fetchone()
        if row is None:
            raise NotFound(f"no fix {fix_id} in the journal")
        return row
