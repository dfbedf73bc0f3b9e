"""Settlement (S5) and start-up recovery: both resumable from the journal at any step.

Settlement: totals shown and confirmed → reversals and advices flushed → batch frozen (settling) → 0500 with
field 48 → on imbalance every record is uploaded (0320), else the IC records → upload end → the batch
is settled and the next one opens.  A crash anywhere leaves the batch "settling" with the steps done
recorded; `resume_settlement` carries on from there.  The host treats a repeated 0500 for the same
batch as the same request, so re-sending it after a lost answer is safe.

Sales stored offline are forwarded first, like before any online message.  When the bank cannot take them now
(it answers their advices "not processed", or the advice cannot be built), the settlement asks; with the
supervisor's confirmation (`confirm_stored`) they move to the next batch in the commit that freezes this one
(its event names them), are forwarded later with the next batch's number in field 60 and settled with it.  A
stored sale whose advice went out without such an answer may already be booked in this batch: it never moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

from agent.engine import fixrun
from agent.engine.common import Gen, connect, ensure_ready, flush_reversals, masked, sign_on
from agent.engine.effects import Answer, EngineError, Exchange, NoAnswer, Notify, Outcome, SignOnNeeded
from agent.errors import PosagentError
from agent.engine.requests import FINANCIAL_KINDS, Profile
from agent.engine.port import ask
from agent.engine.texts import say
from agent.engine.wallet.messages import WalletSettings
from agent.iso8583 import Message
from agent.journal.records import Batch, Txn
from agent.journal.states import FixState
from agent.iso8583.matching import NETWORK_ECHO, answer_mismatch
from agent.iso8583.subfields import Field60, settlement_result

NMC_SETTLE = "201"
NMC_UPLOAD_MAGSTRIPE, NMC_UPLOAD_IC = "201", "203"
NMC_UPLOAD_END_ALL, NMC_UPLOAD_END_IC = "202", "207"
RESULT_TEXT = {"1": "balanced", "2": "unbalanced", "3": "error"}


@dataclass(frozen=True)
class SettleRequest:
    confirm: bool = False
    confirm_open_fixes: bool = False  # settle although some fixes are still open (listed when asked)
    confirm_stored: bool = False  # stored sales the bank cannot take now move to the next batch (supervisor)
    wallet_entry_mode: str = WalletSettings.entry_mode  # tells payment-code sales apart in the totals shown


def totals_text(profile: Profile, totals: Any, by_payment: Any = None) -> str:
    """The batch's totals; with `by_payment` (PaymentTotals) also card and payment code apart, when any
    payment code counts (field 48 carries only the sum)."""
    money = profile.money

    def one(t: Any) -> str:
        return say(profile.language, "totals", sales=t.debit_count, sales_amount=money(t.debit_amount),
                   refunds=t.credit_count, refunds_amount=money(t.credit_amount))
    text = one(totals)
    if by_payment is not None and (by_payment.wallet.debit_count or by_payment.wallet.credit_count):
        text += say(profile.language, "totals_split", card=one(by_payment.card), wallet=one(by_payment.wallet))
    return text


def settle(profile: Profile, request: SettleRequest, operator: Any) -> Gen:
    recovery = yield from ask.in_doubt()
    if recovery.settling is not None:
        if not request.confirm:
            return Outcome("settle", "needs_confirmation",
                           say(profile.language, "settle_resume", batch=f"{recovery.settling.number:06d}"),
                           details={"batch": recovery.settling.number, "resume": True})
        return (yield from resume_settlement(profile, recovery.settling, request.wallet_entry_mode))
    batch = yield from ask.open_batch()
    totals = yield from ask.batch_totals(batch.number)
    by_payment = yield from ask.payment_totals(batch.number, wallet_entry_mode=request.wallet_entry_mode)
    open_fixes = [fixrun.summary(profile, *item) for item in (yield from fixrun.summaries_plan())]
    blocked = say(profile.language, "settle_open_fixes", count=len(open_fixes),
                  list=fixrun.listing(profile, open_fixes)) if open_fixes else ""
    if not request.confirm:
        text = say(profile.language, "settle_confirm", batch=f"{batch.number:06d}",
                   totals=totals_text(profile, totals, by_payment)) + (yield from manual_note(profile, batch.number))
        return Outcome("settle", "needs_confirmation", f"{blocked} {text}" if blocked else text,
                       details={"batch": batch.number, "totals": totals.as_dict(), "by_payment": by_payment.as_dict(),
                                "open_fixes": open_fixes})
    if open_fixes and not request.confirm_open_fixes:
        raise EngineError(blocked, code="open_fixes")
    move = yield from _forward_or_move(profile, request, batch)
    if isinstance(move, Outcome):
        return move
    unresolved = [t for t in recovery.unanswered + recovery.in_doubt if t.batch == batch.number]
    if unresolved:
        raise EngineError(say(profile.language, "settle_unresolved", count=len(unresolved)), code="unresolved")
    frozen = yield from ask.begin_settlement(batch.number, move_stored=move, operator=operator.name, role=operator.role)
    yield from ask.record_event("settlement_started", {"batch": batch.number}, operator=operator.name, role=operator.role)
    return (yield from resume_settlement(profile, frozen, request.wallet_entry_mode))


def _forward_or_move(profile: Profile, request: SettleRequest, batch: Batch) -> Gen:
    """What is owed goes first.  When the bank cannot take the batch's stored sales now: the question (an
    Outcome naming how many, how much and what confirming does), or True with the supervisor's confirmation
    (they move to the next batch); False when everything went."""
    try:
        yield from ensure_ready(profile)
        return False
    except EngineError as exc:
        if exc.code != "advice_pending":
            raise
        problem = exc
    owed = yield from ask.stored_owed(batch.number)
    if not owed:
        raise problem
    sent = [o for o in owed if o["maybe_booked"]]
    if sent:
        raise EngineError(say(profile.language, "settle_stored_sent", traces=", ".join(f"{o['trace']:06d}" for o in sent),
                              batch=f"{batch.number:06d}", problem=sent[0]["last_error"] or problem),
                          code="advice_pending")
    amount = sum(o["amount"] for o in owed)
    if not request.confirm_stored:
        why = next((f"{o['trace']:06d}: {o['last_error']}" for o in owed if o["last_error"]), None)
        return Outcome("settle", "needs_confirmation", say(
            profile.language, "settle_stored_confirm", count=len(owed), batch=f"{batch.number:06d}",
            amount=profile.money(amount),
            problem=say(profile.language, "settle_stored_why", why=why) if why else problem),
            details={"guard": "stored_sales", "batch": batch.number,
                     "stored": {"count": len(owed), "amount": amount, "traces": [o["trace"] for o in owed]}})
    return True


def _flush_owed(profile: Profile, batch: Batch) -> Gen:
    """Reversals and advices before the settlement's messages; an advice the bank cannot take holds the
    settlement only when it is this batch's (those moved to the next batch go before that one settles)."""
    try:
        yield from flush_reversals(profile)
    except EngineError as exc:
        if exc.code != "advice_pending" or (yield from ask.stored_owed(batch.number)):
            raise


