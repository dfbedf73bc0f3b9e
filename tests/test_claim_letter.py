"""The claim letter reads like an acquirer's own dispute form (S2): the merchant's name and id, the terminal,
the statement's date and the letter's, each item's kind in words, its amounts as positive amounts saying
what happened, what it asks for, the total asked for, and a block to sign and stamp — in Chinese and
English, the terminal's language first in the file that holds both.  The back office's merchant-wide
letter is the same layout with the terminal named on each item."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from agent.engine.receipts import display_width
from agent.reconcile.claim import PAGE_BREAK, layout_letter, render_claim
from agent.reconcile.reconciler import Discrepancy, Reconciliation
from agent.reconcile.statement import StatementLine
from tests.agentproc import start_agent
from tests.test_reconcile_cli import day_of_payments, statement

MERCHANT_NAME = "海淀便利店 HAIDIAN MART"
NEGATIVE = re.compile(r"(?<![\w-])-\d+\.\d\d\b")
SIGN_BLOCK = {"en": ("FOR THE MERCHANT", "Name: ", "Title: ", "Signature: ", "Date: ", "Company seal:"),
              "zh": ("商户签章", "经办人姓名: ", "职务: ", "签字: ", "日期: ", "商户公章:")}
HEADER = {"en": ("Merchant name", "Merchant id", "Terminal", "Settlement date", "Date of this letter"),
          "zh": ("商户名称", "商户编号", "终端号", "清算日期", "申请日期")}
TOTAL = {"en": "TOTAL TO REFUND", "zh": "申请退款合计"}


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port,
                          extra=f'[terminal]\nmerchant_name = "{MERCHANT_NAME}"\nlanguage = "zh"\n')
    yield running
    running.stop()


def flat(letter: str) -> str:
    """The letter's words with its line breaks taken out (a long item wraps at any width)."""
    return " ".join(letter.split())


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def value_of(letter: str, label: str) -> str:
    """The value printed on a header or total line, right-aligned after its label."""
    line = next(x for x in letter.splitlines() if x.startswith(label))
    return line[len(label):].strip()


def assert_a_dispute_form(letter: str, language: str, *, merchant_id: str, day: str, total: int) -> None:
    iso = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    names = HEADER[language]
    assert value_of(letter, names[0]) == MERCHANT_NAME
    assert value_of(letter, names[1]) == merchant_id
    assert value_of(letter, names[3]) == iso
    assert value_of(letter, names[4]) == dt.date.today().isoformat()
    assert value_of(letter, TOTAL[language]) == money(total)
    assert not NEGATIVE.findall(letter), NEGATIVE.findall(letter)
    block = letter[letter.index(SIGN_BLOCK[language][0]):]
    for label in SIGN_BLOCK[language]:
        assert label in block
    assert letter.index(TOTAL[language]) < letter.index(SIGN_BLOCK[language][0])


