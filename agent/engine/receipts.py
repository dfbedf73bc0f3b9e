"""Receipts: merchant and customer copies as plain text the width of a terminal printer.

Chinese labels take two columns each, so lines are measured in display columns, not characters.
Only the masked PAN is printed (first 6 / last 4), never track data.
"""

from __future__ import annotations

import re
import unicodedata
from functools import partial
from typing import Any, Callable

from agent.catalogue import Texts, say
from agent.engine.responses import describe
from agent.journal.states import TxnState
from agent.money import format_amount
from agent.localtime import local_time

#: every label a receipt prints, key → (English, Chinese), as the CUP receipt layout names them (a Chinese
#: terminal's labels are bilingual); RESULT, REPRINT and the settlement slip's lines are this terminal's own additions
LABELS: Texts = {
    "merchant_name": ("MERCHANT NAME", "商户名称 MERCHANT NAME"),
    "merchant": ("MERCHANT NO.", "商户编号 MERCHANT NO."),
    "terminal": ("TERMINAL NO.", "终端编号 TERMINAL NO."),
    "card": ("CARD NO.", "卡号 CARD NO."),
    "type": ("TRANS TYPE", "交易类型 TRANS TYPE"),
    "batch": ("BATCH NO.", "批次号 BATCH NO."),
    "trace": ("VOUCHER NO.", "凭证号 VOUCHER NO."),
    "rrn": ("REFER NO.", "参考号 REFER NO."),
    "auth": ("AUTH NO.", "授权码 AUTH NO."),
    "date": ("DATE/TIME", "日期/时间 DATE/TIME"),
    "amount": ("AMOUNT", "金额 AMOUNT"),
    "result": ("RESULT", "结果 RESULT"),
    "offline": ("APPROVED OFFLINE", "脱机批准"),
    "reference": ("REFERENCE", "备注 REFERENCE"),
    "original": ("ORIG VOUCHER", "原凭证号"),
    "original_terminal": ("ORIG TERMINAL", "原终端号"),
    "merchant_copy": ("MERCHANT COPY", "商户存根 MERCHANT COPY"),
    "customer_copy": ("CARDHOLDER COPY", "持卡人存根 CARDHOLDER COPY"),
    "sign": ("CARDHOLDER SIGNATURE", "持卡人签名 CARDHOLDER SIGNATURE"),
    "agree": ("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES",
              "本人确认以上交易，同意将其记入本卡账户 I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES"),
    "sale": ("SALE", "消费"),
    "void": ("VOID", "消费撤销"),
    "refund": ("REFUND", "退货"),
    "correction": ("SALE (CORRECTION)", "消费(更正)"),
    "reprint": ("REPRINT", "重打印"),
    "settlement": ("SETTLEMENT", "结算总计单 SETTLEMENT"),
    "sales": ("SALES", "消费"),
    "refunds": ("REFUNDS", "退货"),
    "count": ("COUNT", "笔数"),
    "total": ("TOTAL", "金额"),
    "net": ("NET", "净额"),
    "reconciled": ("RESULT", "对账结果"),
    "uploaded": ("UPLOADED", "上送笔数"),
    "next_batch": ("NEW BATCH NO.", "新批次号"),
    "moved": ("STORED OFFLINE, NOT IN TOTALS", "脱机存储 不计入本次总计"),
    "moved_to": ("MOVED TO BATCH", "移入批次号"),
    "balanced": ("balanced", "对账平"),
    "unbalanced": ("not balanced", "对账不平"),
    "error": ("ERROR", "对账错"),
    "settled_at": ("DATE/TIME", "日期/时间 DATE/TIME"),
    "preauth": ("AUTH", "预授权"),
    "preauth_void": ("AUTH VOID", "预授权撤销"),
    "completion": ("AUTH COMPLETE", "预授权完成"),
    "completion_void": ("AUTH COMPLETE VOID", "预授权完成撤销"),
    "pay_card": ("BY CARD", "银行卡"),
    "pay_wallet": ("BY PAYMENT CODE", "扫码支付"),
    "notice": ("NOTICE - NOTHING TO SIGN", "通知单 无需签名"),
    "not_charged": ("NOT CHARGED", "未扣款"),
    "nothing_done": ("NOTHING DONE", "交易未生效"),
    "see_journal": ("SEE THE JOURNAL", "请查看交易流水"),
    "state.reversed": ("REVERSED", "已冲正"),
    "state.voided": ("VOIDED", "已撤销"),
    "state.in_doubt": ("BEING REVERSED", "冲正中"),
    "state.sending": ("NO ANSWER", "无应答"),
    "state.resolved_manually": ("RESOLVED BY HAND", "已人工处理"),
    "state.advice_needs_manual": ("NOT SENT TO BANK", "未上送银行"),
}