def _settlement_message(profile: Profile, trace: int, batch: Any) -> Message:
    return Message("0500", {11: f"{trace:06d}", 41: profile.terminal_id, 42: profile.merchant_id,
                            48: batch.totals.field48(), 49: profile.currency,
                            60: Field60(tx_type="00", batch=f"{batch.number:06d}", nmc=NMC_SETTLE).to_str()})


def _exchange_network(profile: Profile, request: Message, what: str) -> Gen:
    result = yield Exchange(request)
    if isinstance(result, NoAnswer):
        raise EngineError(say(profile.language, "settle_incomplete", what=what, detail=result.detail),
                          code="settlement_incomplete")
    assert isinstance(result, Answer)
    response = result.message
    if answer_mismatch(request, response, NETWORK_ECHO) is not None:
        raise EngineError(say(profile.language, "settle_mismatch", what=what),
                          code="settlement_incomplete")
    code = response.get(39)
    if code not in (None, "00") or (request.mti == "0500" and not isinstance(response.get(48), str)):
        # refused (a settlement answer without its result is no result): the bank settled or took nothing,
        # so the batch stays "settling" and the next settle sends the same step again
        raise EngineError(say(profile.language, "settle_refused", what=what, code=code or "—"),
                          code="settlement_incomplete")
    return response


