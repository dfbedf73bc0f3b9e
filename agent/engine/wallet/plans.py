"""Payment-code (wallet) sale: the paying state, as a sans-IO plan and one table of its transitions.

Order of a wallet sale: check the code (nothing leaves for a code that is not one), refuse a second
payment while one is unresolved, get ready (reversals first), journal the intent with the code masked
and fingerprinted (the journal's "sending" row is the armed cancel), send.  On "paying" (the customer
confirms on the phone) query the order by its trace every `query_interval` seconds, each query
journaled before it is sent, until the answer is final or `deadline` passes or the cashier presses
CANCEL; then cancel the order — the cancel is the sale's reversal, so it is queued, retried and sent
before anything else, survives a restart, and a cancel that finds the order paid undoes the payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent import catalogue
from agent.engine.amount_guards import check_amount
from agent.engine.common import Gen, begin, reverse_now, connect, ensure_ready, masked
from agent.engine.effects import (Answer, EngineError, Exchange, NoAnswer, Notify, Outcome,
                                  SignOnNeeded)
from agent.engine.port import ask
from agent.engine.purchases import Operator
from agent.engine.requests import Profile, Verdict, check_response
from agent.engine.responses import describe
from agent.iso8583 import Message
from agent.engine.wallet.messages import WalletSettings, wallet_query_request, wallet_sale_request
from agent.machine import Machine
from agent.progress import Progress
from agent.paycodes import PaymentCodeError, Wallet, classify, mask_code
from agent.journal.records import Txn
from agent.journal.states import LIVE_STATES, TxnState


# ---------------------------------------------------------------- effects (plan → daemon)

@dataclass(frozen=True)
class ScanCode:
    """Read one payment code from the scanner.  Result: the code text, or a `ScanFailure`."""

    timeout: float


@dataclass(frozen=True)
class ScanFailure:
    message: str  # cashier-facing


@dataclass(frozen=True)
class Wait:
    """Wait `seconds` (0: just tell the time), unless the cashier presses CANCEL first.

    Result: `Waited`; `now` is a monotonic time in seconds."""

    seconds: float
    text: str = ""


@dataclass(frozen=True)
class Waited:
    now: float
    cancelled: bool = False


# ---------------------------------------------------------------- the paying state, one table

class OrderState(StrEnum):
    """A wallet order's state while the sale runs; the final two are the transaction's outcome."""

    SENT = "sent"
    PAYING = "paying"  # the customer confirms on the phone
    CANCELLING = "cancelling"  # its cancel (the sale's reversal) is owed
    APPROVED = TxnState.APPROVED.value
    DECLINED = TxnState.DECLINED.value


O = OrderState
#: Events: the classified answer to the sale or a query, the clock, CANCEL.
ORDER: Machine[OrderState] = Machine(
    "wallet order", OrderState, ("paid", "declined", "paying", "no_answer", "deadline", "cancel_key"), {
        (O.SENT, "paid"): O.APPROVED,
        (O.SENT, "declined"): O.DECLINED,
        (O.SENT, "paying"): O.PAYING,
        (O.SENT, "no_answer"): O.CANCELLING,
        (O.PAYING, "paid"): O.APPROVED,
        (O.PAYING, "declined"): O.DECLINED,
        (O.PAYING, "paying"): O.PAYING,
        (O.PAYING, "no_answer"): O.PAYING,  # a lost query answer: ask again, the deadline still holds
        (O.PAYING, "deadline"): O.CANCELLING,
        (O.PAYING, "cancel_key"): O.CANCELLING,
    }, initial=O.SENT)


@dataclass(frozen=True)
class WalletSaleRequest:
    amount: int
    code: str | None = None  # None: read it from the scanner
    confirm_duplicate: bool = False
    confirm_unusual: bool = False
    client_request_id: str | None = None
    kind: str = "sale"  # "correction" for a linked payment of a difference
    original_id: int | None = None
    purchase_id: int | None = None

    def __repr__(self) -> str:  # never show the code in a traceback or a log
        return f"WalletSaleRequest(amount={self.amount}, code={'set' if self.code else None})"


TEXTS: catalogue.Texts = {
    "bad_code": ("{error}", "{error}"),
    "unresolved": ("Wallet payment trace {trace} is not resolved yet: finish it before taking another payment",
                   "扫码交易 流水{trace} 尚未完成，请先处理后再收款"),
    "same_request": ("This sale already has a wallet payment (trace {trace}, {state}): not paid again",
                     "本笔销售已有扫码支付（流水{trace}，{state}），不重复收款"),
    "duplicate": ("Same wallet code and amount {amount} as trace {trace}: confirm to charge again",
                  "同一付款码同金额 {amount} 与流水{trace}相同：确认后才再次收款"),
    "waiting": ("Waiting for the customer to confirm on the phone ({left} s) — CANCEL to cancel",
                "等待顾客在手机上确认（{left}秒）— 按取消键撤销"),
    "approved": ("Paid {amount} by {wallet} {code}, trace {trace}", "{wallet} {code} 已支付 {amount}，流水{trace}"),
    "declined": ("Wallet payment declined: {reason}", "扫码支付被拒：{reason}"),
    "cancelled": ("Wallet payment cancelled ({why}): nothing charged", "扫码支付已撤销（{why}）：未扣款"),
    "not_completed": ("Wallet payment not finished ({why}): the cancel is queued and goes first",
                      "扫码支付未完成（{why}）：撤销已排队，优先发送"),
    "why_deadline": ("the customer did not confirm within {seconds:g} s", "顾客 {seconds:g} 秒内未确认"),
    "why_cancel_key": ("cancelled by the cashier", "收银员取消"),
    "why_no_answer": ("no valid answer from the bank", "银行无有效应答"),
    "scanning": ("Scan the customer's payment code", "请扫描顾客付款码"),
    "undercharged": ("Undercharged trace {trace}: collected the difference {amount} with a new code, linked to it. ",
                     "流水{trace}少收：已用新付款码补收差额 {amount}，与原交易关联。"),
    "not_correctable": ("trace {trace} is {state}: there is no payment to correct", "流水{trace}状态为{state}：没有可更正的支付"),
    "nothing_to_correct": ("trace {trace} already charged {amount}: nothing to correct", "流水{trace}已收 {amount}：无需更正"),
    "undercharge_needs_code": ("trace {trace} was paid by payment code: to collect the missing {amount}, the "
                               "customer shows a new payment code — `posagent correct {trace} --amount {right} "
                               "--code CODE` (or `--scan`)",
                               "流水{trace}为扫码支付：补收差额 {amount} 需顾客出示新的付款码——`posagent correct {trace} --amount {right} "
                               "--code 付款码`（或 `--scan`）"),
    "resale_needs_code": ("trace {trace} was paid by payment code: it cannot be voided and paid again without the "
                          "customer's new code — correct it without --method resale (the difference is refunded to "
                          "the wallet)",
                          "流水{trace}为扫码支付：没有顾客的新付款码不能撤销后重新收款——请不带 --method resale 更正（差额退回钱包）"),
}


def wallet_say(profile: Profile, key: str, **values: Any) -> str:
    return catalogue.say(TEXTS, profile.language, key, **values)



def wallet_sale(profile: Profile, settings: WalletSettings, request: WalletSaleRequest, operator: Operator,
                *, scan_timeout: float = 30.0) -> Gen:
    code = request.code
    if code is not None:  # a code that is not one is refused before any question
        _classify_code(code)
    if request.kind == "sale":  # before the customer is asked for a code; a fix's payment is never stopped halfway
        question = yield from check_amount(profile, "wallet_sale", request.amount, confirmed=request.confirm_unusual)
        if question is not None:
            return question
    if code is None:
        yield Notify(Progress(wallet_say(profile, "scanning"), "scanning"))
        code = yield ScanCode(scan_timeout)
        if isinstance(code, ScanFailure):
            raise EngineError(code.message, code="scan")
    wallet = _classify_code(code)
    if request.client_request_id:
        same = yield from ask.find_request(request.client_request_id)
        if same is not None:
            return Outcome("wallet_sale", "repeat", wallet_say(profile, "same_request", trace=f"{same.trace:06d}",
                                                         state=same.state), txn=same, steps=(same,))
    stranded = yield from ask.in_doubt()
    if stranded.unanswered:
        raise EngineError(wallet_say(profile, "unresolved", trace=f"{stranded.unanswered[0].trace:06d}"),
                          code="original_uncertain", txn_id=stranded.unanswered[0].id)
    if not request.confirm_duplicate and profile.duplicate_window_seconds > 0:
        fingerprint = yield from ask.fingerprint(code)
        earlier = yield from ask.duplicates_of(fingerprint, request.amount, window_seconds=profile.duplicate_window_seconds)
        earlier = [t for t in earlier if t.state in LIVE_STATES]
        if earlier:
            return Outcome("wallet_sale", "needs_confirmation",
                           wallet_say(profile, "duplicate", amount=profile.money(request.amount),
                                trace=f"{earlier[-1].trace:06d}"),
                           txn=earlier[-1], details={"guard": "duplicate", "earlier": [t.id for t in earlier]})
    yield from ensure_ready(profile)

    def build(trace: int, batch: int) -> Message:
        return wallet_sale_request(profile, settings, trace=trace, batch=batch, amount=request.amount, code=code)

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        request.kind, trace=trace, batch=batch, message=message, amount=request.amount, currency=profile.currency,
        pan=code, entry_mode=settings.entry_mode, operator=operator.name, role=operator.role,
        original_id=request.original_id, purchase_id=request.purchase_id, client_request_id=request.client_request_id))
    txn, message = begun.txn, begun.message
    result = yield Exchange(message)
    details = {"wallet": wallet.name}
    event, verdict, response = _classify(settings, message, result)
    state = ORDER.step(OrderState.SENT, event)
    if state == OrderState.CANCELLING:  # no valid answer to the sale itself
        return (yield from _cancel(profile, settings, txn, verdict, "why_no_answer", details))
    if state == OrderState.PAYING:
        yield from ask.record_event("wallet.paying", {"trace": txn.trace, "code": response.get(39)}, operator=operator.name, role=operator.role, txn_id=txn.id)
        state, response, why = yield from _query_until_final(profile, settings, txn, operator)
        details["queries"] = why.pop("queries", 0)
        if state == OrderState.CANCELLING:
            return (yield from _cancel(profile, settings, txn, Verdict(False, "06", why["text"]), why["key"],
                                       details))
    return (yield from _finish(profile, settings, txn, state, response, wallet, details))


def _classify_code(code: str) -> Wallet:
    try:
        return classify(code)
    except PaymentCodeError as exc:
        raise EngineError(str(exc), code="bad_code") from None


#: answers to a status query that say nothing about the order (sign on again, MAC or format error, not
#: supported, order not found, system error): treated like a lost answer, never as a decline
QUERY_NOT_FINAL = frozenset({"77", "A0", "30", "40", "25", "94", "96"})


def _classify(settings: WalletSettings, request: Message, result: Answer | NoAnswer) -> tuple[str, Verdict, Any]:
    """paid / declined / paying / no_answer, with the verdict on the answer and the answer itself."""
    if isinstance(result, NoAnswer):
        return "no_answer", Verdict(False, "98", result.detail), None
    verdict = check_response(request, result.message, mac_valid=result.mac_valid)
    if not verdict.valid:
        return "no_answer", verdict, result.message
    code = result.message.get(39)
    if code == settings.paying_code:
        return "paying", verdict, result.message
    if request.mti == settings.query_mti and code in QUERY_NOT_FINAL:
        return "no_answer", Verdict(False, "06", f"status query answered {code}"), result.message
    return ("paid" if code == "00" else "declined"), verdict, result.message


def _query_until_final(profile: Profile, settings: WalletSettings, txn: Txn, operator: Operator) -> Gen:
    start = (yield Wait(0)).now
    state, queries, lost = OrderState.PAYING, 0, 0
    while True:
        left = settings.deadline - ((yield Wait(0)).now - start)
        if left <= 0:
            state = ORDER.step(state, "deadline")
            return state, None, {"key": "why_deadline", "queries": queries, "lost": lost,
                                 "text": f"customer did not confirm within {settings.deadline:g} s"}
        seconds = int(left + 0.999)
        waited = yield Wait(min(settings.query_interval, left),
                            Progress(wallet_say(profile, "waiting", left=seconds), "paying", seconds))
        if waited.cancelled:
            state = ORDER.step(state, "cancel_key")
            return state, None, {"key": "why_cancel_key", "queries": queries, "text": "cancelled by the cashier"}
        batch = yield from ask.open_batch()
        trace = yield from ask.take_trace("network")
        query = wallet_query_request(profile, settings, trace=trace, batch=batch.number, original=txn)
        yield from ask.record_event("wallet.query", {"trace": txn.trace, "query_trace": trace,
                                                             "request": masked(query)}, operator=operator.name, role=operator.role, txn_id=txn.id)
        result = yield Exchange(query)
        queries += 1
        event, _verdict, response = _classify(settings, query, result)
        if event == "no_answer":
            lost += 1
        elif event in ("paid", "declined"):
            yield from ask.record_event("wallet.final", {"trace": txn.trace, "code": response.get(39)}, operator=operator.name, role=operator.role, txn_id=txn.id)
        state = ORDER.step(state, event)
        if state in (OrderState.APPROVED, OrderState.DECLINED):
            return state, response, {"queries": queries}


def _finish(profile: Profile, settings: WalletSettings, txn: Txn, state: str, response: Any, wallet: Wallet,
            details: dict[str, Any]) -> Gen:
    code = response.get(39)
    updated = yield from ask.complete(txn.id, approved=state == OrderState.APPROVED, response_code=code, rrn=response.get(37), auth_code=response.get(38), response=masked(response), host_time=None)
    if state == OrderState.APPROVED:
        text = wallet_say(profile, "approved", amount=profile.money(txn.amount), wallet=wallet.label,
                    code=updated.pan_masked, trace=f"{updated.trace:06d}")
    else:
        text = wallet_say(profile, "declined", reason=describe(code, profile.language, wallet=True))
    return Outcome("wallet_sale", state, text, txn=updated, steps=(updated,), details=details)


def _cancel(profile: Profile, settings: WalletSettings, txn: Txn, verdict: Verdict, why_key: str,
            details: dict[str, Any]) -> Gen:
    """Queue the sale's reversal (the cancel) with its reason and deliver it now if the host answers."""
    yield from ask.fail(txn.id, reason=verdict.reason, error=verdict.problem, response=None)
    updated, status, _text = yield from reverse_now(profile, txn, verdict, "sale")
    why = wallet_say(profile, why_key, seconds=settings.deadline)
    key = "cancelled" if status == "reversed" else "not_completed"
    return Outcome("wallet_sale", status, wallet_say(profile, key, why=why), txn=updated, steps=(updated,),
                   details=details)


