"""A refund of a sale made at another till of the merchant: the back office says what is still refundable.

This till's journal does not hold the sale, so the refund names it by what the customer's slip shows, its
RRN and date; the back office, which holds every till's journal, answers what the sale still has to refund
across the store (`AskOffice`), and the refund takes at most that.  The refund's `txn.begin` names the sale
by the same two (`original_rrn`, `original_date`), so the office counts it against the sale.  When the
office cannot be asked, `[refunds] office_unreachable` decides: "refuse", or "supervisor" — the refund,
already the supervisor's operation, goes ahead unchecked and the journal says so (`refund.unchecked`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from agent import catalogue
from agent.engine.common import Gen, begin, ensure_ready, send_financial
from agent.engine.effects import AskOffice, EngineError, Outcome
from agent.engine.port import ask
from agent.engine.requests import MANUAL_NO_CARD, Profile, refund_request
from agent.iso8583 import Message
from agent.iso8583.subfields import Field61
from agent.journal.states import LIVE_STATES

#: what a refund of another till's sale says, in English and Chinese (the engine's `texts` in shape)
OFFICE_TEXTS: catalogue.Texts = {
    "no_sale_at_merchant": ("no sale with RRN {rrn} on {day} at this merchant (the back office looked at every till)",
                            "本商户所有终端均无参考号 {rrn}（{day}）的消费（后台已核对）"),
    "office_refused": ("refund refused: RRN {rrn} on {day} is not in this terminal's journal and the back office "
                       "cannot be asked what is still refundable ({problem}); nothing was sent — try again when the "
                       "office is reachable, or refund at the till that made the sale",
                       "退货已拒绝：本终端流水中没有参考号 {rrn}（{day}）的消费，且无法向后台查询可退余额（{problem}）；"
                       "未发送任何交易——请待后台恢复后重试，或在原消费终端办理"),
    "amount_needed": ("the back office cannot be asked what RRN {rrn} on {day} has left to refund ({problem}): key "
                      "the amount to refund", "无法向后台查询参考号 {rrn}（{day}）的可退余额（{problem}）：请输入退货金额"),
    "store_nothing_left": ("nothing is left to refund on RRN {rrn} on {day} across the store (refunded in full, voided, "
                           "or its outcome not final yet)",
                           "参考号 {rrn}（{day}）全店已无可退余额（已全额退货、已撤销或结果未明）"),
    "store_too_large": ("refund of {amount} is more than the {refundable} still refundable on RRN {rrn} ({day}) "
                        "across the store", "退货金额 {amount} 超过参考号 {rrn}（{day}）的全店可退余额 {refundable}"),
    "store_refund_approved": ("Refund approved: {amount} back to the card of RRN {rrn} ({day}, a sale of another "
                              "till); refundable across the store: {left}.",
                              "退货成功：{amount} 退回参考号 {rrn}（{day}，其他终端的消费）的卡；全店可退余额 {left}。"),
    "unchecked_refund_approved": ("Refund approved: {amount} back to the card of RRN {rrn} ({day}, a sale of another "
                                  "till). The back office could not be asked ({problem}): what is refundable across "
                                  "the store was not checked — journaled as refund.unchecked.",
                                  "退货成功：{amount} 退回参考号 {rrn}（{day}，其他终端的消费）的卡。无法询问后台"
                                  "（{problem}）：未核对全店可退余额——已记入流水（refund.unchecked）。"),
    "store_repeat_refund": ("Not refunded: RRN {rrn} ({day}) already had {amount} refunded here a moment ago (refund "
                            "trace {trace}, {state}). To make a second identical refund on purpose, re-run with "
                            "--confirm-repeat.",
                            "未退款：参考号 {rrn}（{day}）刚刚已在本终端退款 {amount}（退货凭证号 {trace}，{state}）。"
                            "如确需再退一笔相同金额，请加 --confirm-repeat 重新执行。"),
}

#: the longest reason from the office kept in the journal's `refund.unchecked`
MAX_PROBLEM_CHARS = 300


_say = partial(catalogue.say, OFFICE_TEXTS)


def may_ask(request: Any) -> bool:
    """Whether a refund whose original this journal does not hold asks the back office: it names the sale by
    RRN and date, and a back office is set (`office_unreachable` is then its setting, else None)."""
    return request.office_unreachable is not None and request.trace is None and bool(request.rrn and request.date)


@dataclass(frozen=True)
class _SaleByReference:
    """What `refund_request` reads of an original, for a sale known only by its RRN (the date goes in 61)."""

    rrn: str
    currency: str
    auth_code: None = None
    created_at: float = 0.0


def refund_by_reference(profile: Profile, *, trace: int, batch: int, amount: int, rrn: str, date: str) -> Message:
    """The refund of a sale this journal does not hold: the message a refund found by RRN in the journal sends
    (37 the RRN, 61 zeros and the sale's date MMDD), from the RRN and date keyed; the auth code (38) is not known."""
    message = refund_request(profile, trace=trace, batch=batch, amount=amount,
                             original=_SaleByReference(rrn, profile.currency))
    return message.replace({61: Field61(orig_batch="000000", orig_trace="000000", orig_date=date).to_str()})


def refund_of_another_till(profile: Profile, request: Any, operator: Any) -> Gen:
    """Refund up to what the back office says is left on the sale with `request.rrn` on `request.date`."""
    language, rrn, date = profile.language, request.rrn, request.date
    day = f"{date[:2]}-{date[2:]}"
    answer = yield AskOffice(rrn, date)
    problem = answer.problem
    if problem is not None:
        if request.office_unreachable != "supervisor":
            raise EngineError(_say(language, "office_refused", rrn=rrn, day=day, problem=problem),
                              code="office_unreachable")
        if request.amount is None:
            raise EngineError(_say(language, "amount_needed", rrn=rrn, day=day, problem=problem), code="amount_needed")
        refundable, amount = None, request.amount
    elif answer.refundable is None:
        raise EngineError(_say(language, "no_sale_at_merchant", rrn=rrn, day=day), code="not_found")
    else:
        refundable = answer.refundable
        amount = refundable if request.amount is None else request.amount
        if refundable <= 0:
            raise EngineError(_say(language, "store_nothing_left", rrn=rrn, day=day), code="not_refundable")
        if amount > refundable:
            raise EngineError(_say(language, "store_too_large", amount=profile.money(amount), rrn=rrn, day=day,
                                   refundable=profile.money(refundable)), code="amount_too_large")
    if not request.confirm_repeat and profile.refund_repeat_seconds > 0:
        recent = yield from ask.recent_refunds_by_reference(rrn, date, window_seconds=profile.refund_repeat_seconds)
        repeats = [t for t in recent if t.amount == amount and t.state in LIVE_STATES]
        if repeats:
            earlier = repeats[-1]
            return Outcome("refund", "needs_confirmation",
                           _say(language, "store_repeat_refund", rrn=rrn, day=day, trace=f"{earlier.trace:06d}",
                                amount=profile.money(earlier.amount), state=earlier.state),
                           txn=earlier, details={"guard": "repeat_refund", "original_rrn": rrn, "original_date": date,
                                                 "earlier": earlier.id})
    yield from ensure_ready(profile)

    def build(trace_no: int, batch_no: int) -> Message:
        return refund_by_reference(profile, trace=trace_no, batch=batch_no, amount=amount, rrn=rrn, date=date)

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        "refund", trace=trace, batch=batch, message=message, amount=amount, currency=profile.currency, pan=None,
        entry_mode=MANUAL_NO_CARD, operator=operator.name, role=operator.role,
        client_request_id=request.client_request_id, original_rrn=rrn, original_date=date,
        # what the office said of the sale: the refund's card and its receipt's original voucher
        original_sale=None if problem is not None else {"card": answer.sale_card, "trace": answer.sale_trace,
                                                        "terminal": answer.sale_terminal}))
    txn, message = begun.txn, begun.message
    if problem is not None:  # before the message leaves: the journal says the office was not asked, and why
        yield from ask.record_event("refund.unchecked", {"rrn": rrn, "date": date, "amount": amount,
                                                         "why": problem[:MAX_PROBLEM_CHARS]},
                                    operator=operator.name, role=operator.role, txn_id=txn.id)
    updated, status, text = yield from send_financial(profile, txn, message, operation="refund")
    if status == "approved":
        text = (_say(language, "unchecked_refund_approved", amount=profile.money(amount), rrn=rrn, day=day,
                     problem=problem) if refundable is None else
                _say(language, "store_refund_approved", amount=profile.money(amount), rrn=rrn, day=day,
                     left=profile.money(refundable - amount)))
    return Outcome("refund", status, text, txn=updated, steps=(updated,),
                   details={"original_rrn": rrn, "original_date": date, "refundable_before": refundable,
                            "office": "unchecked" if refundable is None else "asked"})
