"""The claim for the bank: one letter per settlement day listing every item and the total to refund.

Laid out as an acquirer's own dispute form: the merchant (name and id), terminal, the statement's date and
the letter's date, each item with its kind in words and its amounts as positive amounts saying what
happened (a void charged, a fee above the contract, a sale not credited), what each item asks for or
concedes, the total asked for, and a block to sign and stamp.  Rendered from the reconciliation alone (no
clock, no files: the letter's date is given), in Chinese or English, at any width from the terminal
printer's 32 columns up (the receipt layout's `wrap`/`split_ends` measure CJK as two columns);
`bilingual` puts the primary language's letter first and the other after it.  `layout_letter` is the one
layout: the back office's merchant-wide letter (`posoffice.claims`) fills it with its own items.
`claim_json` is the same letter for programs, with the journal event that recorded the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, Sequence

from agent.catalogue import Texts, say
from agent.money import format_amount
from agent.engine.receipts import display_width
from agent.reconcile.fees import DEBIT_KINDS
from agent.reconcile.reconciler import Discrepancy, Reconciliation
from agent.reconcile.statement import StatementLine
from agent.ui.layout import split_ends, wrap

LANGUAGES = ("zh", "en")
#: between the primary language's letter and the other's, in the file that holds both
PAGE_BREAK = "\f"

TEXTS: Texts = {
    "title": ("SETTLEMENT CLAIM", "结算差错退款申请"),
    "subtitle": ("Request to refund wrongly deducted settlement funds", "申请退还多扣的结算资金"),
    "merchant_name": ("Merchant name", "商户名称"),
    "merchant": ("Merchant id", "商户编号"),
    "terminal": ("Terminal", "终端号"),
    "date": ("Settlement date", "清算日期"),
    "letter_date": ("Date of this letter", "申请日期"),
    "statement": ("Statement", "对账单"),
    "sha256": ("SHA-256", "SHA-256"),
    "owed": ("Owed to the merchant (journal + contract)", "应付商户金额(流水+合同)"),
    "owed_by": ("Owed by the merchant (journal + contract)", "商户应付金额(流水+合同)"),
    "credited": ("Credited (statement, this terminal)", "实际入账金额(对账单，本终端)"),
    "debited": ("Debited (statement, this terminal)", "实际扣款金额(对账单，本终端)"),
    "short": ("Credited short by", "少入账"),
    "over": ("Credited over by", "多入账"),
    "items": ("ITEMS", "差错明细"),
    "line": ("statement line", "对账单行"),
    "txn": ("journal txn", "终端流水"),
    "rrn": ("RRN", "参考号"),
    "trace": ("trace", "凭证号"),
    "batch": ("batch", "批次号"),
    "card": ("card", "卡号"),
    "claimed": ("Claimed", "申请退还"),
    "conceded": ("In the acquirer's favour", "收单机构应收回"),
    "claimed_all": ("Items claimed", "申请退还小计"),
    "conceded_all": ("Less items in the acquirer's favour", "减：收单机构应收回小计"),
    "unexplained_short": ("Unexplained: credited short by", "未解释差额：少入账"),
    "unexplained_over": ("Unexplained: credited over by", "未解释差额：多入账"),
    "total": ("TOTAL TO REFUND", "申请退款合计"),
    "overpaid": ("TOTAL PAID IN EXCESS", "多付合计"),
    "evidence": ("Evidence", "证据"),
    "event": ("journal event", "流水事件"),
    "balanced": ("Balanced to the cent: nothing to claim.", "对账平，精确到分，无需申请。"),
    "request": ("We ask the acquirer to refund the total above to the merchant's settlement account. Each item's "
                "evidence (the purchase as the journal holds it, with its hash-chain proof, and the statement line "
                "as given) is attached.",
                "请收单机构将上述合计金额退还至商户结算账户。每笔差错的证据(终端流水中的该笔交易及其关联交易、哈希链证明、对账单原始行)附后。"),
    "request_excess": ("The acquirer paid the merchant the total above in excess; it may be set off against the next "
                       "settlement. Each item's evidence is attached.",
                       "收单机构多付商户上述合计金额，可在下次结算中抵扣。每笔差错的证据附后。"),
    "others": ("OTHER TERMINALS' LINES (not this terminal's transactions; not part of this claim)",
               "其他终端的交易(非本终端交易，不计入本申请)"),
    "others_net": ("Other terminals' lines, net", "其他终端交易净额"),
    "sign": ("FOR THE MERCHANT", "商户签章"),
    "name": ("Name", "经办人姓名"),
    "job": ("Title", "职务"),
    "signature": ("Signature", "签字"),
    "signed_on": ("Date", "日期"),
    "seal": ("Company seal", "商户公章"),
    "none": ("-", "-"),
}

#: a statement line's kind as a noun (`sale`), and as what it did to the merchant's account (`sale.moved`)
TXN_WORDS: Texts = {
    "sale": ("sale", "消费"),
    "sale.moved": ("sale credited", "消费入账"),
    "completion": ("auth completion", "预授权完成"),
    "completion.moved": ("auth completion credited", "预授权完成入账"),
    "void": ("void", "消费撤销"),
    "void.moved": ("void charged", "撤销扣款"),
    "refund": ("refund", "退货"),
    "refund.moved": ("refund charged", "退货扣款"),
    "completion_void": ("completion void", "预授权完成撤销"),
    "completion_void.moved": ("completion void charged", "完成撤销扣款"),
}
#: each kind of finding in words, for the letter; {txn} is the line's kind, {moved} what it did
ITEM_WORDS: Texts = {
    "not_in_journal": ("{moved}, not made at this terminal", "{moved}，本终端无此交易"),
    "not_credited": ("sale not credited", "消费未入账"),
    "amount_differs": ("{txn} at the wrong amount", "{txn}金额不符"),
    "counted_twice": ("{moved} twice", "重复{moved}"),
    "cancelled_but_settled": ("reversed {txn} settled", "已冲正的{txn}仍结算"),
    "voided_but_settled": ("void missing: sale settled in full", "撤销未扣款，原消费全额结算"),
    "refunded_but_settled": ("refund missing: sale settled in full", "退货未扣款，原消费全额结算"),
    "fee_above": ("fee above the contract", "手续费高于合同费率"),
    "fee_below": ("fee below the contract", "手续费低于合同费率"),
    "fee_back_short": ("fee given back below the contract", "退还手续费少于合同"),
    "fee_back_over": ("fee given back above the contract", "退还手续费多于合同"),
    "other_day": ("{txn} of another day's batch", "其他结算日批次的{txn}"),
    "total_differs": ("statement total differs from its lines", "对账单合计与明细不符"),
}
#: the amounts of an item, each a positive amount named by what it is
AMOUNT_WORDS: Texts = {
    "amount": ("{txn} amount", "{txn}金额"),
    "fee": ("fee charged", "手续费"),
    "fee_back": ("fee given back", "退还手续费"),
    "credited": ("credited", "入账"),
    "charged": ("charged", "扣款"),
    "due": ("by the journal and contract", "按流水及合同应为"),
    "lines": ("its lines add up to", "明细合计"),
    "to_credit": ("to be credited", "应入账"),
    "to_charge": ("to be charged", "应扣款"),
    "nothing": ("nothing to settle", "无需结算"),
    "comma": (", ", "，"),
    "total_credited": ("total credited", "合计入账"),
    "total_charged": ("total charged", "合计扣款"),
}


def txn_words(kind: str, language: str) -> tuple[str, str]:
    """A statement line's kind as a noun and as what it did (`TXN_WORDS`); its own name for a kind not there."""
    if kind not in TXN_WORDS:
        return kind, kind
    return say(TXN_WORDS, language, kind), say(TXN_WORDS, language, f"{kind}.moved")


