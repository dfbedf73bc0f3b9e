"""Running a fix: a multi-step fix planned in the journal before its first irreversible step.

`run_fix` reads the card first when a step needs one (the step that fails for ordinary reasons goes
before the one that cannot be undone), journals the plan, then runs each step still owed, recording its
progress.  Whatever stops it, the fix stays open and the outcome says what was done, what is still
owed and the one action that finishes it.  A fix is resumed by running it again: what each step did
is read back from its transactions, so a resume after a crash never repeats a step that went through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.engine.common import Gen, ensure_ready
from agent.engine.effects import CardFailure, EngineError, Outcome, ReadCard, ReleaseCard
from agent.engine.port import ask
from agent.engine.purchases import Operator, RefundRequest, VoidRequest, refund, void
from agent.engine.card.sale import SaleRequest, sale_with_card
from agent.engine.requests import Profile
from agent.engine.texts import say
from agent.journal.records import Txn
from agent.journal.states import STEP_KINDS, UNRESOLVED_TXN_STATES, FixState, TxnState

if TYPE_CHECKING:  # the journal's values, named in signatures only: no storage code is loaded
    from agent.journal.fixes import Fix, FixStep

#: a step's transaction in one of these states means the step went through
DONE_STATES = {"void": (TxnState.APPROVED,), "refund": (TxnState.APPROVED,),
               "sale": (TxnState.APPROVED, TxnState.VOIDED, TxnState.REFUNDED_PARTIALLY, TxnState.REFUNDED),
               # a pre-auth completion's fix (engine/preauth/fixes.py)
               "completion_void": (TxnState.APPROVED,),
               "completion": (TxnState.APPROVED, TxnState.VOIDED, TxnState.REFUNDED_PARTIALLY, TxnState.REFUNDED)}
#: the outcome of a step's transaction is not known yet (a reversal is under way)
PENDING_STATES = UNRESOLVED_TXN_STATES


@dataclass(frozen=True)
class StepState:
    op: str
    amount: int
    status: str  # done | pending | owed
    txn_ids: tuple[int, ...]
    of: int | None = None  # the transaction a void or refund applies to, when not the fix's original

    def as_step(self) -> FixStep:
        step = planned_step(self.op, self.amount, self.of)
        step["status"] = self.status
        return step


def planned_step(op: str, amount: int, of: int | None = None) -> FixStep:
    """A step of a fix's plan as the journal keeps it (`of` only when it applies to another than the original)."""
    step: FixStep = {"op": op, "amount": amount}
    if of:
        step["of"] = of
    return step


def progress(fix: Fix, txns: list[Txn]) -> tuple[StepState, ...]:
    """Each planned step's status, read from the transactions journaled for the fix (pure)."""
    used: set[int] = set()
    states = []
    for step in fix.steps:
        op, amount, of = step["op"], step["amount"], step.get("of")
        mine = [t for t in txns if t.kind == STEP_KINDS[op] and t.amount == amount and t.id not in used
                and (of is None or t.original_id == of)]
        used.update(t.id for t in mine)
        if any(t.state in DONE_STATES[op] for t in mine):
            status = "done"
        elif any(t.state in PENDING_STATES for t in mine):
            status = "pending"
        else:
            status = "owed"
        states.append(StepState(op, amount, status, tuple(t.id for t in mine), of))
    return tuple(states)


def resume_command(kind: str, original_id: int, original_trace: int) -> str:
    """The one command that finishes an open fix of this kind on this original (a completion's fix is resumed
    by its trace, like a sale's) — from the journal's records or, in the back office, from their events."""
    if kind == "duplicate_fix":
        return f"posagent duplicates --fix {original_id}"
    return f"posagent correct {original_trace:06d} --resume"


