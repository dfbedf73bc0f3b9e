"""The merchant's claim letters (zh and en) and the run's report, from a merchant reconciliation.

The letter is the terminal's claim letter (`agent.reconcile.claim`: its texts, item wording and its one
layout, `layout_letter`, with the block to sign and stamp) for a whole merchant: each item names its
terminal, trace, batch and RRN, each terminal has its subtotal, and the total to refund is the day's
difference across terminals.  The files are written as private
files by `agent.atomicfile.PrivateDirectory` (0600, the directory 0700, no link followed, nothing
replaced without `force`), all or none.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import partial
from pathlib import Path
from typing import Any

from agent.atomicfile import PrivateDirectory
from agent.catalogue import Texts, say
from agent.money import format_amount
from agent.reconcile.claim import (AMOUNT_WORDS, TEXTS, amounts_in_words, bilingual, iso_date, kind_in_words,
                                   layout_letter, letter_item, money_in_words)
from agent.reconcile.reconciler import Discrepancy
from posoffice.reconcile import DEBIT_ESTIMATE, NO_RRN, MerchantReconciliation

#: the letter's page width
LETTER_WIDTH = 80
#: labels the terminal's letter has no use for
OFFICE_TEXTS: Texts = {
    "subtotal": ("Terminal {terminal}: credited {direction}", "终端 {terminal} {direction}"),
    "statement_total": ("the statement's total", "对账单合计"),
    "credited_all": ("Credited (statement, all terminals)", "实际入账金额(对账单，全部终端)"),
    "debited_all": ("Debited (statement, all terminals)", "实际扣款金额(对账单，全部终端)"),
    "owed_all": ("Owed to the merchant (journals of {n} terminal(s) + contract)", "应付商户金额({n}台终端流水+合同)"),
    "owed_by_all": ("Owed by the merchant (journals of {n} terminal(s) + contract)", "商户应付金额({n}台终端流水+合同)"),
    "short": ("short by", "少入账"),
    "over": ("over by", "多入账"),
    "terminals": ("Terminals", "终端号"),
    "run": ("back office run", "后台对账记录"),
}
#: the office's own kinds of finding in words, for the letter (the terminal's are `claim.ITEM_WORDS`)
OFFICE_ITEM_WORDS: Texts = {
    "unknown_terminal": ("{moved} of a terminal the office does not know", "后台未登记终端的{moved}"),
    "other_merchant": ("{moved} of another merchant's terminal", "其他商户终端的{moved}"),
}


#: the notes a finding's detail may hold (the reconciler's and the office's, in English as kept in the run's
#: report), each with its Chinese; a note of no known form is shown as it is
DETAIL_NOTES_ZH = (
    (re.compile(re.escape(NO_RRN)), "该交易的事件不含参考号"),
    (re.compile(re.escape(DEBIT_ESTIMATE)), "该交易的事件不含卡号，手续费按借记卡费率估算"),
    (re.compile(r"merchant (\S+)"), "商户 {0}"),
    (re.compile(r"batch ([0-9]+) settled on no day yet"), "批次 {0} 尚未结算"),
    (re.compile(r"batch ([0-9]+) settled on ([0-9]+)"), "批次 {0} 于 {1} 结算"),
)


def finding_in_words(finding: dict[str, Any], language: str, exponent: int = 2) -> str:
    """A finding of a run's report (`Finding.as_dict`) as the claim letter words its item — what happened and
    its amounts, in the letter's language (`agent.reconcile.claim`'s catalogue) — then the detail's notes."""
    d = Discrepancy.from_dict(finding)
    money = lambda minor: format_amount(minor, exponent)  # noqa: E731
    what = kind_in_words(d, language, OFFICE_ITEM_WORDS)
    amounts = say(AMOUNT_WORDS, language, "comma").join(amounts_in_words(d, language, money))
    notes = [_note(note, language) for note in d.detail.split("; ") if note]
    colon, semicolon = ("：", "；") if language == "zh" else (": ", "; ")
    return semicolon.join(x for x in (f"{what}{colon}{amounts}" if amounts else what, *notes) if x)


def _note(note: str, language: str) -> str:
    if language == "zh":
        for pattern, chinese in DETAIL_NOTES_ZH:
            match = pattern.fullmatch(note)
            if match:
                return chinese.format(*match.groups())
    return note


#: what each of a run's documents is (`claim_documents` names them), by the end of its name
DOCUMENT_KINDS = (("-zh.txt", "letter_zh"), ("-en.txt", "letter_en"), (".txt", "letters"), (".json", "claim_json"))


def document_kind(name: str) -> str:
    """`letter_zh`, `letter_en`, `letters` (both), `claim_json` or `statement` (the statement as given)."""
    if name.startswith("claim-"):
        for end, kind in DOCUMENT_KINDS:
            if name.endswith(end):
                return kind
    return "statement"