def kind_in_words(d: Discrepancy, language: str, words: Texts | None = None) -> str:
    """What a finding is, in words of what happened (`void charged twice`, `fee above the contract`);
    `words` may add kinds of finding of its own (the back office's)."""
    words = {**ITEM_WORDS, **(words or {})}
    txn_kind = d.line.txn_type if d.line is not None else "sale"
    key = d.kind
    if key == "fee_differs":
        back = d.line is not None and d.line.txn_type not in DEBIT_KINDS
        key = ("fee_back_short" if d.effect < 0 else "fee_back_over") if back else \
              ("fee_above" if d.effect < 0 else "fee_below")
    noun, moved = txn_words(txn_kind, language)
    return say(words, language, key, txn=noun, moved=moved) if key in words else d.kind


def amounts_in_words(d: Discrepancy, language: str, money: Callable[[int], str]) -> list[str]:
    """An item's amounts, each positive and named: what the statement did, what the journal says was due."""
    a = partial(say, AMOUNT_WORDS, language)
    out: list[str] = []
    if d.line is not None:
        out.append(_moves(d.line.txn_type, d.line.amount, d.line.fee, d.line.net, language, money))
    if d.kind == "total_differs" and d.expected_amount is not None:
        total = d.expected_amount + d.effect
        out.append(f"{a('lines')} {money(abs(d.expected_amount))}"
                   f" ({a('credited') if d.expected_amount >= 0 else a('charged')})")
        out.append(f"{a('total_credited') if total >= 0 else a('total_charged')} {money(abs(total))}")
    elif d.expected_amount == 0 and not d.expected_fee:
        out.append(f"{a('due')}: {a('nothing')}")
    elif d.expected_amount is not None:
        kind = "sale" if d.expected_amount >= 0 else ("refund" if d.kind == "refunded_but_settled" else "void")
        if d.line is not None and (d.line.amount >= 0) == (d.expected_amount >= 0):
            kind = d.line.txn_type
        fee = d.expected_fee or 0
        out.append(f"{a('due')}: " + _moves(kind, d.expected_amount, fee, d.expected_amount - fee, language, money,
                                                 due=True))
    return out