def standing(profile: Profile, fix: Fix, original: Txn, states: tuple[StepState, ...]) -> str:
    """Where the money stands: what was done, what is still owed, and the one action that finishes it."""
    language = profile.language
    done = [say(language, f"fix_done_{s.op}", amount=profile.money(s.amount)) for s in states if s.status == "done"]
    owed = [say(language, f"fix_owed_{s.op}", amount=profile.money(s.amount)) for s in states if s.status == "owed"]
    pending = [say(language, f"fix_pending_{s.op}", amount=profile.money(s.amount))
               for s in states if s.status == "pending"]
    parts = [" ".join(done) if done else say(language, "fix_nothing_done")]
    command = resume_command(fix.kind, original.id, original.trace)
    if pending:
        parts.append(say(language, "fix_pending", what="; ".join(pending), command=command))
    elif owed:
        key = "fix_action_card" if any(s.op == "sale" and s.status == "owed" for s in states) else "fix_action"
        parts.append(say(language, key, what="; ".join(owed), command=command))
    return " ".join(parts)


def _steps(states: tuple[StepState, ...]) -> list[FixStep]:
    return [s.as_step() for s in states]


def _open(profile: Profile, operation: str, fix: Fix, original: Txn, states: tuple[StepState, ...], lead: str,
          steps: tuple[Any, ...]) -> Outcome:
    text = " ".join(p for p in (lead, standing(profile, fix, original, states)) if p)
    return Outcome(operation, "open", text, txn=original, steps=steps,
                   details={"fix": fix.as_dict(), "original_id": original.id,
                            "owed": [s.as_step() for s in states if s.status != "done"],
                            "resume": resume_command(fix.kind, original.id, original.trace)})


def run_fix(profile: Profile, operator: Operator, *, operation: str, original: Txn, kind: str,
            plan: list[FixStep] | None = None, target: int | None = None, fix: Fix | None = None,
            test_card: str | None = None, lead: str = "", done_lead: str | None = None, step: Any = None) -> Gen:
    """Plan (when `fix` is None) and run the steps of a fix still owed; see the module notes.  `lead`
    introduces the outcome's text (`done_lead` instead when every step went through); `step` runs one step
    (default: void, refund, sale — a completion's fix adds its own)."""
    language = profile.language
    if fix is not None:
        states = progress(fix, (yield from ask.fix_txns(fix.id)))
        if any(s.status == "pending" for s in states):
            try:  # a step's reversal is still owed: deliver it first, then look again
                yield from ensure_ready(profile)
            except EngineError as exc:
                return _open(profile, operation, fix, original, states, str(exc), ())
            states = progress(fix, (yield from ask.fix_txns(fix.id)))
            if any(s.status == "pending" for s in states):
                return _open(profile, operation, fix, original, states, lead, ())
        planned = [(s.op, s.amount, s.of) for s in states if s.status == "owed"]
    else:
        assert plan is not None  # a new fix comes with its plan
        planned = [(s["op"], s["amount"], s.get("of")) for s in plan]
        states = ()
    card = None
    sale_amount = next((amount for op, amount, _ in planned if op == "sale"), None)
    if sale_amount is not None:  # the card first: before anything that cannot be undone
        card = yield ReadCard(sale_amount, test_card)
        problem = card.message if isinstance(card, CardFailure) else None
        if problem is None:
            fingerprint = yield from ask.fingerprint(card.pan)
            if original.pan_fingerprint is not None and fingerprint != original.pan_fingerprint:
                yield ReleaseCard()
                problem = say(language, "fix_other_card", trace=f"{original.trace:06d}", card=original.pan_masked)
        if problem is not None:
            if fix is None:
                raise EngineError(f"{problem} {say(language, 'fix_nothing_changed')}", code="card",
                                  txn_id=original.id)
            return _open(profile, operation, fix, original, states, problem, ())
    try:
        outcome = yield from _run_steps(profile, operator, operation=operation, original=original, kind=kind,
                                        planned=planned, target=target, fix=fix, card=card, lead=lead,
                                        done_lead=done_lead, step=step or run_step)
    except GeneratorExit:  # abandoned: the daemon wipes the card itself
        raise
    except BaseException:
        if card is not None:
            yield ReleaseCard()
        raise
    if card is not None:
        yield ReleaseCard()
    return outcome


