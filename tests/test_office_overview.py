"""What the web pages derive from the events, without a database (`posoffice/overview.py`): open fixes with the
terminal's resume command, reversals left for manual handling, duplicates within one till, a sale's standing
after a void or refund on any till, open batch totals per payment type, settled days with the contract's fees;
and the chart and the text catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from agent.reconcile.fees import DEFAULT_CONTRACT
from posoffice import overview
from posoffice.duplicates import find_duplicates
from posoffice.report import Transaction
from posoffice.web import chart, texts

DEBIT = "622609******0048"
ALIPAY = "281234********5678"  # 18 digits from 28: an Alipay payment code, masked


def txn(terminal, txn_id, kind="sale", amount=1000, *, state="approved", at=1000.0, settled=None, card=DEBIT,
        batch=1, **known) -> Transaction:
    return Transaction(terminal, txn_id, kind, amount, trace=txn_id + 1, batch=batch, state=state, made_at=at,
                       settled_at=settled, card=card, **known)


def test_an_open_fix_is_listed_with_the_terminal_s_resume_command_until_it_is_done_or_closed():
    txns = [txn("T1", 5, amount=12000), txn("T1", 9, amount=3000)]
    plan = {"fix": 1, "kind": "correction", "steps": [{"op": "void", "status": "done"},
                                                      {"op": "sale", "status": "owed"}]}
    events = [("T1", 10, 5, "fix.plan", 2000.0, plan),
              ("T1", 11, 5, "fix.step", 2001.0, {"fix": 1, "steps": ["done", "owed"]}),
              ("T1", 12, 9, "fix.plan", 2002.0, {"fix": 2, "kind": "duplicate_fix", "steps": []}),
              ("T1", 13, 9, "fix.done", 2003.0, {"fix": 2, "reason": None})]
    [fix] = overview.open_fixes(events, txns)
    assert (fix.terminal, fix.id, fix.steps) == ("T1", 1, ("done", "owed"))
    assert fix.command == "posagent correct 000006 --resume"  # the original's trace
    closed = [*events, ("T1", 14, 5, "fix.closed", 2004.0, {"fix": 1, "reason": "customer paid cash"})]
    assert overview.open_fixes(closed, txns) == []
    dup = [("T2", 3, 4, "fix.plan", 5.0, {"fix": 7, "kind": "duplicate_fix", "steps": []})]
    assert overview.open_fixes(dup, [txn("T2", 4)])[0].command == "posagent duplicates --fix 4"


def test_a_fix_s_events_from_before_the_rename_are_read_like_today_s_even_mixed_within_one_fix():
    """A terminal shipped `chain.*` events (the fix's id under "chain") before its upgrade: the office keeps
    them, and a fix planned before the upgrade may end after it."""
    txns = [txn("T1", 5, amount=12000), txn("T1", 9, amount=3000), txn("T2", 4)]
    old_plan = {"chain": 1, "kind": "correction", "steps": [{"op": "void", "status": "done"},
                                                            {"op": "sale", "status": "owed"}]}
    events = [("T1", 10, 5, "chain.plan", 2000.0, old_plan),
              ("T1", 11, 5, "chain.step", 2001.0, {"chain": 1, "steps": ["done", "owed"]}),
              ("T1", 12, 9, "chain.plan", 2002.0, {"chain": 2, "kind": "duplicate_fix", "steps": []}),
              ("T1", 13, 9, "chain.done", 2003.0, {"chain": 2, "reason": None}),
              ("T2", 3, 4, "fix.plan", 5.0, {"fix": 7, "kind": "duplicate_fix", "steps": []})]
    assert {k for *_, k, _at, _d in events} <= set(overview.ALERT_KINDS)  # Today reads them (and their index)
    new, old = overview.open_fixes(events, txns)  # oldest first
    assert (old.terminal, old.id, old.kind, old.steps) == ("T1", 1, "correction", ("done", "owed"))
    assert old.command == "posagent correct 000006 --resume" and new.command == "posagent duplicates --fix 4"
    after = [*events, ("T1", 14, 5, "fix.step", 2004.0, {"fix": 1, "steps": ["done", "done"]})]
    assert overview.open_fixes(after, txns)[1].steps == ("done", "done")  # the old plan, a new step
    closed = [*after, ("T1", 15, 5, "fix.closed", 2005.0, {"fix": 1, "reason": "customer paid cash"}),
              ("T2", 4, 4, "chain.closed", 6.0, {"chain": 7, "reason": "x"})]
    assert overview.open_fixes(closed, txns) == []


def test_a_reversal_out_of_tries_waits_for_manual_handling_until_done_or_handled():
    events = [("T1", 3, 2, "reversal.failed", 10.0, {"reversal": 1, "tries": 2, "state": "pending", "error": "x"}),
              ("T1", 4, 2, "reversal.failed", 11.0, {"reversal": 1, "tries": 3, "state": "needs_manual",
                                                      "error": "no answer"})]
    [waiting] = overview.manual_reversals(events, [txn("T1", 2, state="in_doubt")])
    assert waiting.tries == 3 and waiting.command.startswith("posagent reversals --handled 1 --note")
    assert waiting.txn.txn_id == 2
    assert overview.manual_reversals([*events, ("T1", 5, 2, "reversal.handled", 12.0, {"reversal": 1})], []) == []
    assert overview.manual_reversals(events[:1], []) == []  # still being retried: not yet a person's job


def test_duplicates_within_one_till_need_the_card_and_fixed_pairs_leave_the_list():
    merchant = {"T1": "M", "T2": "M"}
    same_till = [txn("T1", 1, at=100.0), txn("T1", 2, at=160.0)]
    pairs = find_duplicates(same_till, merchant, window_s=300, within_tills=True)
    [(pair, fix)] = overview.open_pairs(pairs, same_till)
    assert (pair.first.txn_id, pair.second.txn_id) == (1, 2) and (fix["action"], fix["trace"]) == ("void", 3)
    assert find_duplicates(same_till, merchant, window_s=300) == []  # `posoffice duplicates` lists across tills only
    no_card = [txn("T1", 1, at=100.0, card=None), txn("T1", 2, at=160.0, card=None)]
    assert find_duplicates(no_card, merchant, window_s=300, within_tills=True) == []  # the amount alone: no suspicion
    void = txn("T1", 3, kind="void", at=200.0, original=2)
    assert overview.open_pairs(pairs, [*same_till, void]) == []
    refund = txn("T1", 3, kind="refund", amount=400, at=200.0, original=2, settled=300.0)
    [(_, part)] = overview.open_pairs(pairs, [refund])
    assert (part["action"], part["amount"]) == ("refund", 600)  # what is left of the later charge


def test_a_sale_stands_voided_or_refunded_by_what_names_it_on_any_till():
    sale = txn("T1", 1, amount=5000, rrn="000000000777")
    assert overview.standing(sale, [sale]) == "approved"
    assert overview.standing(sale, [sale, txn("T1", 2, kind="void", amount=5000, original=1)]) == "voided"
    part = txn("T1", 2, kind="refund", amount=2000, original=1)
    assert overview.standing(sale, [sale, part]) == "refunded_partially"
    from posoffice.refunds import mmdd
    there = txn("T2", 8, kind="refund", amount=3000, original_rrn="000000000777", original_date=mmdd(1000.0, None))
    assert overview.standing(sale, [sale, part, there]) == "refunded"
    assert overview.standing(txn("T1", 4, state=None), []) is None


def test_the_open_batch_is_totalled_per_payment_type_and_a_settled_one_is_not():
    rows = [{"terminal": "T1", "merchant": "M", "last_contact": None, "backlog": 0, "chain": "ok"}]
    txns = [txn("T1", 1, amount=1000, settled=500.0), txn("T1", 2, amount=700, batch=2),
            txn("T1", 3, amount=300, batch=2, card=ALIPAY), txn("T1", 4, kind="refund", amount=200, batch=2),
            txn("T1", 5, amount=999, batch=2, state="declined")]
    [row] = overview.terminals_today(rows, txns)
    assert row.open_batch == 2 and row.last_settled_at == 500.0 and not row.settled
    assert (row.open_totals["card"].count, row.open_totals["card"].amount) == (2, 500)
    assert (row.open_totals["code"].count, row.open_totals["code"].amount) == (1, 300)


def test_settled_days_add_the_net_and_the_contract_s_fees_per_terminal():
    day = 1_765_000_000.0
    txns = [txn("T1", 1, amount=10_000, settled=day), txn("T1", 2, kind="void", amount=10_000, settled=day),
            txn("T1", 3, amount=20_000, settled=day, card="625094******0016"), txn("T2", 1, amount=5000)]
    days = overview.settled_days(txns, None, DEFAULT_CONTRACT, ("625094",))
    [(when, per)] = days.items()
    assert list(per) == ["T1"] and per["T1"].net == 20_000 and per["T1"].count == 3
    assert per["T1"].fees == 50 - 50 + 120  # debit 0.50 %, given back by the void; credit 0.60 %


def test_the_chart_is_svg_with_a_bar_per_terminal_and_day_and_no_style_attribute():
    svg = chart.bar_chart("net", ["12-01", "12-02"], ["T1", "T2"], lambda d, t: 1000 if t == "T1" else -250, str)
    assert svg.startswith("<svg") and svg.count("<rect") == 4 + 2  # four bars, two legend keys
    assert "style=" not in svg and "<script" not in svg


def test_every_text_the_templates_use_is_in_both_languages():
    used = set()
    for page in (Path(texts.__file__).parent / "templates").glob("*.html"):
        used |= set(re.findall(r't\("([a-z_0-9]+)"', page.read_text(encoding="utf-8")))
    prefixed = {k for k in used if k.endswith("_")}
    assert (used - prefixed) - set(texts.TEXTS) == set()  # each text's fields: tests/test_catalogues.py
    for prefix, values in (("kind_", ("sale", "void", "refund", "correction", "completion", "completion_void")),
                           ("role_", ("manager", "finance", "admin")), ("pt_", overview.PAYMENT_TYPES),
                           ("status_", ("balanced", "differs", "refused")),
                           ("fix_", ("correction", "duplicate_fix", "completion_fix")),
                           ("keypad_", ("correction", "duplicate_fix", "completion_fix"))):
        assert {prefix + v for v in values} <= set(texts.TEXTS), prefix


def test_a_finding_s_words_and_notes_are_the_letter_s_in_either_language_and_each_document_has_a_label():
    from posoffice.claims import DOCUMENT_KINDS, document_kind, finding_in_words
    from posoffice.reconcile import DEBIT_ESTIMATE, NO_RRN
    from posoffice.web.pagekit import document_label
    from agent.reconcile.statement import StatementLine
    line = StatementLine("20261203", "20261203", "101010", "20000009", 1, 7, "1", "", "625094******0016", "debit",
                         "sale", 1000, 6, 994, 4).as_dict()
    findings = [
        {"kind": "not_credited", "effect": -29820, "txn_id": 3, "line": None, "expected_amount": 30000,
         "expected_fee": 180, "detail": f"{NO_RRN}; {DEBIT_ESTIMATE}"},
        {"kind": "other_day", "effect": -994, "txn_id": 4, "line": None, "expected_amount": 1000, "expected_fee": 6,
         "detail": "batch 000002 settled on 20261202"},
        {"kind": "other_day", "effect": -994, "txn_id": 5, "line": None, "expected_amount": 1000, "expected_fee": 6,
         "detail": "batch 000003 settled on no day yet"},
        {"kind": "other_merchant", "effect": 994, "line": line, "detail": "merchant M2"},
        {"kind": "unknown_terminal", "effect": 994, "line": line, "detail": ""},
    ]
    for finding in findings:
        chinese = finding_in_words(finding, "zh")
        assert not re.search(r"[A-Za-z]", chinese.replace("M2", "")), chinese
        english = finding_in_words(finding, "en")
        assert not re.search(r"[\u4e00-\u9fff]", english) and finding["detail"] in english, english
    assert "批次 000002 于 20261202 结算" in finding_in_words(findings[1], "zh")
    assert "商户 M2" in finding_in_words(findings[3], "zh")
    names = ["claim-1-20261203-zh.txt", "claim-1-20261203-en.txt", "claim-1-20261203.txt", "claim-1-20261203.json",
             "statement-merchant.csv"]
    assert [document_kind(n) for n in names] == [k for _end, k in DOCUMENT_KINDS] + ["statement"]
    for language in ("zh", "en"):
        labels = [document_label(n, language) for n in names]
        assert len(set(labels)) == len(names), labels
    assert document_label(names[0], "zh") == "结算差错退款申请（中文）"
