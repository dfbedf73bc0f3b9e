"""Statement formats: both built-in formats read back what they write (UTF-8 and GBK), and every
malformed file is refused with its line, its column and what was expected."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from agent import config
from agent.errors import ConfigError
from agent.reconcile.fees import DEFAULT_CONTRACT, FeeContract, FeeRate
from agent.reconcile.formats import FORMATS, POSIM_CSV, UNIONPAY_GBK, Column, StatementFormat, get_format
from agent.reconcile.render import render_statement
from agent.reconcile.statement import Statement, StatementError, StatementLine, parse_statement

DATE = "20261203"


def line(n: int = 1, kind: str = "sale", amount: int = 12345, card_type: str = "debit", **kw) -> StatementLine:
    signed = amount if kind == "sale" else -amount
    fee = DEFAULT_CONTRACT.line_fee(kind, card_type, signed)
    values = dict(settlement_date=DATE, txn_date=DATE, txn_time="101500", terminal_id="10000001", batch_no=1,
                  trace_no=n, rrn=f"{n:012d}", auth_code="123456", card_no="622609******0048",
                  card_type=card_type, txn_type=kind, amount=signed, fee=fee, net=signed - fee)
    values.update(kw)
    return StatementLine(**values)


def statement(lines=None, credit=None) -> Statement:
    lines = tuple(lines if lines is not None else [line(1), line(2, "void", 500), line(3, "refund", 700, "credit")])
    return Statement("123456789012345", "posim 模拟商户", DATE, "CNY", lines,
                     sum(x.net for x in lines) if credit is None else credit)


def strip_positions(s: Statement) -> Statement:
    return dataclasses.replace(s, lines=tuple(dataclasses.replace(x, line=0) for x in s.lines), totals_line=0)


lines_strategy = st.lists(st.builds(
    line, n=st.integers(1, 999_999), kind=st.sampled_from(["sale", "void", "refund"]),
    amount=st.integers(1, 10**10), card_type=st.sampled_from(["debit", "credit"]),
    txn_time=st.sampled_from(["000000", "235959", "101500"]),
    auth_code=st.sampled_from(["", "A1B2", "000001"])), max_size=20)


@settings(max_examples=60, deadline=None)
@given(lines=lines_strategy, fmt=st.sampled_from(list(FORMATS.values())), data=st.data(),
       credit_shift=st.integers(-1000, 1000))
def test_every_format_reads_back_what_it_writes_in_its_encodings(lines, fmt, data, credit_shift):
    encoding = data.draw(st.sampled_from(fmt.allowed_encodings))
    original = statement(lines, credit=sum(x.net for x in lines) + credit_shift)
    data = render_statement(original, fmt, encoding=encoding)
    parsed = parse_statement(data, fmt, encoding=encoding)
    assert strip_positions(parsed) == original
    assert [x.line for x in parsed.lines] == list(range(8, 8 + len(lines)))  # file line numbers


def test_the_gbk_format_is_fixed_width_gbk_with_its_own_titles():
    data = render_statement(statement(), UNIONPAY_GBK)
    text = data.decode("gbk")
    assert text.splitlines()[0] == "银联商户清算对账单" and "交易金额" in text and "借记卡" in text and "退货" in text
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    rows = [r.encode("gbk") for r in text.splitlines()[7:10]]
    assert b"12345" in rows[0] and len({len(r) for r in rows}) == 1  # fixed width, amounts in fen


def test_a_new_acquirer_is_a_declaration():
    semicolons = dataclasses.replace(POSIM_CSV, name="other", title="OTHER BANK", totals_label="SUM",
                                     columns=tuple(Column(c.key, c.key.upper()) for c in POSIM_CSV.columns),
                                     date_format="%d.%m.%Y", amount_format="minor")
    data = render_statement(statement(), semicolons)
    assert b"03.12.2026" in data and b"SETTLEMENT_DATE" in data
    assert strip_positions(parse_statement(data, semicolons)) == statement()
    with pytest.raises(ValueError, match="columns must be"):
        dataclasses.replace(POSIM_CSV, columns=POSIM_CSV.columns[:-1])


# ------------------------------------------------------------------------------------ bad files
def posim_rows() -> list[str]:
    return render_statement(statement(), POSIM_CSV).decode("utf-8").split("\n")


def refused(rows_or_bytes, fmt: StatementFormat = POSIM_CSV, **kw) -> StatementError:
    data = rows_or_bytes if isinstance(rows_or_bytes, bytes) else "\n".join(rows_or_bytes).encode("utf-8")
    with pytest.raises(StatementError) as caught:
        parse_statement(data, fmt, **kw)
    return caught.value


def replace_field(rows: list[str], row: int, index: int, value: str | None) -> list[str]:
    rows = list(rows)
    fields = rows[row].split(",")
    if value is None:
        del fields[index]
    else:
        fields[index] = value
    rows[row] = ",".join(fields)
    return rows


def test_missing_column_names_the_line_the_column_and_how_many_were_expected():
    err = refused(replace_field(posim_rows(), 7, 13, None))
    assert (err.line, err.column) == (8, "14 (net)")
    assert "missing; expected 14 columns" in str(err)


def test_missing_column_title_is_refused():
    err = refused(replace_field(posim_rows(), 6, 4, None))
    assert err.line == 7 and "expected column title 'batch_no'" in str(err)


@pytest.mark.parametrize("bad", ["12;34", "12.3", "abc", "1e5", "", "+1.00"])
def test_bad_amount_names_line_column_and_the_expected_form(bad):
    err = refused(replace_field(posim_rows(), 8, 11, bad))
    assert (err.line, err.column) == (9, "12 (amount)")
    assert "expected an amount like 123.45" in str(err) and repr(bad) in str(err)


def test_net_that_is_not_amount_less_fee_is_refused():
    err = refused(replace_field(posim_rows(), 7, 13, "1.00"))
    assert err.column == "14 (net)" and "expected net = amount − fee = 122.83" in str(err)


@pytest.mark.parametrize("index, bad, expected", [
    (9, "gold", "expected a card type (debit or credit)"), (10, "cashback", "expected a transaction type"),
    (5, "12345", "expected 6 digits"), (2, "25:61:00", "expected a time like 14:05:09"),
    (8, "6226090000000048", "expected a masked card number")])
def test_every_field_is_checked(index, bad, expected):
    err = refused(replace_field(posim_rows(), 7, index, bad))
    assert err.line == 8 and expected in str(err)


def test_wrong_encoding_names_the_line_and_byte():
    data = render_statement(statement(), POSIM_CSV, encoding="gbk")
    err = refused(data, POSIM_CSV, encoding="utf-8")
    assert err.line == 1 and err.column.startswith("byte ") and "expected utf-8 text" in str(err)
    err = refused(render_statement(statement(), UNIONPAY_GBK), POSIM_CSV, encoding="utf-8")
    assert err.line == 1 and "is the file in another encoding?" in str(err)


def test_utf8_file_read_as_gbk_is_refused_at_the_title():
    err = refused(render_statement(statement(), POSIM_CSV, encoding="utf-8"), POSIM_CSV, encoding="gbk")
    assert err.line == 1


def test_a_statement_of_another_merchant_is_refused():
    err = refused(posim_rows(), expect_merchant="999999999999999")
    assert (err.line, err.column) == (2, "2") and "expected the statement of merchant 999999999999999" in str(err)


def test_a_date_that_is_not_the_one_asked():
    err = refused(posim_rows(), expect_date="20261204")
    assert err.line == 4 and "expected the statement of 20261204, this one is of 20261203" in str(err)
    err = refused(replace_field(posim_rows(), 8, 0, "20261202"))
    assert (err.line, err.column) == (9, "1 (settlement_date)") and "expected settlement date 20261203" in str(err)
    err = refused(replace_field(posim_rows(), 8, 1, "20261332"))
    assert err.column == "2 (txn_date)" and "expected a date like 20261203" in str(err)


@pytest.mark.parametrize("keep, line, expected", [
    (0, 1, "the file is empty"), (3, 4, "expected the header line 'settlement_date'"),
    (6, 6, "expected the column titles, but the file ends"),
    (9, 10, "expected the totals line 'TOTAL', but the file ends after 2 lines (truncated?)")])
def test_truncated_file_says_where_it_ends_and_what_was_expected(keep, line, expected):
    err = refused(posim_rows()[:keep])
    assert err.line == line and err.column == "1" and expected in str(err)


def test_a_line_cut_in_the_middle_is_refused():
    rows = posim_rows()
    rows[8] = rows[8][:40]
    err = refused(rows)
    assert err.line == 9 and "missing" in str(err)


def test_fixed_width_line_cut_short_names_the_byte():
    rows = render_statement(statement(), UNIONPAY_GBK).split(b"\n")
    rows[8] = rows[8][:60]
    err = refused(b"\n".join(rows), UNIONPAY_GBK)
    assert err.line == 9 and err.column.startswith("byte ") and "the line ends at byte 60" in str(err)


def test_totals_that_do_not_count_the_lines_are_refused():
    rows = posim_rows()
    rows[10] = rows[10].replace("TOTAL,3,", "TOTAL,4,")
    err = refused(rows)
    assert err.line == 11 and "expected the count to be the 3 lines above, got 4" in str(err)


def test_a_credit_total_that_disagrees_with_its_lines_is_read_not_refused():
    parsed = parse_statement(render_statement(statement(credit=1), POSIM_CSV), POSIM_CSV)
    assert parsed.credit == 1 and parsed.lines_net != 1


def test_title_of_another_format_is_refused_with_the_expected_title():
    err = refused(render_statement(statement(), UNIONPAY_GBK), POSIM_CSV, encoding="gbk")
    assert err.line == 1 and "expected the title 'posim acquirer settlement statement" in str(err)


def test_unknown_format_and_encoding_are_usage_errors():
    from agent.errors import UsageError
    from agent.reconcile.formats import check_encoding
    with pytest.raises(UsageError, match="known: posim, unionpay-gbk"):
        get_format("swift")
    with pytest.raises(UsageError, match="known: utf-8, gbk"):
        check_encoding("latin-1", POSIM_CSV)
    with pytest.raises(UsageError, match="written in gbk, not utf-8"):
        check_encoding("utf-8", UNIONPAY_GBK)


# ------------------------------------------------------------------------------------ fees
def test_fee_is_half_up_to_the_fen_then_capped():
    debit = FeeRate(5000, 2000)  # 0.50 % capped at 20.00
    assert debit.fee(100) == 1  # 0.5 fen rounds up
    assert debit.fee(99) == 0  # 0.495 fen rounds down
    assert debit.fee(12345) == 62  # 61.725 → 62
    assert debit.fee(400_000) == 2000 and debit.fee(10**9) == 2000  # capped
    assert FeeRate(6000, None).fee(10**9) == 6_000_000


@given(amount=st.integers(1, 10**12), ppm=st.integers(0, 1_000_000))
def test_fee_matches_exact_decimal_half_up(amount, ppm):
    from decimal import ROUND_HALF_UP, Decimal
    exact = (Decimal(amount) * Decimal(ppm) / Decimal(1_000_000)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert FeeRate(ppm, None).fee(amount) == int(exact)


def test_void_returns_the_sale_fee_and_refunds_carry_none():
    contract = FeeContract.from_text("0.50", "20.00", "0.60", "")
    assert contract.line_fee("sale", "debit", 12345) == 62
    assert contract.line_fee("void", "debit", -12345) == -62
    assert contract.line_fee("refund", "credit", -12345) == 0


@pytest.mark.parametrize("key, value, expected", [
    ("debit_rate_percent", "0.5%", "expected a percentage like 0.60"),
    ("credit_rate_percent", "101", "expected a percentage"), ("debit_cap", "-1", "expected an amount like 20.00"),
    ("credit_cap", "20.001", "expected an amount"), ("debit_rate_percent", 0.5, "expected a string"),
    ("credit_bins", "62x", "digits, comma-separated")])
def test_settlement_fees_configuration_is_validated(key, value, expected):
    with pytest.raises(ConfigError) as caught:
        config.from_mapping({"settlement_fees": {key: value}})
    assert f"settlement_fees.{key}" in str(caught.value) and expected in str(caught.value)