def _run_steps(profile: Profile, operator: Operator, *, operation: str, original: Txn, kind: str,
               planned: list[tuple[str, int, int | None]], target: int | None, fix: Fix | None, card: Any, lead: str,
               done_lead: str | None, step: Any) -> Gen:
    if fix is None:
        steps = [planned_step(op, amount, of) for op, amount, of in planned]
        fix = yield from ask.plan_fix(kind, original.id, steps=steps, target=target, operator=operator.name,
                                      role=operator.role)
    made: tuple[Any, ...] = ()
    texts: list[str] = []
    for op, amount, of in planned:
        try:  # a step with `of` voids or refunds that transaction (an earlier correction's sale) instead
            applies_to = original if of is None else (yield from ask.get(of))
            result = yield from step(profile, operator, op, amount, applies_to, card)
        except EngineError as exc:  # refused before anything was sent (offline, rules): the fix stays open
            texts.append(str(exc))
            break
        made += result.steps
        texts.append(result.message)
        states = progress(fix, (yield from ask.fix_txns(fix.id)))
        if result.status != "approved":
            break
        if any(s.status != "done" for s in states):
            yield from ask.update_fix(fix.id, _steps(states))
    states = progress(fix, (yield from ask.fix_txns(fix.id)))
    if all(s.status == "done" for s in states):
        message = " ".join(p for p in (done_lead if done_lead is not None else lead, *texts) if p) or \
            standing(profile, fix, original, states)
        fix = yield from ask.end_fix(fix.id, FixState.DONE, steps=_steps(states), operator=operator.name, role=operator.role)
        return Outcome(operation, "approved", message, txn=made[-1] if made else original, steps=made,
                       details={"fix": fix.as_dict(), "original_id": original.id})
    fix = yield from ask.update_fix(fix.id, _steps(states))
    return _open(profile, operation, fix, original, states, " ".join(p for p in (lead, *texts) if p), made)


def run_step(profile: Profile, operator: Operator, op: str, amount: int, original: Txn, card: Any) -> Gen:
    """One step of a sale's fix: void the original, refund part of it, or charge the card read for the fix."""
    if op == "void":
        return (yield from void(profile, VoidRequest(original.trace), operator))
    if op == "refund":
        return (yield from refund(profile, RefundRequest(trace=original.trace, amount=amount, confirm_repeat=True,
                                                         name_other_parts=False), operator))
    yield from ensure_ready(profile)
    request = SaleRequest(amount, confirm_duplicate=True, confirm_unusual=True, kind="correction",
                          original_id=original.id, purchase_id=original.purchase_id or original.id)
    return (yield from sale_with_card(profile, request, operator, card))


def finish_if_done(profile: Profile, fix: Fix) -> Gen:
    """After a restart: a fix whose every step went through is marked done; returns its step states."""
    states = progress(fix, (yield from ask.fix_txns(fix.id)))
    if all(s.status == "done" for s in states):
        yield from ask.end_fix(fix.id, FixState.DONE, steps=_steps(states))
    return states


def summary(profile: Profile, fix: Fix, original: Txn, txns: list[Any]) -> dict[str, Any]:
    """One open fix for a list (status, settlement, keypad, console): what it is and where it stands."""
    states = progress(fix, txns)
    return {"id": fix.id, "kind": fix.kind, "original_id": original.id, "trace": original.trace,
            "card": original.pan_masked, "target": fix.target, "owed": [s.as_step() for s in states
                                                                        if s.status != "done"],
            "standing": standing(profile, fix, original, states),
            "resume": resume_command(fix.kind, original.id, original.trace)}


def summaries_plan() -> Gen:
    """Every open fix with its original and transactions (for plans: settlement, recovery)."""
    out = []
    for fix in (yield from ask.open_fixes()):
        original = yield from ask.get(fix.original_id)
        out.append((fix, original, (yield from ask.fix_txns(fix.id))))
    return out


def listing(profile: Profile, items: list[dict[str, Any]]) -> str:
    """"fix 3 (trace 000005): Voided 12.34. 10.00 still to charge: …" joined for one line of text."""
    return "; ".join(f"fix {c['id']} (trace {c['trace']:06d}): {c['standing']}" for c in items)
