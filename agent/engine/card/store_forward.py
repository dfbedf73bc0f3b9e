"""Store-and-forward: selling while the acquirer cannot be reached, within the merchant's limits
(`[offline]`, `Profile.offline`).

A chip sale read while the link is down goes to the card's second GENERATE AC without the host: the
terminal decides with TAC/IAC-default (EMV Book 3 §10.7) and asks for a TC with authorisation response
code Y3 ("unable to go online, offline approved"), or gives an AAC with Z3.  Approved, it is journaled as
an offline approval (`offline.approve_offline`: advice pending, the card sealed for the advice) — the
limits counted again inside that commit — and forwarded as an advice (0220, 0221 when repeated) before
anything else online.  What needs the bank's word now (payment codes, voids, refunds, pre-auths,
settlement) is refused while the link is down, and nothing is queued for it.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Mapping

from agent.cardtypes import card_type
from agent.catalogue import Texts
from agent.engine.common import with_card
from agent.engine.effects import CardFailure, EngineError, FinishUnableOnline, HostUnreachable, Outcome, Plan
from agent.engine.card.offline import approve_offline
from agent.engine.port import ask
from agent.engine.requests import CardData, Profile
from agent.engine.texts import TEXTS, say
from agent.iso8583 import CodecError, tlv
from agent.journal.errors import OfflineLimitReached

#: `[offline] entry_modes` word → the field 22 values of a card read that way which may be stored offline: a
#: chip read (with and without online PIN); a swipe without PIN (a PIN block is never kept for later); a
#: supervisor's keyed entry.  The stripe read after a chip failure (802) counts as a swipe where `[card_reader]
#: fallback` allows it (FALLBACK_MODES)
ENTRY_MODES = {"chip": ("051", "052"), "swipe": ("022",), "keyed": ("011", "012")}
FALLBACK_MODES = ("802",)

OFFLINE_TEXTS: Texts = {
    "offline_paycode": ("the bank cannot be reached ({why}): payment codes need the network — ask for a card or "
                        "cash", "无法连接银行（{why}）：付款码需要联网——请改用银行卡或现金"),
    "offline_wait": ("the bank cannot be reached ({why}): {operation} needs the bank — wait for the link",
                     "无法连接银行（{why}）：{operation}需要联网——请等待网络恢复"),
    "offline_refused_max_amount": ("the bank cannot be reached and {amount} is above the offline limit of {limit} "
                                   "per sale: ask for another payment", "无法连接银行，{amount} 超过脱机单笔限额 "
                                   "{limit}：请改用其他支付方式"),
    "offline_refused_max_total": ("the bank cannot be reached and the sales stored offline would exceed {limit} "
                                  "in all ({stored} stored): ask for another payment",
                                  "无法连接银行，脱机存储总额将超过 {limit}（已存 {stored}）：请改用其他支付方式"),
    "offline_refused_max_count": ("the bank cannot be reached and {limit} sales are already stored offline (the "
                                  "most allowed): ask for another payment",
                                  "无法连接银行，脱机已存 {limit} 笔（已达上限）：请改用其他支付方式"),
    "offline_refused_max_age": ("the bank cannot be reached and the oldest sale stored offline is {hours} hours "
                                "old or more: offline sales stop until it is forwarded", "无法连接银行，最早的脱机交易已存 "
                                "{hours} 小时以上：在其上送前暂停脱机交易"),
    "offline_entry_mode": ("the bank cannot be reached and a card read this way ({mode}) is not stored offline "
                           "(offline.entry_modes = {modes}): {instead}, or ask for another payment",
                           "无法连接银行，此读卡方式（{mode}）不可脱机（offline.entry_modes = {modes}）：{instead}，"
                           "或改用其他支付方式"),
    "offline_card_type": ("the bank cannot be reached and a {type} card is not stored offline (offline.card_types = "
                          "{types}): ask for another card or payment", "无法连接银行，{type}不可脱机（offline.card_types = "
                          "{types}）：请改用其他卡或支付方式"),
    "offline_type_debit": ("debit", "借记卡"),
    "offline_type_credit": ("credit", "贷记卡"),
    "offline_mode_chip": ("read by its chip", "插卡读芯片"),
    "offline_mode_swipe": ("swiped", "刷卡"),
    "offline_mode_swipe_pin": ("swiped with a PIN: a PIN is never kept for later", "刷卡并输入密码：密码不可留存"),
    "offline_mode_keyed": ("keyed by hand", "手工输入卡号"),
    "offline_instead_chip": ("insert the card", "请插卡"),
    "offline_instead_swipe": ("swipe the card without a PIN", "请刷卡（不输密码）"),
    "offline_instead_keyed": ("ask a supervisor to key the card in", "请主管手工输入卡号"),
    "sale_stored_offline": ("Sale stored offline: {amount} on card {card} (trace {trace}), within the merchant's "
                            "offline limits; the bank is told when the link is back and may still decline it.",
                            "脱机存储消费：卡号 {card} 扣款 {amount}（凭证号 {trace}），在商户脱机限额内；"
                            "联机后通知银行，银行仍可能拒绝。"),
    "offline_card_declined": ("Sale declined offline: {reason}.", "脱机交易被拒绝：{reason}。"),
    # the supervisor switches the terminal offline by hand, and back
    "offline_switched": ("switched offline by the supervisor", "主管已切换为脱机"),
    "offline_switch_disabled": ("store-and-forward is off ([offline] enabled = false): the terminal cannot be "
                                "switched offline, every sale needs the bank", "未启用脱机交易（[offline] enabled = "
                                "false）：不能切换为脱机，每笔消费都需要联网"),
    "offline_switch_on": ("Switched offline: sales are stored within the offline limits and nothing is sent to the "
                          "bank until a supervisor switches back (posagent offline off).",
                          "已切换为脱机：消费在脱机限额内存储，在主管切换回联机（posagent offline off）之前不向银行发送任何报文。"),
    "offline_switch_off": ("Back online: the next sale or echo tries the bank, and the stored sales are forwarded "
                           "once it answers.", "已恢复联机：下一笔消费或回响测试将连接银行，银行应答后上送已存储的交易。"),
    "offline_switch_already_on": ("Already switched offline by the supervisor (since {since}).",
                                  "已由主管切换为脱机（自 {since} 起）。"),
    "offline_switch_already_off": ("Not switched offline: nothing changed.", "当前未切换为脱机：无变化。"),
}
TEXTS.update(OFFLINE_TEXTS)


def refusal(profile: Profile, operation: str, refused: str, why: str) -> EngineError | None:
    """The error for `operation` while the link is down ("{why}"): `refused` is its registry row's `offline`
    ("paycode" or "wait"; "" goes ahead).  None when store-and-forward is off."""
    if profile.offline is None or not refused:
        return None
    return EngineError(say(profile.language, f"offline_{refused}", why=why, operation=operation.replace("_", " ")),
                       code="offline")


def _limit_text(profile: Profile, reason: str, amount: int, stored: Mapping[str, Any]) -> str:
    limits = profile.offline
    assert limits is not None  # a limit refused: store-and-forward is on

    money = profile.money
    limit = {"max_amount": money(limits.max_amount), "max_total": money(limits.max_total),
             "max_count": limits.max_count, "max_age": limits.max_age_seconds // 3600}[reason]
    return say(profile.language, f"offline_refused_{reason}", amount=money(amount), limit=limit,
               stored=money(stored.get("amount", 0)), hours=limit)


def _refused(profile: Profile, reason: str, amount: int, stored: Mapping[str, Any]) -> Outcome:
    return Outcome("sale", "declined", _limit_text(profile, reason, amount, stored),
                   details={"offline": True, "refused": reason})


def offline_sale(profile: Profile, request: Any, operator: Any, why: str, *,
                 question: Callable[[CardData], Generator[Any, Any, Outcome | None]] | None = None) -> Plan:
    """A sale while the link is down: the limits first, then the card — a chip card decides with
    TAC/IAC-default; a swiped or keyed one (where `entry_modes` names it) is stored on the limits alone.
    `question(card)`: a plan asking the cashier first (the duplicate guard), or None."""
    limits = profile.offline
    before_card = yield from ask.offline_refusal(request.amount, limits)
    if before_card is not None:
        return _refused(profile, before_card, request.amount, (yield from ask.offline_stored()))
    return (yield from with_card(request.amount, request.test_card,
                                 lambda card: _decide_with_card(profile, request, operator, card, why, question),
                                 keyed=request.keyed))


def stored_modes(profile: Profile) -> set[str]:
    """The field 22 values a sale stored offline may have (`[offline] entry_modes`, `[card_reader] fallback`)."""
    limits = profile.offline
    assert limits is not None
    modes = {mode for name in limits.entry_modes for mode in ENTRY_MODES[name]}
    if "swipe" in limits.entry_modes and profile.fallback:
        modes.update(FALLBACK_MODES)
    return modes


def _mode_word(entry_mode: str) -> str:
    """How a card with this field 22 was read, as the refusal names it."""
    if entry_mode in ENTRY_MODES["chip"]:
        return "chip"
    if entry_mode.startswith("01"):
        return "keyed"
    return "swipe_pin" if entry_mode in ("021", "801") else "swipe"


def _entry_mode_refused(profile: Profile, card: CardData) -> EngineError:
    limits = profile.offline
    assert limits is not None
    language = profile.language
    return EngineError(say(language, "offline_entry_mode", mode=say(language, f"offline_mode_{_mode_word(card.entry_mode)}"),
                           modes=",".join(limits.entry_modes),
                           instead=say(language, f"offline_instead_{limits.entry_modes[0]}")), code="offline")


def _decide_with_card(profile: Profile, request: Any, operator: Any, card: CardData, why: str,
                      question: Callable[[CardData], Generator[Any, Any, Outcome | None]] | None) -> Plan:
    """A chip card decides with TAC/IAC-default (its TC, Y3); a swiped or keyed one is stored on the merchant's
    limits alone — the driver seals its card number, expiry and track 2 for the advice."""
    limits = profile.offline
    assert limits is not None  # offline_sale runs only with store-and-forward on
    chip = card.entry_mode in ENTRY_MODES["chip"]
    if card.entry_mode not in stored_modes(profile) or chip != (card.field55 is not None):
        raise _entry_mode_refused(profile, card)
    kind = card_type(card.pan, limits.credit_bins, _aid(card.field55))
    if kind not in limits.card_types:
        raise EngineError(say(profile.language, "offline_card_type", type=say(profile.language, f"offline_type_{kind}"),
                              types=",".join(limits.card_types)), code="offline")
    asked = (yield from question(card)) if question is not None else None
    if asked is not None:  # the card is left with no second GENERATE AC: the sale is not made
        return asked
    approved = yield FinishUnableOnline(request.amount, may_approve=True)
    if isinstance(approved, CardFailure):
        if not chip:  # nothing to seal with: nothing is stored
            raise EngineError(approved.message, code="card")
        return Outcome("sale", "declined", say(profile.language, "offline_card_declined", reason=approved.message),
                       details={"offline": True, "cryptogram": "AAC", "arc": "Z3"})
    try:
        outcome = yield from approve_offline(profile, request, operator, approved, limits=limits)
    except OfflineLimitReached as exc:  # another sale took the last place meanwhile: this one is never sent
        return _refused(profile, exc.reason, request.amount, (yield from ask.offline_stored()))
    return Outcome(outcome.operation, outcome.status, outcome.message, txn=outcome.txn, steps=outcome.steps,
                   details={**outcome.details, **({"arc": "Y3"} if chip else {}), "unable_online": why})


def _aid(field55: bytes | None) -> str | None:
    """The chip application's identifier (tag 84 of field 55) in hex, or None."""
    try:
        value = tlv.find(tlv.decode(field55), 0x84) if field55 else None
    except CodecError:
        return None
    return value.hex().upper() if value else None


def host_unreachable(profile: Profile, *, try_first: bool = False) -> Generator[HostUnreachable, str | None,
                                                                                str | None]:
    """The reason the link counts as down (store-and-forward on), else None; `try_first`: the bank is tried
    once first where that is worth it (`HostUnreachable`)."""
    if profile.offline is None:
        return None
    return (yield HostUnreachable(try_first))