def _moves(txn_kind: str, amount: int, fee: int, net: int, language: str, money: Callable[[int], str], *,
           due: bool = False) -> str:
    a = partial(say, AMOUNT_WORDS, language)
    noun = txn_words(txn_kind, language)[0]
    fee_words = a("fee") if fee >= 0 else a("fee_back")
    comma = a("comma")
    net_words = (a("to_credit") if net >= 0 else a("to_charge")) if due else \
        (a("credited") if net >= 0 else a("charged"))
    return f"{a('amount', txn=noun)} {money(abs(amount))}{comma}{fee_words} {money(abs(fee))}{comma}" \
           f"{net_words} {money(abs(net))}"


def line_facts(line: StatementLine, t: Callable[[str], str], *, with_ids: bool = True) -> list[str]:
    """Where a statement line is: its number, RRN, trace, batch, date and time, card (`t` says a word of
    `TEXTS` in the letter's language)."""
    facts = [f"{t('line')} {line.line}" if line.line else ""]
    if with_ids:
        facts += [f"{t('rrn')} {line.rrn}", f"{t('trace')} {line.trace_no:06d}", f"{t('batch')} {line.batch_no:06d}"]
    facts += [f"{line.txn_date[:4]}-{line.txn_date[4:6]}-{line.txn_date[6:]} "
              f"{line.txn_time[:2]}:{line.txn_time[2:4]}:{line.txn_time[4:]}", f"{t('card')} {line.card_no}"]
    return [f for f in facts if f]