def resume_settlement(profile: Profile, batch: Any, wallet_entry_mode: str = WalletSettings.entry_mode) -> Gen:
    yield from connect(profile)
    yield from _flush_owed(profile, batch)
    if batch.result_domestic is None:
        trace = yield from ask.take_trace("settlement")
        request = _settlement_message(profile, trace, batch)
        yield Notify(say(profile.language, "settling", batch=f"{batch.number:06d}"))
        response = yield from _exchange_network(profile, request, say(profile.language, "what_settlement"))
        domestic, foreign = settlement_result(response[48])
        yield from ask.record_settlement_result(batch.number, domestic=domestic, foreign=foreign, response=masked(response))
        batch = yield from ask.get_batch(batch.number)
    balanced = batch.result_domestic == "1" and batch.result_foreign in ("1", "0", None)
    records = yield from ask.upload_pending(batch.number, ic_only=balanced)
    for txn in records:
        yield Notify(say(profile.language, "uploading", trace=f"{txn.trace:06d}"))
        request = _upload_message(profile, batch, txn)
        yield from _exchange_network(profile, request, say(profile.language, "what_upload", trace=f"{txn.trace:06d}"))
        yield from ask.mark_uploaded(txn.id)
    uploaded = yield from ask.uploaded_count(batch.number)
    trace = yield from ask.take_trace("settlement")
    end = Message("0320", {11: f"{trace:06d}", 41: profile.terminal_id, 42: profile.merchant_id,
                           48: f"{uploaded:04d}",
                           60: Field60(tx_type="00", batch=f"{batch.number:06d}",
                                       nmc=NMC_UPLOAD_END_IC if balanced else NMC_UPLOAD_END_ALL).to_str()})
    yield from _exchange_network(profile, end, say(profile.language, "what_upload_end"))
    settled = yield from ask.finish_settlement(batch.number)
    next_batch = yield from ask.open_batch()
    result = RESULT_TEXT.get(batch.result_domestic or "3", "error")
    by_payment = yield from ask.payment_totals(batch.number, wallet_entry_mode=wallet_entry_mode)
    text = say(profile.language, "settled", batch=f"{batch.number:06d}",
               result=say(profile.language, f"result_{result}"),
               totals=totals_text(profile, batch.totals, by_payment), uploaded=uploaded,
               next=f"{next_batch.number:06d}") + (yield from manual_note(profile, batch.number))
    moved = yield from ask.moved_out(batch.number)
    if moved is not None:
        moved = {"to": moved["to"], "count": moved["count"], "amount": moved["amount"]}
        text += say(profile.language, "settled_moved", count=moved["count"], next=f"{moved['to']:06d}",
                    amount=profile.money(moved["amount"]))
    return Outcome("settle", "done", text, details={"batch": settled.number, "result": result,
                                                     "uploaded": uploaded, "next_batch": next_batch.number,
                                                     "settled_at": settled.settled_at,
                                                     "totals": batch.totals.as_dict(),
                                                     "by_payment": by_payment.as_dict(),
                                                     **({"moved": moved} if moved is not None else {})})


def _upload_message(profile: Profile, batch: Batch, txn: Txn) -> Message:
    code, condition, _, _ = FINANCIAL_KINDS["sale" if txn.kind == "correction" else txn.kind]
    ic = (txn.entry_mode or "").startswith("05")
    fields: dict[int, str | bytes] = {
        3: code, 4: f"{txn.amount:012d}", 11: f"{txn.trace:06d}", 22: txn.entry_mode or "012", 25: condition,
        41: profile.terminal_id, 42: profile.merchant_id, 49: txn.currency,
        60: Field60(tx_type="00", batch=f"{batch.number:06d}",
                    nmc=NMC_UPLOAD_IC if ic else NMC_UPLOAD_MAGSTRIPE).to_str()}
    if txn.rrn:
        fields[37] = txn.rrn
    if txn.auth_code:
        fields[38] = txn.auth_code
    return Message("0320", fields)


def recover(profile: Profile) -> Gen:
    """At start: every request without an outcome is reversed; queued reversals and an interrupted
    settlement are resumed when the host can be reached (otherwise they wait, and still go first)."""
    recovery = yield from ask.in_doubt()
    for txn in recovery.unanswered:
        yield from ask.fail(txn.id, reason="98", error="no outcome recorded before the agent stopped")
    done = {"reversal_queued": len(recovery.unanswered), "settlement_resumed": False}
    try:
        yield from connect(profile)
        if recovery.settling is not None:  # what is owed goes first there (a moved sale's advice may wait)
            batch = yield from ask.get_batch(recovery.settling.number)
            yield from resume_settlement(profile, batch)
            done["settlement_resumed"] = True
        else:
            yield from flush_reversals(profile)
        if (yield SignOnNeeded()):  # keys missing or stale: sign on before the first customer
            yield from sign_on(profile)
            done["signed_on"] = True
    except PosagentError as exc:  # offline, or the host refused: the next operation tries again
        left = yield from _fixes_after_restart(profile)
        return Outcome("recover", "in_doubt", f"recovery not finished: {exc}{left}", details=done)
    left = yield from _fixes_after_restart(profile)
    return Outcome("recover", "done", f"journal clean: nothing in doubt{left}", details=done)


def _fixes_after_restart(profile: Profile) -> Gen:
    """Fixes interrupted by a stop: one whose every step went through is marked done, the rest reported."""
    still = []
    for fix, original, txns in (yield from fixrun.summaries_plan()):
        yield from fixrun.finish_if_done(profile, fix)
        if (yield from ask.get_fix(fix.id)).state == FixState.OPEN:
            still.append(fixrun.summary(profile, fix, original, (yield from ask.fix_txns(fix.id))))
    if not still:
        return ""
    return "; " + say(profile.language, "fixes_open", count=len(still), list=fixrun.listing(profile, still))


def manual_note(profile: Profile, batch_number: int) -> Generator[Any, Any, str]:
    """What a settlement says of the batch's stored sales needing manual handling ("" when none): the bank was
    never told of them, so they are in neither side's totals nor the batch upload — said, never silently dropped."""
    items = [t for t in (yield from ask.advices_needing_manual_handling()) if t["batch"] == batch_number]
    if not items:
        return ""
    return say(profile.language, "settle_manual", count=len(items),
               amount=profile.money(sum(t["amount"] for t in items)))
