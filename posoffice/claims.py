"""The merchant's claim letters (zh and en) and the run's report, from a merchant reconciliation.

The letter is the terminal's claim letter (`agent.reconcile.claim`: its texts, layout and width rules)
for a whole merchant: each item names its terminal, trace, batch and RRN, each terminal has its subtotal,
and the total to refund is the day's difference across terminals.  The files are written as private
files by `agent.atomicfile.PrivateDirectory` (0600, the directory 0700, no link followed, nothing
replaced without `force`), all or none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.atomicfile import PrivateDirectory
from agent.money import format_amount
from agent.reconcile.claim import TEXTS
from agent.ui.layout import split_ends, wrap
from posoffice.reconcile import KINDS, MerchantReconciliation

#: the letter's page width
LETTER_WIDTH = 80
#: labels the terminal's letter has no use for
OFFICE_TEXTS = {
    "en": {"subtotal": "Terminal {terminal}: difference", "statement_total": "the statement's total",
           "credited_all": "Credited (statement, all terminals)", "owed_all": "Owed (journals of {n} terminal(s) + contract)",
           "run": "back office run"},
    "zh": {"subtotal": "终端 {terminal} 差额", "statement_total": "对账单合计",
           "credited_all": "实际入账金额(对账单，全部终端)", "owed_all": "应结算金额({n}台终端流水+合同)",
           "run": "后台对账记录"},
}


def render_merchant_claim(report: MerchantReconciliation, *, language: str = "en", width: int = LETTER_WIDTH,
                          statement_name: str = "", statement_sha256: str = "", run_id: int | None = None,
                          exponent: int = 2) -> str:
    t, o = TEXTS[language], OFFICE_TEXTS[language]
    money = lambda minor: format_amount(minor, exponent)  # noqa: E731
    date = f"{report.settlement_date[:4]}-{report.settlement_date[4:6]}-{report.settlement_date[6:]}"
    rule = "=" * width
    out = [rule, *wrap(t["title"], width), *wrap(t["subtitle"], width), rule,
           split_ends(t["merchant"], report.merchant_id, width), split_ends(t["date"], date, width)]
    out.append(split_ends(t["terminal"], ", ".join(r.terminal_id for r in report.terminals) or t["none"], width))
    if statement_name:
        out += wrap(f"{t['statement']}: {statement_name}", width)
    if statement_sha256:
        out += wrap(f"{t['sha256']}: {statement_sha256}", width)
    out.append("-" * width)
    for label, value in ((o["owed_all"].format(n=len(report.terminals)), report.owed),
                         (o["credited_all"], report.credited), (t["difference"], report.difference)):
        out.append(split_ends(label, money(value), width))
    out.append("-" * width)
    if report.balanced:
        out += wrap(t["balanced"], width)
    else:
        out.append(t["items"])
        for n, f in enumerate(report.findings, 1):
            d = f.discrepancy
            what = KINDS[f.kind][1] if language == "zh" else KINDS[f.kind][0]
            out += wrap(f"{n}. {what}", width)
            facts = [f"{t['terminal']} {f.terminal_id}" if f.terminal_id else o["statement_total"],
                     f"{t['rrn']} {f.rrn}" if f.rrn else "",
                     f"{t['trace']} {f.trace:06d}" if f.trace is not None else "",
                     f"{t['batch']} {f.batch:06d}" if f.batch is not None else ""]
            if d.line is not None:
                facts += [f"{t['line']} {d.line.line}" if d.line.line else "",
                          f"{d.line.txn_date} {d.line.txn_time[:2]}:{d.line.txn_time[2:4]}:{d.line.txn_time[4:]}",
                          f"{t['card']} {d.line.card_no}", f"{t['amount']} {money(d.line.amount)}",
                          f"{t['fee']} {money(d.line.fee)}"]
            if d.txn_id is not None:
                facts.append(f"{t['txn']} #{d.txn_id}")
            if d.expected_amount is not None:
                fee = f" / {t['fee']} {money(d.expected_fee)}" if d.expected_fee is not None else ""
                facts.append(f"{t['expected']} {money(d.expected_amount)}{fee}")
            if d.detail:
                facts.append(d.detail)
            out += ["   " + x for x in wrap("  ".join(x for x in facts if x), max(1, width - 3))]
            out.append(split_ends("", f"{t['effect']} {money(f.effect)}", width))
        out.append("-" * width)
        for r in report.terminals:
            if r.difference:
                out.append(split_ends(o["subtotal"].format(terminal=r.terminal_id), money(r.difference), width))
        out.append(split_ends(t["unexplained"], money(report.unexplained), width))
        key = "total" if report.claim_total >= 0 else "overpaid"
        out.append(split_ends(t[key], money(abs(report.claim_total)), width))
        out.append("-" * width)
        out += wrap(t["request"], width)
    if run_id is not None:
        out += wrap(f"{t['evidence']}: {o['run']} #{run_id}", width)
    out.append(rule)
    return "\n".join(out) + "\n"


def claim_json(report: MerchantReconciliation, *, statement_name: str, statement_sha256: str,
               run_id: int | None) -> dict[str, Any]:
    data = report.as_dict()
    for n, item in enumerate(data["findings"], 1):
        item["item"] = n
    return {"format": "posoffice-claim/1", "statement": statement_name, "statement_sha256": statement_sha256,
            "run": run_id, **data}


def write_claim(report: MerchantReconciliation, directory: Path, *, statement_name: str, statement_sha256: str,
                raw: bytes, run_id: int | None, force: bool = False) -> list[str]:
    """claim-MID-DATE-{zh,en}.txt, claim-MID-DATE.json and the statement as given, written together or not at all."""
    stem = f"claim-{report.merchant_id}-{report.settlement_date}"
    common = {"statement_name": statement_name, "statement_sha256": statement_sha256, "run_id": run_id}
    files = {f"{stem}-{language}.txt": render_merchant_claim(report, language=language, **common).encode()
             for language in ("zh", "en")}
    files[f"{stem}.json"] = json.dumps(claim_json(report, **common), indent=2, ensure_ascii=False).encode()
    files[f"statement-{statement_name}"] = raw
    with PrivateDirectory.open(directory, create=True) as top:
        for name in files:  # refuse before writing anything
            top.check_free(name, force=force)
        return [str(top.write(name, data, force=force)) for name, data in files.items()]