@dataclass(frozen=True)
class LetterItem:
    """One item of a claim letter: its kind in words, where it is, its amounts, and its effect on
    (credited − owed): negative is claimed from the acquirer, positive is in the acquirer's favour."""

    what: str
    facts: tuple[str, ...]
    amounts: tuple[str, ...]
    effect: int


def letter_item(d: Discrepancy, language: str, money: Callable[[int], str], *, lead: Sequence[str] = (),
                with_ids: bool = True, effect: int | None = None, words: Texts | None = None) -> LetterItem:
    """A finding as a letter item; `lead` names where it is first (the back office: terminal, trace, batch)."""
    t = partial(say, TEXTS, language)
    facts = [*lead]
    if d.line is not None:
        facts += line_facts(d.line, t, with_ids=with_ids)
    elif d.rrn and with_ids:
        facts.append(f"{t('rrn')} {d.rrn}")
    if d.txn_id is not None:
        facts.append(f"{t('txn')} #{d.txn_id}")
    if d.detail:
        facts.append(d.detail)
    return LetterItem(kind_in_words(d, language, words), tuple(f for f in facts if f),
                      tuple(amounts_in_words(d, language, money)), d.effect if effect is None else effect)


def iso_date(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}" if len(yyyymmdd) == 8 else yyyymmdd


def layout_letter(*, language: str, width: int, header: Sequence[tuple[str, str]],
                  summary: Sequence[tuple[str, str]], balanced: bool, items: Sequence[LetterItem],
                  subtotals: Sequence[tuple[str, str]], unexplained: int, claim_total: int,
                  money: Callable[[int], str], others: Sequence[str] = (), evidence: str = "") -> str:
    """The claim letter's one layout (the terminal's and the back office's): header, summary, items, totals,
    the request, other terminals' lines, evidence, and the block to sign and stamp."""
    t = partial(say, TEXTS, language)
    rule, thin = "=" * width, "-" * width
    out = [rule, *wrap(t("title"), width), *wrap(t("subtitle"), width), rule]
    for label, value in header:
        out += _field(label, value, width)
    out.append(thin)
    for label, value in summary:
        out += _field(label, value, width)
    out.append(thin)
    if balanced:
        out += wrap(t("balanced"), width)
    else:
        out.append(t("items"))
        for n, item in enumerate(items, 1):
            out += wrap(f"{n}. {item.what}", width)
            if item.facts:
                out += ["   " + x for x in wrap("  ".join(item.facts), max(1, width - 3))]
            for amount in item.amounts:
                out += ["   " + x for x in wrap(amount, max(1, width - 3))]
            label = t("claimed") if item.effect < 0 else t("conceded")
            out.append(split_ends("", f"{label} {money(abs(item.effect))}", width))
        out.append(thin)
        for label, value in subtotals:
            out += _field(label, value, width)
        claimed = -sum(i.effect for i in items if i.effect < 0)
        conceded = sum(i.effect for i in items if i.effect > 0)
        out += _field(t("claimed_all"), money(claimed), width)
        if conceded:
            out += _field(t("conceded_all"), money(conceded), width)
        if unexplained:
            label = t("unexplained_short") if unexplained < 0 else t("unexplained_over")
            out += _field(label, money(abs(unexplained)), width)
        out += _field(t("total") if claim_total >= 0 else t("overpaid"), money(abs(claim_total)), width)
        out.append(thin)
        out += wrap(t("request") if claim_total >= 0 else t("request_excess"), width)
    if others:
        out.append(thin)
        out += others
    if evidence:
        out += wrap(evidence, width)
    out += signature_block(language, width)
    out.append(rule)
    return "\n".join(out) + "\n"


def signature_block(language: str, width: int) -> list[str]:
    """Where the merchant signs and stamps: name, title, signature, date, company seal."""
    t = partial(say, TEXTS, language)
    out = ["-" * width, *wrap(t("sign"), width)]
    line = min(width, 44)
    for key in ("name", "job", "signature", "signed_on"):
        label = f"{t(key)}: "
        out.append(label + "_" * max(8, line - display_width(label)))
    seal = max(8, min(30, width - 2))
    out += [f"{t('seal')}:", "", "+" + "-" * (seal - 2) + "+", *(["|" + " " * (seal - 2) + "|"] * 3),
            "+" + "-" * (seal - 2) + "+"]
    return out


