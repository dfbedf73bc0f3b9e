"""Receipts against the CUP receipt layout (签购单, 结算总计单): every label in both languages, what is signed and
what is only a notice, and the settlement slip."""

from __future__ import annotations

import pytest

from agent.catalogue import say
from agent.journal.records import Totals, Txn
from agent.engine.receipts import LABELS, display_width, render_receipt, render_settlement_report

#: each label a receipt prints, as the CUP layout names it: English, and the Chinese terminal's bilingual label
CUP_LABELS = {
    "merchant_name": ("MERCHANT NAME", "商户名称 MERCHANT NAME"),
    "merchant": ("MERCHANT NO.", "商户编号 MERCHANT NO."),
    "terminal": ("TERMINAL NO.", "终端编号 TERMINAL NO."),
    "card": ("CARD NO.", "卡号 CARD NO."),
    "type": ("TRANS TYPE", "交易类型 TRANS TYPE"),
    "batch": ("BATCH NO.", "批次号 BATCH NO."),
    "trace": ("VOUCHER NO.", "凭证号 VOUCHER NO."),
    "auth": ("AUTH NO.", "授权码 AUTH NO."),
    "rrn": ("REFER NO.", "参考号 REFER NO."),
    "date": ("DATE/TIME", "日期/时间 DATE/TIME"),
    "amount": ("AMOUNT", "金额 AMOUNT"),
    "reference": ("REFERENCE", "备注 REFERENCE"),
    "sign": ("CARDHOLDER SIGNATURE", "持卡人签名 CARDHOLDER SIGNATURE"),
    "merchant_copy": ("MERCHANT COPY", "商户存根 MERCHANT COPY"),
    "customer_copy": ("CARDHOLDER COPY", "持卡人存根 CARDHOLDER COPY"),
    "settlement": ("SETTLEMENT", "结算总计单 SETTLEMENT"),
    "balanced": ("balanced", "对账平"),
    "unbalanced": ("not balanced", "对账不平"),
    # transaction types
    "sale": ("SALE", "消费"), "void": ("VOID", "消费撤销"), "refund": ("REFUND", "退货"),
    "preauth": ("AUTH", "预授权"), "preauth_void": ("AUTH VOID", "预授权撤销"),
    "completion": ("AUTH COMPLETE", "预授权完成"), "completion_void": ("AUTH COMPLETE VOID", "预授权完成撤销"),
}
AGREE = ("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES", "本人确认以上交易，同意将其记入本卡账户")
NOW = 1_795_455_800.0


def txn(kind="sale", state="approved", **more) -> Txn:
    fields = dict(id=1, kind=kind, state=state, amount=12345, currency="156", trace=3, batch=1, rrn="000000000003",
                  auth_code="023757", response_code="00", entry_mode="051", pan_masked="622609******0048",
                  pan_fingerprint=None, original_id=None, purchase_id=None, operator="cashier", role="cashier",
                  client_request_id=None, created_at=NOW, updated_at=NOW, uploaded=False, batch_state="open",
                  failure_reason=None)
    return Txn(**{**fields, **more})


def receipt(t: Txn, language: str, copy: str = "merchant", width: int = 32, **kw) -> str:
    return render_receipt(t, merchant_name="SHOP", terminal_id="10000001", merchant_id="123456789012345",
                          copy=copy, width=width, language=language, **kw)


@pytest.mark.parametrize("key", sorted(CUP_LABELS))
def test_every_label_is_the_cup_layouts_in_both_languages(key):
    assert LABELS[key] == CUP_LABELS[key]


def test_the_merchant_id_is_the_merchant_number_not_its_name():
    text = receipt(txn(), "zh")
    lines = text.splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("商户编号"))
    assert "123456789012345" in lines[number] + lines[number + 1]
    assert not any(line.startswith("商户名称") and "123456789012345" in line for line in lines)
    assert "SHOP" in next(line for line in lines if line.startswith("商户名称"))


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("width", [32, 42])
def test_a_sale_slip_prints_every_cup_label_fits_the_paper_and_asks_for_the_signature(language, width):
    words = {key: pair[language == "zh"] for key, pair in CUP_LABELS.items()}
    text = receipt(txn(), language, width=width, original_trace=None)
    for key in ("merchant_name", "merchant", "terminal", "card", "type", "batch", "trace", "auth", "rrn", "date",
                "amount", "sign", "merchant_copy", "sale"):
        assert words[key] in text, (key, text)
    assert "".join(AGREE[language == "zh"].split()) in "".join(text.split())
    assert all(display_width(line) <= width for line in text.splitlines()), text
    assert words["sign"] not in receipt(txn(), language, copy="customer")  # the cardholder's copy is not signed
    assert words["customer_copy"] in receipt(txn(), language, copy="customer")


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("state", ["reversed", "voided", "declined", "in_doubt", "sending"])
def test_a_cancelled_or_reversed_sale_prints_a_notice_never_a_line_to_sign(language, state):
    text = receipt(txn(state=state), language)
    assert say(LABELS, language, "sign") not in text and AGREE[language == "zh"][:8] not in text
    assert say(LABELS, language, "notice") in text and say(LABELS, language, "not_charged") in text
    if state in ("reversed", "voided"):  # not the bank's "approved" of the request that was then cancelled
        assert say(LABELS, language, f"state.{state}") in text


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("kind", ["void", "refund", "preauth_void", "completion_void"])
def test_a_void_or_refund_names_its_original_and_is_not_signed(language, kind):
    text = receipt(txn(kind=kind), language, original_trace=2)
    assert say(LABELS, language, "sign") not in text and say(LABELS, language, "notice") not in text
    assert CUP_LABELS["reference"][language == "zh"] in text and "000002" in text
    assert "-123.45" in text


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("width", [32, 42])
def test_the_settlement_slip_carries_the_cup_settlement_labels(language, width):
    slip = render_settlement_report(batch=1, totals=Totals(8000, 2, 1500, 1), result="unbalanced", uploaded=2,
                                    next_batch=2, settled_at=NOW, merchant_name="SHOP", terminal_id="10000001",
                                    merchant_id="123456789012345", width=width, language=language)
    z = language == "zh"
    for key in ("settlement", "merchant_name", "merchant", "terminal", "batch", "unbalanced"):
        assert CUP_LABELS[key][z] in slip, (key, slip)
    assert "123456789012345" in slip and "65.00" in slip  # the net: 80.00 - 15.00
    assert all(display_width(line) <= width for line in slip.splitlines()), slip
