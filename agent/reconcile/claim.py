"""The claim for the bank: one letter per settlement day listing every item and the total to refund.

Rendered from the reconciliation alone (no clock, no files), in Chinese or English, at any width from
the terminal printer's 32 columns up (the receipt layout's `wrap`/`split_ends` measure CJK as two
columns).  `claim_json` is the same letter for programs, with the journal event that recorded the run.
"""

from __future__ import annotations

from typing import Any

from agent.money import format_amount
from agent.reconcile.reconciler import KINDS, Reconciliation
from agent.ui.layout import split_ends, wrap

TEXTS = {
    "en": {"title": "SETTLEMENT CLAIM", "subtitle": "Request to refund wrongly deducted settlement funds",
           "merchant": "Merchant", "terminal": "Terminal", "date": "Settlement date", "statement": "Statement",
           "sha256": "SHA-256", "owed": "Owed (journal + contract)", "credited": "Credited (statement, this terminal)",
           "difference": "Difference", "items": "ITEMS", "line": "statement line", "txn": "journal txn",
           "rrn": "RRN", "trace": "trace", "batch": "batch", "card": "card", "amount": "amount", "fee": "fee",
           "expected": "expected", "effect": "effect", "unexplained": "Unexplained remainder",
           "total": "TOTAL TO REFUND", "overpaid": "TOTAL PAID IN EXCESS", "evidence": "Evidence",
           "event": "journal event", "balanced": "Balanced to the cent: nothing to claim.",
           "request": "We ask the acquirer to refund the total above to the merchant's settlement account. "
                      "Each item's evidence (the journal chain with its hash-chain proof and the statement "
                      "line as given) is attached.",
           "others": "OTHER TERMINALS' LINES (not this terminal's transactions; not part of this claim)",
           "others_net": "Net of other terminals' lines",
           "none": "-"},
    "zh": {"title": "结算差错退款申请", "subtitle": "申请退还多扣的结算资金",
           "merchant": "商户编号", "terminal": "终端号", "date": "清算日期", "statement": "对账单",
           "sha256": "SHA-256", "owed": "应结算金额(流水+合同)", "credited": "实际入账金额(对账单，本终端)",
           "difference": "差额", "items": "差错明细", "line": "对账单行", "txn": "终端流水",
           "rrn": "参考号", "trace": "凭证号", "batch": "批次号", "card": "卡号", "amount": "金额", "fee": "手续费",
           "expected": "应为", "effect": "影响", "unexplained": "未解释差额",
           "total": "申请退款合计", "overpaid": "多付合计", "evidence": "证据",
           "event": "流水事件", "balanced": "对账平，精确到分，无需申请。",
           "request": "请收单机构将上述合计金额退还至商户结算账户。每笔差错的证据(终端流水链及其哈希链证明、"
                      "对账单原始行)附后。",
           "others": "其他终端的交易(非本终端交易，不计入本申请)",
           "others_net": "其他终端交易净额",
           "none": "-"},
}


def render_claim(report: Reconciliation, *, language: str = "en", width: int = 80, statement_name: str = "",
                 statement_sha256: str = "", event: dict | None = None, exponent: int = 2) -> str:
    t = TEXTS[language]
    money = lambda minor: format_amount(minor, exponent)  # noqa: E731
    date = f"{report.settlement_date[:4]}-{report.settlement_date[4:6]}-{report.settlement_date[6:]}"
    out: list[str] = []
    rule = "=" * width
    out += [rule, *wrap(t["title"], width), *wrap(t["subtitle"], width), rule]
    for key, value in (("merchant", report.merchant_id), ("terminal", report.terminal_id), ("date", date)):
        out.append(split_ends(t[key], value, width))
    if statement_name:
        out += wrap(f"{t['statement']}: {statement_name}", width)
    if statement_sha256:
        out += wrap(f"{t['sha256']}: {statement_sha256}", width)
    out.append("-" * width)
    for key, value in (("owed", report.owed), ("credited", report.credited), ("difference", report.difference)):
        out.append(split_ends(t[key], money(value), width))
    out.append("-" * width)
    if report.balanced:
        out += wrap(t["balanced"], width)
    else:
        out.append(t["items"])
        for n, d in enumerate(report.discrepancies, 1):
            what = KINDS[d.kind][1] if language == "zh" else KINDS[d.kind][0]
            out += wrap(f"{n}. {what}", width)
            facts = []
            if d.line is not None:
                facts += [f"{t['line']} {d.line.line}" if d.line.line else "", f"{t['rrn']} {d.line.rrn}",
                          f"{t['trace']} {d.line.trace_no:06d}", f"{t['batch']} {d.line.batch_no:06d}",
                          f"{d.line.txn_date} {d.line.txn_time[:2]}:{d.line.txn_time[2:4]}:{d.line.txn_time[4:]}",
                          f"{t['card']} {d.line.card_no}", f"{t['amount']} {money(d.line.amount)}",
                          f"{t['fee']} {money(d.line.fee)}"]
            elif d.rrn:
                facts.append(f"{t['rrn']} {d.rrn}")
            if d.txn_id is not None:
                facts.append(f"{t['txn']} #{d.txn_id}")
            if d.expected_amount is not None:
                fee = f" / {t['fee']} {money(d.expected_fee)}" if d.expected_fee is not None else ""
                facts.append(f"{t['expected']} {money(d.expected_amount)}{fee}")
            if d.detail:
                facts.append(d.detail)
            out += ["   " + x for x in wrap("  ".join(f for f in facts if f), max(1, width - 3))]
            out.append(split_ends("", f"{t['effect']} {money(d.effect)}", width))
        out.append("-" * width)
        out.append(split_ends(t["unexplained"], money(report.unexplained), width))
        key = "total" if report.claim_total >= 0 else "overpaid"
        out.append(split_ends(t[key], money(abs(report.claim_total)), width))
        out.append("-" * width)
        out += wrap(t["request"], width)
    if report.other_terminals:
        out.append("-" * width)
        out += wrap(t["others"], width)
        for n, line in enumerate(report.other_terminals, 1):
            facts = [f"{t['terminal']} {line.terminal_id}", f"{t['line']} {line.line}" if line.line else "",
                     f"{t['rrn']} {line.rrn}", f"{t['batch']} {line.batch_no:06d}", f"{t['trace']} {line.trace_no:06d}",
                     f"{t['amount']} {money(line.amount)}", f"{t['fee']} {money(line.fee)}"]
            out += wrap(f"{n}. " + "  ".join(f for f in facts if f), width)
        out.append(split_ends(t["others_net"], money(report.other_terminals_net), width))
    if event:
        out += wrap(f"{t['evidence']}: {t['event']} #{event['event_id']} {event['hash']}", width)
    out.append(rule)
    return "\n".join(out) + "\n"


def claim_json(report: Reconciliation, *, statement_name: str, statement_sha256: str, event: dict | None,
               evidence_files: dict[int, str] | None = None) -> dict[str, Any]:
    data = report.as_dict()
    for n, item in enumerate(data["discrepancies"], 1):
        item["item"] = n
        if evidence_files and n in evidence_files:
            item["evidence"] = evidence_files[n]
    return {"format": "posagent-claim/1", "statement": statement_name, "statement_sha256": statement_sha256,
            "journal_event": event, **data}