def _field(label: str, value: str, width: int) -> list[str]:
    """A label and its value on one line, or the value on its own line(s) when both do not fit."""
    if display_width(label) + 1 + display_width(value) <= width:
        return [split_ends(label, value, width)]
    return [*wrap(label, width), *["  " + x for x in wrap(value, max(1, width - 2))]]


def money_in_words(value: int, positive: str, negative: str, money: Callable[[int], str]) -> tuple[str, str]:
    """A signed sum as a label naming its direction and a positive amount."""
    return (positive if value >= 0 else negative), money(abs(value))


def bilingual(letters: dict[str, str], primary: str) -> str:
    """Both letters in one file: the primary language's first, the other after a page break."""
    order = [primary, *(x for x in LANGUAGES if x != primary)]
    return PAGE_BREAK.join(letters[x] for x in order)


def render_claim(report: Reconciliation, *, language: str = "en", width: int = 80, statement_name: str = "",
                 statement_sha256: str = "", event: Mapping[str, Any] | None = None, exponent: int = 2,
                 merchant_name: str = "", letter_date: str = "") -> str:
    """The terminal's letter; `letter_date` (YYYYMMDD) is the day it is written."""
    t = partial(say, TEXTS, language)
    money: Callable[[int], str] = lambda minor: format_amount(minor, exponent)  # noqa: E731
    header = [(t("merchant_name"), merchant_name or t("none")), (t("merchant"), report.merchant_id),
              (t("terminal"), report.terminal_id), (t("date"), iso_date(report.settlement_date)),
              (t("letter_date"), iso_date(letter_date) if letter_date else t("none"))]
    if statement_name:
        header.append((t("statement"), statement_name))
    if statement_sha256:
        header.append((t("sha256"), statement_sha256))
    summary = [money_in_words(report.owed, t("owed"), t("owed_by"), money),
               money_in_words(report.credited, t("credited"), t("debited"), money),
               money_in_words(-report.difference, t("short"), t("over"), money)]
    items = [letter_item(d, language, money) for d in report.discrepancies]
    others: list[str] = []
    if report.other_terminals:
        others += wrap(t("others"), width)
        for n, line in enumerate(report.other_terminals, 1):
            facts = [f"{t('terminal')} {line.terminal_id}", *line_facts(line, t),
                     _moves(line.txn_type, line.amount, line.fee, line.net, language, money)]
            others += wrap(f"{n}. " + "  ".join(facts), width)
        net_words = say(AMOUNT_WORDS, language, "credited" if report.other_terminals_net >= 0 else "charged")
        others += _field(t("others_net"), f"{net_words} {money(abs(report.other_terminals_net))}", width)
    evidence = f"{t('evidence')}: {t('event')} #{event['event_id']} {event['hash']}" if event else ""
    return layout_letter(language=language, width=width, header=header, summary=summary, balanced=report.balanced,
                         items=items, subtotals=(), unexplained=report.unexplained, claim_total=report.claim_total,
                         money=money, others=others, evidence=evidence)


def claim_json(report: Reconciliation, *, statement_name: str, statement_sha256: str,
               event: Mapping[str, Any] | None,
               evidence_files: dict[int, str] | None = None) -> dict[str, Any]:
    data = report.as_dict()
    for n, item in enumerate(data["discrepancies"], 1):
        item["item"] = n
        if evidence_files and n in evidence_files:
            item["evidence"] = evidence_files[n]
    return {"format": "posagent-claim/2", "statement": statement_name, "statement_sha256": statement_sha256,
            "journal_event": event, **data}