def test_the_letter_names_merchant_terminal_dates_each_item_in_words_and_has_a_place_to_sign(agent, sim_host,
                                                                                            tmp_path):
    day_of_payments(agent)
    clean = statement(sim_host, tmp_path / "clean.csv")
    for rule in ("statement_fee_above_rate:seed=1", "statement_deducted_twice:seed=2",
                 "statement_sale_missing:seed=3", "statement_reversed_settled"):
        sim_host.fault(rule)
    faulty = statement(sim_host, tmp_path / "faulty.csv")
    assert {a["finding"] for a in faulty["faults_applied"]} == {"fee_differs", "counted_twice", "not_credited"}

    claims = tmp_path / "claims"
    done = agent.cli("reconcile", str(tmp_path / "faulty.csv"), "--claim", str(claims))
    assert done.returncode == 1, done.stdout + done.stderr
    day = dt.date.today().strftime("%Y%m%d")
    claim = json.loads((claims / f"claim-{day}.json").read_text())
    total = claim["claim_total"]
    assert total == clean["credit"] - faulty["credit"] > 0 and claim["unexplained"] == 0
    twice = next(d for d in claim["discrepancies"] if d["kind"] == "counted_twice")["line"]["txn_type"]
    letters = {lang: (claims / f"claim-{day}-{lang}.txt").read_text() for lang in ("zh", "en")}
    for lang, letter in letters.items():
        assert_a_dispute_form(letter, lang, merchant_id=claim["merchant_id"], day=day, total=total)
        assert value_of(letter, HEADER[lang][2]) == claim["terminal_id"]
    en, zh = letters["en"], letters["zh"]
    assert "fee above the contract" in en and "sale not credited" in en and "Claimed" in en
    assert f"{ {'void': 'void charged', 'refund': 'refund charged'}[twice]} twice" in en
    assert "手续费高于合同费率" in zh and "消费未入账" in zh and {"void": "重复撤销扣款", "refund": "重复退货扣款"}[twice] in zh
    # each item says what it asks for, as a positive amount; the items add up to the total
    claimed = [int(x.replace(".", "")) for x in re.findall(r"^ +Claimed (\d+\.\d\d)$", en, re.M)]
    conceded = [int(x.replace(".", "")) for x in re.findall(r"^ +In the acquirer's favour (\d+\.\d\d)$", en, re.M)]
    assert len(claimed) + len(conceded) == len(claim["discrepancies"])
    assert sum(claimed) - sum(conceded) == total
    assert [int(x.replace(".", "")) for x in re.findall(r"^ +申请退还 (\d+\.\d\d)$", zh, re.M)] == claimed
    # the file to hand over holds both letters, the terminal's language (zh here) first
    both = (claims / f"claim-{day}.txt").read_text().split(PAGE_BREAK)
    assert both == [zh, en]
    printer = (claims / f"claim-{day}-zh-printer.txt").read_text()
    assert max(display_width(x) for x in printer.splitlines()) <= 32
    assert "商户公章:" in printer and MERCHANT_NAME in printer and not NEGATIVE.findall(printer)


def line(kind: str, amount: int, fee: int, *, terminal: str = "10000001", trace: int = 7, n: int = 9) -> StatementLine:
    return StatementLine("20261203", "20261203", "101530", terminal, 1, trace, f"3370000000{trace:02d}", "123456",
                         "622609******0048", "debit", kind, amount, fee, amount - fee, n)


def test_every_kind_of_finding_reads_as_what_happened_with_positive_amounts():
    void = line("void", -7777, -39)
    refund = line("refund", -10000, 0, trace=8)
    found = (Discrepancy("counted_twice", void.net, 3, void),
             Discrepancy("fee_differs", -13, 4, line("sale", 12345, 75, trace=9), 12345, 62),
             Discrepancy("fee_differs", -10, 5, line("void", -12345, -52, trace=10), -12345, -62),
             Discrepancy("not_credited", -12283, 6, None, 12345, 62, rrn="337000000011"),
             Discrepancy("voided_but_settled", 7738, 7, None, -7777, -39, rrn="337000000012"),
             Discrepancy("refunded_but_settled", 10000, 8, None, -10000, 0, rrn="337000000013"),
             Discrepancy("not_in_journal", refund.net, None, refund),
             Discrepancy("cancelled_but_settled", 6567, 9, line("sale", 6600, 33, trace=14), 0, 0,
                         "journal state reversed"),
             Discrepancy("total_differs", -500, expected_amount=100000))
    report = Reconciliation("20261203", "123456789012345", "10000001", 200000,
                            200000 + sum(d.effect for d in found), 20, 18, found)
    en = render_claim(report, language="en", merchant_name=MERCHANT_NAME, letter_date="20261204")
    zh = render_claim(report, language="zh", merchant_name=MERCHANT_NAME, letter_date="20261204")
    for words in ("void charged twice", "fee above the contract", "fee given back below the contract",
                  "sale not credited", "void missing: sale settled in full", "refund missing: sale settled in full",
                  "refund charged, not made at this terminal", "reversed sale settled",
                  "statement total differs from its lines",
                  "void amount 77.77, fee given back 0.39, charged 77.38",
                  "by the journal and contract: sale amount 123.45, fee charged 0.62, to be credited 122.83",
                  "by the journal and contract: nothing to settle", "Credited short by", "Date of this letter"):
        assert words in flat(en), words
    for words in ("重复撤销扣款", "手续费高于合同费率", "退还手续费少于合同", "消费未入账", "撤销未扣款", "退货未扣款",
                  "退货扣款，本终端无此交易", "已冲正的消费仍结算", "对账单合计与明细不符"):
        assert words in zh, words
    for letter in (en, zh):
        assert not NEGATIVE.findall(letter), NEGATIVE.findall(letter)
    assert value_of(en, "TOTAL TO REFUND") == money(report.claim_total)
    assert value_of(en, "Items claimed") == money(-sum(d.effect for d in found if d.effect < 0))
    assert value_of(en, "Less items in the acquirer's favour") == money(sum(d.effect for d in found if d.effect > 0))
    for width in (32, 42):
        narrow = render_claim(report, language="zh", width=width, merchant_name=MERCHANT_NAME, letter_date="20261204")
        assert max(display_width(x) for x in narrow.splitlines()) <= width
    paid_over = Reconciliation("20261203", "123456789012345", "10000001", 1000, 2000, 1, 1,
                               (Discrepancy("not_in_journal", 1000, None, line("sale", 1000, 0)),))
    over = render_claim(paid_over, language="en", merchant_name=MERCHANT_NAME, letter_date="20261204")
    assert value_of(over, "TOTAL PAID IN EXCESS") == "10.00" and value_of(over, "Credited over by") == "10.00"
    assert "sale credited, not made at this terminal" in over and not NEGATIVE.findall(over)