#: what a cardholder authorises, and signs for (sale, completion, pre-auth): a void or a refund is not signed
SIGNED_KINDS = ("sale", "correction", "completion", "preauth")
#: a charge that stands (or stood, before a refund): anything else was cancelled and prints a notice instead
CHARGED_STATES = (TxnState.APPROVED, TxnState.ADVICE_PENDING, TxnState.REFUNDED_PARTIALLY, TxnState.REFUNDED)


def display_width(text: str) -> int:
    if text.isascii():  # nearly every line: one column per character
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pair(label: str, value: str, width: int) -> str:
    gap = width - display_width(label) - display_width(value)
    if gap >= 1:
        return label + " " * gap + value
    return f"{label}\n{' ' * max(0, width - display_width(value))}{value}"


def _centre(text: str, width: int) -> str:
    pad = max(0, width - display_width(text)) // 2
    return " " * pad + text


def render_receipt(txn: Any, *, merchant_name: str, terminal_id: str, merchant_id: str, copy: str = "customer",
                   width: int = 32, language: str = "en", exponent: int = 2, original_trace: int | None = None,
                   reprint: bool = False, original_card: str | None = None,
                   original_terminal: str | None = None) -> str:
    """One copy ("merchant" or "customer") of the receipt for journal transaction `txn`; a void or refund
    (which carries no card itself) shows the masked card of the sale it goes back to, `original_card`, and
    its voucher, `original_trace` (with `original_terminal` when the sale was made at another till)."""
    words = partial(say, LABELS, language)
    rule = "-" * width
    kind = words(txn.kind) if txn.kind in LABELS else txn.kind.upper()
    sign = "-" if txn.kind in ("void", "refund", "preauth_void", "completion_void") else ""
    paid_by_code = (txn.entry_mode or "").startswith("03")  # a scanned payment code (see _card_line)
    result = words(f"state.{txn.state}") if f"state.{txn.state}" in LABELS else (
        describe(txn.response_code, language, wallet=paid_by_code) if txn.response_code else
        words("offline") if txn.kind == "sale" and txn.state == TxnState.ADVICE_PENDING else str(txn.state))
    lines = [*_pair_lines(words("merchant_name"), merchant_name, width),
             *_pair_lines(words("merchant"), merchant_id, width), *_pair_lines(words("terminal"), terminal_id, width),
             rule, *_card_line(txn, words, width, original_card), _pair(words("type"), kind, width),
             _pair(words("batch"), f"{txn.batch:06d}", width), _pair(words("trace"), f"{txn.trace:06d}", width)]
    lines += [_pair(words("rrn"), txn.rrn or "-", width), _pair(words("auth"), txn.auth_code or "-", width),
              _pair(words("date"), local_time(txn.created_at), width)]
    if original_trace is not None:  # a void or refund names the original's voucher
        lines.append(_pair(words("reference"), f"{words('original')} {original_trace:06d}", width))
        if original_terminal is not None:
            lines.append(_pair("", f"{words('original_terminal')} {original_terminal}", width))
    lines += [rule, _pair(words("amount"), f"{sign}{format_amount(txn.amount, exponent)}", width),
              _pair(words("result"), result, width), rule]
    if txn.state not in CHARGED_STATES:  # cancelled, reversed or refused: a notice, nothing to sign
        notice = words("see_journal") if txn.state == TxnState.RESOLVED_MANUALLY else \
            words("not_charged") if txn.kind in SIGNED_KINDS else words("nothing_done")
        lines += [_centre(f"*** {words('notice')} ***", width), _centre(notice, width), rule]
    elif copy == "merchant" and txn.kind in SIGNED_KINDS:
        lines += [words("sign") + ":", "", "", *_wrap(words("agree"), width)]
    lines.append(_centre(words("merchant_copy" if copy == "merchant" else "customer_copy"), width))
    if reprint:
        lines.append(_centre(f"*** {words('reprint')} ***", width))
    return "\n".join(lines) + "\n"


