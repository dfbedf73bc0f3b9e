"""Statement formats as data: one declaration per acquirer, read and written by `statement.py`.

A format says how the file is laid out (CSV or fixed-width), its encoding, the title and header block,
the column titles (and widths for fixed-width), how dates, times and amounts are written, how card
types and transaction kinds are spelled, and the totals line.  Adding an acquirer is a new
`StatementFormat` in `FORMATS`, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from agent.errors import UsageError

#: the fields of one statement line, in the order the reconciler knows them, with what each must hold
LINE_FIELDS: Mapping[str, str] = MappingProxyType({
    "settlement_date": "date",
    "txn_date": "date",
    "txn_time": "time",
    "terminal_id": "terminal",
    "batch_no": "digits6",
    "trace_no": "digits6",
    "rrn": "rrn",
    "auth_code": "auth",
    "card_no": "card",
    "card_type": "card_type",
    "txn_type": "kind",
    "amount": "money",
    "fee": "money",
    "net": "money",
})
#: the header block's fields
HEADER_FIELDS = ("merchant_id", "merchant_name", "settlement_date", "currency")
#: the totals line's fields after its label
TOTAL_FIELDS = ("count", "amount", "fee", "credit")
CARD_TYPES = ("debit", "credit")
KINDS = ("sale", "void", "refund", "completion", "completion_void")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int = 0  # fixed-width layouts only: bytes in the file's encoding


@dataclass(frozen=True)
class StatementFormat:
    name: str
    description: str
    layout: str  # "csv" or "fixed"
    encoding: str  # the default; `--encoding` may name another
    title: str  # the first line
    header: tuple[tuple[str, str], ...]  # (field, label) in file order
    header_separator: str
    columns: tuple[Column, ...]
    totals_label: str
    totals: tuple[Column, ...]  # after the label
    date_format: str  # strftime pattern of dates
    time_format: str
    amount_format: str  # "decimal" (123.45, sign for negatives) or "minor" (fen as an integer)
    card_types: Mapping[str, str] = field(default_factory=dict)  # internal → as written
    kinds: Mapping[str, str] = field(default_factory=dict)
    gap: int = 1  # fixed-width: spaces between columns
    encodings: tuple[str, ...] = ()  # the encodings a file may be in (default: only `encoding`)

    def __post_init__(self) -> None:
        problems = []
        if self.layout not in ("csv", "fixed"):
            problems.append(f"layout must be csv or fixed, not {self.layout!r}")
        if [c.key for c in self.columns] != list(LINE_FIELDS):
            problems.append(f"columns must be, in order: {', '.join(LINE_FIELDS)}")
        if [c.key for c in self.totals] != list(TOTAL_FIELDS):
            problems.append(f"totals must be, in order: {', '.join(TOTAL_FIELDS)}")
        if sorted(k for k, _ in self.header) != sorted(HEADER_FIELDS):
            problems.append(f"header must hold {', '.join(HEADER_FIELDS)}")
        if sorted(self.card_types) != sorted(CARD_TYPES) or sorted(self.kinds) != sorted(KINDS):
            problems.append("card_types and kinds must spell every card type and kind")
        if self.amount_format not in ("decimal", "minor"):
            problems.append("amount_format must be decimal or minor")
        if self.encoding not in self.allowed_encodings:
            problems.append("encodings must include the default encoding")
        if self.layout == "fixed":
            for c in (*self.columns, *self.totals):
                if c.width < 1 or len(c.title.encode(self.encoding)) > c.width:
                    problems.append(f"column {c.key}: width must hold its title")
        if problems:
            raise ValueError(f"statement format {self.name}: " + "; ".join(problems))

    @property
    def allowed_encodings(self) -> tuple[str, ...]:
        return self.encodings or (self.encoding,)

    @property
    def column_titles(self) -> tuple[str, ...]:
        return tuple(c.title for c in self.columns)


def format_money(minor: int, fmt: StatementFormat) -> str:
    """An amount as `fmt` writes it: fen (`minor`) or yuan with two decimals (what the parser reads back)."""
    if fmt.amount_format == "minor":
        return str(minor)
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


POSIM_CSV = StatementFormat(
    name="posim",
    description="the simulator's acquirer: CSV, UTF-8 (or GBK), decimal amounts",
    layout="csv", encoding="utf-8", encodings=("utf-8", "gbk"),
    title="posim acquirer settlement statement 结算对账单",
    header=(("merchant_id", "merchant_id"), ("merchant_name", "merchant_name"),
            ("settlement_date", "settlement_date"), ("currency", "currency")),
    header_separator=",",
    columns=tuple(Column(key, key) for key in LINE_FIELDS),
    totals_label="TOTAL",
    totals=tuple(Column(key, key) for key in TOTAL_FIELDS),
    date_format="%Y%m%d", time_format="%H:%M:%S", amount_format="decimal",
    card_types=MappingProxyType({"debit": "debit", "credit": "credit"}),
    kinds=MappingProxyType({"sale": "sale", "void": "void", "refund": "refund",
                            "completion": "completion", "completion_void": "completion_void"}),
)

UNIONPAY_GBK = StatementFormat(
    name="unionpay-gbk",
    description="a bank's fixed-width GBK statement: Chinese column titles, amounts in fen",
    layout="fixed", encoding="gbk",
    title="银联商户清算对账单",
    header=(("merchant_id", "商户编号"), ("merchant_name", "商户名称"), ("settlement_date", "清算日期"),
            ("currency", "币种")),
    header_separator=":",
    columns=(Column("settlement_date", "清算日期", 8), Column("txn_date", "交易日期", 8),
             Column("txn_time", "交易时间", 8), Column("terminal_id", "终端号", 8),
             Column("batch_no", "批次号", 6), Column("trace_no", "凭证号", 6), Column("rrn", "参考号", 12),
             Column("auth_code", "授权码", 6), Column("card_no", "卡号", 24), Column("card_type", "卡类型", 6),
             Column("txn_type", "交易类型", 14), Column("amount", "交易金额", 14), Column("fee", "手续费", 12),
             Column("net", "清算金额", 14)),
    totals_label="合计",
    totals=(Column("count", "笔数", 8), Column("amount", "交易金额", 16), Column("fee", "手续费", 14),
            Column("credit", "清算金额", 16)),
    date_format="%Y%m%d", time_format="%H%M%S", amount_format="minor",
    card_types=MappingProxyType({"debit": "借记卡", "credit": "贷记卡"}),
    kinds=MappingProxyType({"sale": "消费", "void": "撤销", "refund": "退货", "completion": "预授权完成",
                            "completion_void": "预授权完成撤销"}),
)

FORMATS: Mapping[str, StatementFormat] = MappingProxyType({f.name: f for f in (POSIM_CSV, UNIONPAY_GBK)})
ENCODINGS = ("utf-8", "gbk")


def get_format(name: str | None) -> StatementFormat:
    if name is None:
        return POSIM_CSV
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(f"unknown statement format {name!r} (known: {', '.join(FORMATS)})") from None


def check_encoding(name: str | None, fmt: StatementFormat) -> str:
    encoding = (name or fmt.encoding).lower()
    if encoding not in ENCODINGS:
        raise UsageError(f"unknown encoding {name!r} (known: {', '.join(ENCODINGS)})")
    if encoding not in fmt.allowed_encodings:
        raise UsageError(f"the {fmt.name} format is written in {' or '.join(fmt.allowed_encodings)}, not {encoding}")
    return encoding
