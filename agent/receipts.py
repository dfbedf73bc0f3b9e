"""Receipts: merchant and customer copies as plain text the width of a terminal printer.

Chinese labels take two columns each, so lines are measured in display columns, not characters.
Only the masked PAN is printed (first 6 / last 4), never track data.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from agent.engine.responses import describe
from agent.journal.states import TxnState
from agent.money import format_amount

LABELS = {
    "en": {"merchant": "MERCHANT", "terminal": "TERMINAL", "card": "CARD", "type": "TYPE", "batch": "BATCH",
           "trace": "TRACE", "rrn": "REF NO", "auth": "AUTH", "date": "DATE", "amount": "AMOUNT",
           "result": "RESULT", "offline": "APPROVED OFFLINE", "original": "ORIG TRACE", "merchant_copy": "MERCHANT COPY",
           "customer_copy": "CUSTOMER COPY", "sign": "SIGNATURE", "agree": "I agree to the above transaction",
           "sale": "SALE", "void": "VOID", "refund": "REFUND", "correction": "SALE (CORRECTION)",
           "reprint": "REPRINT", "settlement": "SETTLEMENT REPORT", "sales": "SALES", "refunds": "REFUNDS",
           "count": "COUNT", "total": "TOTAL", "net": "NET", "reconciled": "RECONCILIATION",
           "uploaded": "UPLOADED", "next_batch": "NEW BATCH", "balanced": "balanced",
           "unbalanced": "UNBALANCED", "error": "ERROR", "settled_at": "SETTLED",
           "preauth": "PRE-AUTH", "preauth_void": "PRE-AUTH VOID", "completion": "PRE-AUTH COMPLETE",
           "completion_void": "COMPLETE VOID", "pay_card": "BY CARD", "pay_wallet": "BY PAYMENT CODE"},
    "zh": {"merchant": "商户名称", "terminal": "终端号", "card": "卡号", "type": "交易类型", "batch": "批次号",
           "trace": "凭证号", "rrn": "参考号", "auth": "授权码", "date": "日期时间", "amount": "金额",
           "result": "结果", "offline": "脱机批准", "original": "原凭证号", "merchant_copy": "商户存根", "customer_copy": "持卡人存根",
           "sign": "持卡人签名", "agree": "本人确认以上交易", "sale": "消费", "void": "消费撤销",
           "refund": "退货", "correction": "消费(更正)", "reprint": "重打印", "settlement": "结算单",
           "sales": "消费", "refunds": "退货", "count": "笔数", "total": "金额", "net": "净额",
           "reconciled": "对账结果", "uploaded": "上送笔数", "next_batch": "新批次号", "balanced": "对账平",
           "unbalanced": "对账不平", "error": "对账错", "settled_at": "结算时间",
           "preauth": "预授权", "preauth_void": "预授权撤销", "completion": "预授权完成",
           "completion_void": "预授权完成撤销", "pay_card": "银行卡", "pay_wallet": "扫码支付"},
}


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
                   reprint: bool = False, original_card: str | None = None) -> str:
    """One copy ("merchant" or "customer") of the receipt for journal transaction `txn`; a void or refund
    (which carries no card itself) shows the masked card of the sale it goes back to, `original_card`."""
    words = LABELS.get(language, LABELS["en"])
    rule = "-" * width
    kind = words.get(txn.kind, txn.kind.upper())
    sign = "-" if txn.kind in ("void", "refund", "preauth_void", "completion_void") else ""
    paid_by_code = (txn.entry_mode or "").startswith("03")  # a scanned payment code (see _card_line)
    result = describe(txn.response_code, language, wallet=paid_by_code) if txn.response_code else \
        (words["offline"] if txn.kind == "sale" and txn.state == TxnState.ADVICE_PENDING else txn.state)
    lines = [_centre(merchant_name, width), rule,
             _pair(words["merchant"], merchant_id, width), _pair(words["terminal"], terminal_id, width), rule,
             *_card_line(txn, words, width, original_card), _pair(words["type"], kind, width),
             _pair(words["batch"], f"{txn.batch:06d}", width), _pair(words["trace"], f"{txn.trace:06d}", width)]
    if original_trace is not None:
        lines.append(_pair(words["original"], f"{original_trace:06d}", width))
    lines += [_pair(words["rrn"], txn.rrn or "-", width), _pair(words["auth"], txn.auth_code or "-", width),
              _pair(words["date"], time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(txn.created_at)), width),
              rule, _pair(words["amount"], f"{sign}{format_amount(txn.amount, exponent)}", width),
              _pair(words["result"], result, width), rule]
    if copy == "merchant":
        lines += [words["sign"] + ":", "", "", words["agree"]]
    lines.append(_centre(words["merchant_copy" if copy == "merchant" else "customer_copy"], width))
    if reprint:
        lines.append(_centre(f"*** {words['reprint']} ***", width))
    return "\n".join(lines) + "\n"


def _card_line(txn: Any, words: dict, width: int, original_card: str | None = None) -> list[str]:
    """The card number (a refund's: its sale's), or for a wallet payment (entry mode 03x, a scanned code) the
    wallet and masked code."""
    from agent.paycodes import wallet_of_masked

    wallet = wallet_of_masked(txn.pan_masked) if txn.pan_masked and (txn.entry_mode or "").startswith("03") else None
    if wallet is None:
        return [_pair(words["card"], txn.pan_masked or original_card or "-", width)]
    return [_pair(wallet.label.upper(), "", width).rstrip(), _pair("", txn.pan_masked, width)]


def render_settlement_report(*, batch: int, totals: Any, result: str, uploaded: int, next_batch: int,
                             settled_at: float, merchant_name: str, terminal_id: str, merchant_id: str,
                             width: int = 32, language: str = "en", exponent: int = 2,
                             by_payment: Any = None) -> str:
    """The settlement slip: totals by side (and per payment type, card and payment code, when
    `by_payment` — `PaymentTotals.as_dict()` — is given), the host's reconciliation result, uploads, the
    next batch."""
    words = LABELS.get(language, LABELS["en"])
    rule = "-" * width
    money = lambda minor: format_amount(minor, exponent)  # noqa: E731
    lines = [_centre(merchant_name, width), _centre(words["settlement"], width), rule,
             _pair(words["merchant"], merchant_id, width), _pair(words["terminal"], terminal_id, width),
             _pair(words["batch"], f"{batch:06d}", width),
             _pair(words["settled_at"], time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(settled_at)), width),
             rule,
             _pair(f"{words['sales']} {words['count']}", str(totals.debit_count), width),
             _pair(f"{words['sales']} {words['total']}", money(totals.debit_amount), width),
             _pair(f"{words['refunds']} {words['count']}", str(totals.credit_count), width),
             _pair(f"{words['refunds']} {words['total']}", money(totals.credit_amount), width),
             _pair(words["net"], money(totals.debit_amount - totals.credit_amount), width), rule]
    for name, part in (by_payment or {}).items():
        lines += [words.get(f"pay_{name}", name.upper()),
                  _pair(f"{words['sales']} {words['count']}", str(part["sales_count"]), width),
                  _pair(f"{words['sales']} {words['total']}", money(part["sales_amount"]), width),
                  _pair(f"{words['refunds']} {words['count']}", str(part["refunds_count"]), width),
                  _pair(f"{words['refunds']} {words['total']}", money(part["refunds_amount"]), width),
                  _pair(words["net"], money(part["net_amount"]), width), rule]
    lines += [_pair(words["reconciled"], words.get(result, result), width),
             _pair(words["uploaded"], str(uploaded), width),
             _pair(words["next_batch"], f"{next_batch:06d}", width), rule]
    return "\n".join(lines) + "\n"