def render_merchant_claim(report: MerchantReconciliation, *, language: str = "en", width: int = LETTER_WIDTH,
                          statement_name: str = "", statement_sha256: str = "", run_id: int | None = None,
                          exponent: int = 2, merchant_name: str = "", letter_date: str = "") -> str:
    """The terminal's letter layout for a whole merchant: each item names its terminal, a subtotal per terminal."""
    t, o = partial(say, TEXTS, language), partial(say, OFFICE_TEXTS, language)
    money = lambda minor: format_amount(minor, exponent)  # noqa: E731
    header = [(t("merchant_name"), merchant_name or t("none")), (t("merchant"), report.merchant_id),
              (o("terminals"), ", ".join(r.terminal_id for r in report.terminals) or t("none")),
              (t("date"), iso_date(report.settlement_date)),
              (t("letter_date"), iso_date(letter_date) if letter_date else t("none"))]
    if statement_name:
        header.append((t("statement"), statement_name))
    if statement_sha256:
        header.append((t("sha256"), statement_sha256))
    n = len(report.terminals)
    summary = [money_in_words(report.owed, o("owed_all", n=n), o("owed_by_all", n=n), money),
               money_in_words(report.credited, o("credited_all"), o("debited_all"), money),
               money_in_words(-report.difference, t("short"), t("over"), money)]
    items = []
    for f in report.findings:
        lead = [f"{t('terminal')} {f.terminal_id}" if f.terminal_id else o("statement_total"),
                f"{t('rrn')} {f.rrn}" if f.rrn else "",
                f"{t('trace')} {f.trace:06d}" if f.trace is not None else "",
                f"{t('batch')} {f.batch:06d}" if f.batch is not None else ""]
        items.append(letter_item(f.discrepancy, language, money, lead=lead, with_ids=False, effect=f.effect,
                                 words=OFFICE_ITEM_WORDS))
    subtotals = []
    for r in report.terminals:
        if r.difference:
            direction, amount = money_in_words(-r.difference, o("short"), o("over"), money)
            subtotals.append((o("subtotal", terminal=r.terminal_id, direction=direction), amount))
    evidence = f"{t('evidence')}: {o('run')} #{run_id}" if run_id is not None else ""
    return layout_letter(language=language, width=width, header=header, summary=summary, balanced=report.balanced,
                         items=items, subtotals=subtotals, unexplained=report.unexplained,
                         claim_total=report.claim_total, money=money, evidence=evidence)


def claim_json(report: MerchantReconciliation, *, statement_name: str, statement_sha256: str,
               run_id: int | None) -> dict[str, Any]:
    data = report.as_dict()
    for n, item in enumerate(data["findings"], 1):
        item["item"] = n
    return {"format": "posoffice-claim/1", "statement": statement_name, "statement_sha256": statement_sha256,
            "run": run_id, **data}


def claim_documents(report: MerchantReconciliation, *, statement_name: str, statement_sha256: str, raw: bytes,
                    run_id: int | None, merchant_name: str = "", primary: str = "zh",
                    letter_date: str | None = None) -> dict[str, bytes]:
    """claim-MID-DATE-{zh,en}.txt, claim-MID-DATE.txt (both, `primary` first), claim-MID-DATE.json and the
    statement as given, by name.  The letters are dated `letter_date` (YYYYMMDD), today if not given."""
    stem = f"claim-{report.merchant_id}-{report.settlement_date}"
    dated = letter_date or dt.date.today().strftime("%Y%m%d")
    letters = {language: render_merchant_claim(report, language=language, statement_name=statement_name,
                                               statement_sha256=statement_sha256, run_id=run_id,
                                               merchant_name=merchant_name, letter_date=dated)
               for language in ("zh", "en")}
    files = {f"{stem}-{language}.txt": letter.encode() for language, letter in letters.items()}
    files[f"{stem}.txt"] = bilingual(letters, primary).encode()
    files[f"{stem}.json"] = json.dumps(claim_json(report, statement_name=statement_name,
                                                  statement_sha256=statement_sha256, run_id=run_id),
                                       indent=2, ensure_ascii=False).encode()
    files[f"statement-{statement_name}"] = raw
    return files


def write_claim(report: MerchantReconciliation, directory: Path, *, statement_name: str, statement_sha256: str,
                raw: bytes, run_id: int | None, force: bool = False, merchant_name: str = "",
                primary: str = "zh", letter_date: str | None = None) -> list[str]:
    """`claim_documents`, written together or not at all."""
    files = claim_documents(report, statement_name=statement_name, statement_sha256=statement_sha256, raw=raw,
                            run_id=run_id, merchant_name=merchant_name, primary=primary, letter_date=letter_date)
    with PrivateDirectory.open(directory, create=True) as top:
        for name in files:  # refuse before writing anything
            top.check_free(name, force=force)
        return [str(top.write(name, data, force=force)) for name, data in files.items()]