def describe_code(code: str) -> str:
    """For screens before a sale: the wallet and the masked code."""
    return f"{classify(code).label} {mask_code(code)}"


def resume_after_restart(profile: Profile, settings: WalletSettings) -> Gen:
    """At start, before the general recovery: a wallet sale left without an outcome is asked about once.

    Paid or declined by now → that outcome is journaled (the customer who confirmed while the terminal
    was down keeps their payment); still paying, unknown, or the bank unreachable → nothing here, and
    the general recovery cancels it (its reversal), which undoes a payment that lands late."""
    recovery = yield from ask.in_doubt()
    waiting = [t for t in recovery.unanswered if settings.is_wallet(t)]
    resolved: list[int] = []
    if not waiting:
        return resolved
    try:  # a status query moves no money: it may go before queued reversals (they go next, in recovery)
        yield from connect(profile)
    except EngineError:
        return resolved
    if (yield SignOnNeeded()):  # no working keys to MAC the query: recovery cancels instead
        return resolved
    for txn in waiting:
        batch = yield from ask.open_batch()
        trace = yield from ask.take_trace("network")
        query = wallet_query_request(profile, settings, trace=trace, batch=batch.number, original=txn)
        yield from ask.record_event("wallet.query", {"trace": txn.trace, "query_trace": trace,
                                                             "request": masked(query), "after_restart": True}, operator="system", role="system", txn_id=txn.id)
        event, _verdict, response = _classify(settings, query, (yield Exchange(query)))
        if event in ("paid", "declined"):
            yield from ask.complete(txn.id, approved=event == "paid", response_code=response.get(39), rrn=response.get(37), auth_code=response.get(38), response=masked(response), host_time=None)
            resolved.append(txn.id)
    return resolved