def test_the_back_office_letter_is_the_same_layout_with_the_terminal_on_each_item(monkeypatch, tmp_path):
    from posoffice import claims as office_claims
    from posoffice.reconcile import Finding, MerchantReconciliation

    laid_out = []
    monkeypatch.setattr(office_claims, "layout_letter", lambda **kw: laid_out.append(kw) or layout_letter(**kw))
    sale = line("sale", 12345, 75, terminal="10000002", trace=21)
    void = line("void", -7777, -39, terminal="10000001", trace=22)
    stranger = line("refund", -5000, 0, terminal="77777777", trace=23)
    t1 = Reconciliation("20261203", "123456789012345", "10000001", 100000, 100000 + void.net, 5, 5,
                        (Discrepancy("counted_twice", void.net, 3, void),))
    t2 = Reconciliation("20261203", "123456789012345", "10000002", 50000, 50000 - 13, 3, 3,
                        (Discrepancy("fee_differs", -13, 4, sale, 12345, 62),))
    findings = (Finding("10000001", t1.discrepancies[0], 22, 1), Finding("10000002", t2.discrepancies[0], 21, 1),
                Finding("77777777", Discrepancy("unknown_terminal", stranger.net, line=stranger), 23, 1))
    report = MerchantReconciliation("123456789012345", "20261203", 9, t1.credited + t2.credited + stranger.net,
                                    (t1, t2), findings)
    files = office_claims.write_claim(report, tmp_path / "claims", statement_name="merchant.csv",
                                      statement_sha256="ab" * 32, raw=b"raw", run_id=12, merchant_name=MERCHANT_NAME,
                                      letter_date="20261204")
    assert len(laid_out) == 2  # one layout, both languages
    stem = tmp_path / "claims" / "claim-123456789012345-20261203"
    letters = {lang: stem.with_name(stem.name + f"-{lang}.txt").read_text() for lang in ("zh", "en")}
    assert str(stem.with_suffix(".txt")) in files
    assert stem.with_suffix(".txt").read_text().split(PAGE_BREAK) == [letters["zh"], letters["en"]]
    total = report.claim_total
    assert total == 7738 + 13 + 5000
    for lang, letter in letters.items():
        iso = "2026-12-03"
        assert value_of(letter, HEADER[lang][0]) == MERCHANT_NAME
        assert value_of(letter, HEADER[lang][1]) == "123456789012345"
        assert value_of(letter, HEADER[lang][3]) == iso and value_of(letter, HEADER[lang][4]) == "2026-12-04"
        assert value_of(letter, TOTAL[lang]) == money(total)
        assert not NEGATIVE.findall(letter)
        block = letter[letter.index(SIGN_BLOCK[lang][0]):]
        assert all(label in block for label in SIGN_BLOCK[lang])
        terminal = HEADER[lang][2]
        for f in findings:  # every item names its terminal and trace
            assert f"{terminal} {f.terminal_id}" in letter and f"{f.trace:06d}" in letter
    en, zh = letters["en"], letters["zh"]
    assert "void charged twice" in en and "fee above the contract" in en
    assert "refund charged of a terminal the office does not know" in en
    assert "重复撤销扣款" in zh and "手续费高于合同费率" in zh and "后台未登记终端的退货扣款" in zh
    assert value_of(en, "Terminal 10000001: credited short by") == money(-void.net)