def _pair_lines(label: str, value: str, width: int) -> list[str]:
    return _pair(label, value, width).split("\n")


def _wrap(text: str, width: int) -> list[str]:
    """Words (and each Chinese character) on lines of at most `width` display columns."""
    lines, line = [], ""
    for space, token in re.findall(r"(\s*)([!-~]+|\S)", text):
        joined = line + (" " if line and space else "") + token
        if line and display_width(joined) > width:
            lines.append(line)
            joined = token
        line = joined
    return lines + ([line] if line else [])


def _card_line(txn: Any, words: Callable[[str], str], width: int, original_card: str | None = None) -> list[str]:
    """The card number (a refund's: its sale's), or for a wallet payment (entry mode 03x, a scanned code) the
    wallet and masked code."""
    from agent.paycodes import wallet_of_masked

    wallet = wallet_of_masked(txn.pan_masked) if txn.pan_masked and (txn.entry_mode or "").startswith("03") else None
    if wallet is None:
        return [_pair(words("card"), txn.pan_masked or original_card or "-", width)]
    return [_pair(wallet.label.upper(), "", width).rstrip(), _pair("", txn.pan_masked, width)]


def render_settlement_report(*, batch: int, totals: Any, result: str, uploaded: int, next_batch: int,
                             settled_at: float, merchant_name: str, terminal_id: str, merchant_id: str,
                             width: int = 32, language: str = "en", exponent: int = 2,
                             by_payment: Any = None, moved: Any = None) -> str:
    """The settlement slip: totals by side (and per payment type, card and payment code, when
    `by_payment` — `PaymentTotals.as_dict()` — is given), the host's reconciliation result, uploads, the
    next batch; `moved` (to, count, amount): the stored sales the supervisor moved to the next batch."""
    words = partial(say, LABELS, language)
    rule = "-" * width
    def money(minor: int) -> str:
        return format_amount(minor, exponent)
    lines = [_centre(words("settlement"), width), rule, *_pair_lines(words("merchant_name"), merchant_name, width),
             *_pair_lines(words("merchant"), merchant_id, width), *_pair_lines(words("terminal"), terminal_id, width),
             _pair(words("batch"), f"{batch:06d}", width),
             _pair(words("settled_at"), local_time(settled_at), width),
             rule,
             _pair(f"{words('sales')} {words('count')}", str(totals.debit_count), width),
             _pair(f"{words('sales')} {words('total')}", money(totals.debit_amount), width),
             _pair(f"{words('refunds')} {words('count')}", str(totals.credit_count), width),
             _pair(f"{words('refunds')} {words('total')}", money(totals.credit_amount), width),
             _pair(words("net"), money(totals.debit_amount - totals.credit_amount), width), rule]
    for name, part in (by_payment or {}).items():
        lines += [words(f"pay_{name}") if f"pay_{name}" in LABELS else name.upper(),
                  _pair(f"{words('sales')} {words('count')}", str(part["sales_count"]), width),
                  _pair(f"{words('sales')} {words('total')}", money(part["sales_amount"]), width),
                  _pair(f"{words('refunds')} {words('count')}", str(part["refunds_count"]), width),
                  _pair(f"{words('refunds')} {words('total')}", money(part["refunds_amount"]), width),
                  _pair(words("net"), money(part["net_amount"]), width), rule]
    lines += [_pair(words("reconciled"), (words(result) if result in LABELS else result), width),
             _pair(words("uploaded"), str(uploaded), width),
             _pair(words("next_batch"), f"{next_batch:06d}", width), rule]
    if moved:
        lines += [words("moved"), _pair(f"{words('sales')} {words('count')}", str(moved["count"]), width),
                  _pair(f"{words('sales')} {words('total')}", money(moved["amount"]), width),
                  _pair(words("moved_to"), f"{moved['to']:06d}", width), rule]
    return "\n".join(lines) + "\n"
