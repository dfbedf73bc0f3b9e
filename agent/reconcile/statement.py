"""Statements: parse and write them from a `StatementFormat` declaration (one declaration, both ways).

`parse_statement(data, fmt)` checks every line before anything is compared: the encoding, the title
and header block, the column titles, each field (date, time, digits, amounts, card type, kind), the
settlement date of every line, the totals line (present, the count and sums of the lines).  Any
problem is a `StatementError` naming the line, the column and what was expected.  The statement's
credit total is *not* required to equal its lines: a bank's total that disagrees with its own lines is
a finding for the reconciler, not a malformed file.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Mapping

from agent.errors import PosagentError
from agent.excerpt import excerpt
from agent.paycodes import MAX_CODE_DIGITS
from agent.reconcile.formats import LINE_FIELDS, TOTAL_FIELDS, Column, StatementFormat, format_money
from agent.reconcile.fees import DEBIT_KINDS

#: a statement larger than this is refused before it is read (a day of 100,000 lines is about 15 MiB)
MAX_STATEMENT_BYTES = 64 * 1024 * 1024
MAX_AMOUNT = 999_999_999_999
_MINOR = re.compile(r"-?[0-9]{1,12}")
_DECIMAL = re.compile(r"(-?)([0-9]{1,10})\.([0-9]{2})")
#: field kind → (pattern, what is expected), for the fields that are checked by pattern alone
_PATTERNS = {
    "terminal": (re.compile(r"[0-9A-Za-z]{8}"), "a terminal id of 8 letters or digits"),
    "digits6": (re.compile(r"[0-9]{6}"), "6 digits"),
    "rrn": (re.compile(r"[0-9A-Za-z]{12}"), "a 12-character reference number"),
    "auth": (re.compile(r"[0-9A-Za-z]{0,6}"), "an authorisation code of up to 6 characters"),
    # a card number (13–19 digits) or a wallet payment code (up to MAX_CODE_DIGITS), first 6 / last 4 at most
    "card": (re.compile(rf"[0-9]{{4,6}}\*{{3,{MAX_CODE_DIGITS - 10}}}[0-9]{{4}}"),
             f"a masked card number or payment code like 622609******0048 (at most {MAX_CODE_DIGITS} characters)"),
    "count": (re.compile(r"[0-9]{1,9}"), "a count of lines"),
}


class StatementError(PosagentError):
    """A statement file that cannot be read as its format says; names the line, column and what was expected."""

    exit_status = 2

    def __init__(self, expected: str, *, line: int | None = None, column: str | None = None, path: str = ""):
        self.line, self.column, self.expected = line, column, expected
        where = ", ".join(p for p in (f"line {line}" if line else "", f"column {column}" if column else "") if p)
        super().__init__(f"statement {path + ' ' if path else ''}{where + ': ' if where else ''}{expected}")


@dataclass(frozen=True)
class StatementLine:
    settlement_date: str  # YYYYMMDD
    txn_date: str  # YYYYMMDD
    txn_time: str  # HHMMSS
    terminal_id: str
    batch_no: int
    trace_no: int
    rrn: str
    auth_code: str
    card_no: str  # masked
    card_type: str  # debit / credit
    txn_type: str  # sale / void / refund
    amount: int  # signed minor units: sales +, voids and refunds −
    fee: int  # signed: a void gives the sale's fee back
    net: int  # amount − fee
    line: int = 0  # where it was in the file (0: built in memory)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (*LINE_FIELDS, "line")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StatementLine":
        """A line back from `as_dict` (the daemon's answer to `reconcile`)."""
        return cls(**{k: data[k] for k in (*LINE_FIELDS, "line")})


@dataclass(frozen=True)
class Statement:
    merchant_id: str
    merchant_name: str
    settlement_date: str  # YYYYMMDD
    currency: str
    lines: tuple[StatementLine, ...]
    credit: int  # the total the bank says it credited
    totals_line: int = 0

    @property
    def lines_net(self) -> int:
        return sum(line.net for line in self.lines)


# ------------------------------------------------------------------------------------------- parsing
def parse_statement(data: bytes, fmt: StatementFormat, *, encoding: str | None = None,
                    expect_date: str | None = None, expect_merchant: str | None = None, path: str = "") -> Statement:
    """The statement in `data`, checked line by line (`expect_date`: YYYYMMDD the caller asked for;
    `expect_merchant`: the merchant id the statement must be for)."""
    encoding = encoding or fmt.encoding
    if len(data) > MAX_STATEMENT_BYTES:
        raise StatementError(f"expected at most {MAX_STATEMENT_BYTES} bytes, got {len(data)}", path=path)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StatementError(f"expected {encoding} text (byte 0x{data[exc.start]:02x} at offset {exc.start} is not "
                             f"{encoding}; is the file in another encoding?)", line=line, column=f"byte {column}",
                             path=path) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    rows = [r[:-1] if r.endswith("\r") else r for r in rows]
    reader = _Reader(fmt, encoding, path)
    return reader.read(rows, expect_date, expect_merchant)


class _Reader:
    def __init__(self, fmt: StatementFormat, encoding: str, path: str):
        self.fmt, self.encoding, self.path = fmt, encoding, path
        self.card_types = {v: k for k, v in fmt.card_types.items()}
        self.kinds = {v: k for k, v in fmt.kinds.items()}
        self._dates: dict[str, str] = {}
        self._slices: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (columns, skip) → byte ranges
        self._times: dict[str, str] = {}

    def fail(self, expected: str, line: int | None = None, column: str | None = None) -> StatementError:
        # a whole line missing or out of place: the place is where it should begin
        return StatementError(expected, line=line, column=column or ("1" if line else None), path=self.path)

    def read(self, rows: list[str], expect_date: str | None, expect_merchant: str | None = None) -> Statement:
        fmt = self.fmt
        if not rows:
            raise self.fail(f"expected the title {fmt.title!r}, but the file is empty", 1)
        if rows[0].rstrip() != fmt.title:
            raise self.fail(f"expected the title {fmt.title!r} (format {fmt.name}, {self.encoding}), "
                            f"got {excerpt(rows[0])}", 1, "1")
        header: dict[str, str] = {}
        n = 1
        for key, label in fmt.header:
            if n >= len(rows):
                raise self.fail(f"expected the header line {label!r}, but the file ends", n + 1)
            got_label, sep, value = rows[n].partition(fmt.header_separator)
            if got_label.strip() != label or not sep:
                raise self.fail(f"expected the header line {label}{fmt.header_separator}VALUE, got {excerpt(rows[n])}",
                                n + 1, "1")
            header[key] = value.strip()
            n += 1
        header_line = {key: i + 2 for i, (key, _) in enumerate(fmt.header)}
        if not re.fullmatch(r"[0-9A-Za-z]{1,15}", header["merchant_id"]):
            raise self.fail(f"expected a merchant id of 1 to 15 letters or digits, got {excerpt(header['merchant_id'])}",
                            header_line["merchant_id"], "2")
        if expect_merchant is not None and header["merchant_id"] != expect_merchant:
            raise self.fail(f"expected the statement of merchant {expect_merchant} (this terminal's), this one is "
                            f"for {header['merchant_id']}", header_line["merchant_id"], "2")
        date = self.date(header["settlement_date"], header_line["settlement_date"], "2")
        if expect_date is not None and date != expect_date:
            raise self.fail(f"expected the statement of {expect_date}, this one is of {date}",
                            header_line["settlement_date"], "2")
        while n < len(rows) and not rows[n].strip():
            n += 1
        if n >= len(rows):
            raise self.fail("expected the column titles, but the file ends (truncated?)", n + 1)
        self.check_titles(rows[n], n + 1)
        n += 1
        lines: list[StatementLine] = []
        while n < len(rows) and not self.is_totals(rows[n]):
            if not rows[n].strip():
                raise self.fail("expected a statement line or the totals line, got an empty line", n + 1)
            line = self.line(rows[n], n + 1)
            if line.settlement_date != date:
                raise self.fail(f"expected settlement date {date} (the statement's), got {line.settlement_date}",
                                n + 1, self.where("settlement_date"))
            lines.append(line)
            n += 1
        if n >= len(rows):
            raise self.fail(f"expected the totals line {fmt.totals_label!r}, but the file ends after "
                            f"{len(lines)} lines (truncated?)", n + 1)
        totals = self.totals(rows[n], n + 1)
        totals_line = n + 1
        for extra in range(n + 1, len(rows)):
            if rows[extra].strip():
                raise self.fail("expected nothing after the totals line", extra + 1)
        self.check_totals(totals, lines, totals_line)
        return Statement(header["merchant_id"], header["merchant_name"], date, header["currency"], tuple(lines),
                         totals["credit"], totals_line)

    # -- one line ----------------------------------------------------------------------------
    def split(self, row: str, columns: tuple[Column, ...], lineno: int, skip: int = 0) -> list[str]:
        """The text of each column; a missing column is refused here."""
        fmt = self.fmt
        if fmt.layout == "csv":
            # unquoted lines (all of them, in practice) split as csv would; quoted ones go through csv
            values = (row.split(",") if '"' not in row else self.csv_fields(row, lineno))[skip:]
            if len(values) < len(columns):
                missing = columns[len(values)]
                raise self.fail(f"missing; expected {len(columns)} columns "
                                f"({', '.join(c.title for c in columns)}), got {len(values)}", lineno,
                                f"{len(values) + 1 + skip} ({missing.title})")
            if len(values) > len(columns):
                raise self.fail(f"expected {len(columns)} columns, got {len(values)}", lineno, str(len(columns) + 1 + skip))
            return values
        raw = row.encode(self.encoding)
        slices = self._slices.get((id(columns), skip))
        if slices is None:
            slices, at = [], skip
            for c in columns:
                slices.append((at, at + c.width))
                at += c.width + self.fmt.gap
            self._slices[(id(columns), skip)] = slices
        if slices[-1][0] < len(raw) <= slices[-1][1]:  # the usual line: every column present, nothing after
            try:
                return [raw[a:b].decode(self.encoding).strip() for a, b in slices]
            except UnicodeDecodeError:
                pass  # the careful pass below says which column
        at = skip
        out: list[str] = []
        for c in columns:
            piece = raw[at:at + c.width]
            if len(piece) < c.width and (len(raw) <= at or c is not columns[-1]):
                raise self.fail(f"missing; the line ends at byte {len(raw)}, expected {c.title} in bytes "
                                f"{at + 1}-{at + c.width}", lineno, f"byte {at + 1} ({c.title})")
            try:
                value = piece.decode(self.encoding)
            except UnicodeDecodeError:
                raise self.fail(f"expected {c.title} in bytes {at + 1}-{at + c.width} (a character is cut "
                                "by the column edge)", lineno, f"byte {at + 1} ({c.title})") from None
            out.append(value.strip())
            at += c.width + self.fmt.gap
        if len(raw) > at - self.fmt.gap and raw[at - self.fmt.gap:].strip():
            raise self.fail(f"expected the line to end after {c.title}", lineno, f"byte {at - self.fmt.gap + 1}")
        return out

    def csv_fields(self, row: str, lineno: int) -> list[str]:
        try:
            return next(csv.reader([row]), [])
        except csv.Error as exc:  # an unclosed quote, a field over the csv module's limit
            raise self.fail(f"expected comma-separated fields ({exc})", lineno) from None

    def where(self, key: str) -> str:
        index = list(LINE_FIELDS).index(key)
        col = self.fmt.columns[index]
        if self.fmt.layout == "csv":
            return f"{index + 1} ({col.title})"
        return f"byte {sum(c.width + self.fmt.gap for c in self.fmt.columns[:index]) + 1} ({col.title})"

    def check_titles(self, row: str, lineno: int) -> None:
        fmt = self.fmt
        if fmt.layout == "csv":
            got = [t.strip() for t in self.csv_fields(row, lineno)]
            expected = list(fmt.column_titles)
        else:
            got = row.split()
            expected = list(fmt.column_titles)
        for i, title in enumerate(expected):
            if i >= len(got) or got[i] != title:
                raise self.fail(f"expected column title {title!r}"
                                f"{' (missing column)' if i >= len(got) or title not in got else ''}, got "
                                f"{excerpt(got[i]) if i < len(got) else repr('the end of the line')}", lineno, str(i + 1))
        if len(got) > len(expected):
            raise self.fail(f"expected {len(expected)} column titles, got {len(got)}", lineno, str(len(expected) + 1))

    def is_totals(self, row: str) -> bool:
        if self.fmt.layout == "csv":
            return row.split(",", 1)[0].strip() == self.fmt.totals_label
        return row.startswith(self.fmt.totals_label)

    def line(self, row: str, lineno: int) -> StatementLine:
        texts: dict[str, str] = {}
        numbers: dict[str, int] = {}  # the counts and the money
        for text, column in zip(self.split(row, self.fmt.columns, lineno), self.fmt.columns):
            value = self.value(LINE_FIELDS[column.key], text, lineno, column.key)
            if isinstance(value, int):
                numbers[column.key] = value
            else:
                texts[column.key] = value
        amount, fee, net = numbers["amount"], numbers["fee"], numbers["net"]
        if net != amount - fee:
            raise self.fail(f"expected net = amount − fee = {self.money_text(amount - fee)}, "
                            f"got {self.money_text(net)}", lineno, self.where("net"))
        sign = 1 if texts["txn_type"] in DEBIT_KINDS else -1
        if amount * sign <= 0:
            raise self.fail(f"expected a {'positive' if sign > 0 else 'negative'} amount for a "
                            f"{self.fmt.kinds[texts['txn_type']]} line", lineno, self.where("amount"))
        return StatementLine(
            settlement_date=texts["settlement_date"], txn_date=texts["txn_date"], txn_time=texts["txn_time"],
            terminal_id=texts["terminal_id"], batch_no=numbers["batch_no"], trace_no=numbers["trace_no"],
            rrn=texts["rrn"], auth_code=texts["auth_code"], card_no=texts["card_no"], card_type=texts["card_type"],
            txn_type=texts["txn_type"], amount=amount, fee=fee, net=net, line=lineno)

    def totals(self, row: str, lineno: int) -> dict[str, int]:
        label_len = len(self.fmt.totals_label.encode(self.encoding)) + self.fmt.gap
        parts = self.split(row, self.fmt.totals, lineno, skip=1 if self.fmt.layout == "csv" else label_len)
        out: dict[str, int] = {}
        for text, column in zip(parts, self.fmt.totals):
            kind = "count" if column.key == "count" else "money"
            value = self.value(kind, text, lineno, column.key, totals=True)
            if isinstance(value, int):  # a count or money always reads as a number
                out[column.key] = value
        return out

    def check_totals(self, totals: dict[str, int], lines: list[StatementLine], lineno: int) -> None:
        if totals["count"] != len(lines):
            raise self.fail(f"expected the count to be the {len(lines)} lines above, got {totals['count']} "
                            "(lines missing or added?)", lineno, self.total_where("count"))
        for key in ("amount", "fee"):
            total = sum(getattr(line, key) for line in lines)
            if totals[key] != total:
                raise self.fail(f"expected the {key} total to be the sum of the lines, {self.money_text(total)}, "
                                f"got {self.money_text(totals[key])}", lineno, self.total_where(key))

    def total_where(self, key: str) -> str:
        index = list(TOTAL_FIELDS).index(key)
        return f"{index + 2} ({self.fmt.totals[index].title})" if self.fmt.layout == "csv" else self.fmt.totals[index].title

    # -- one value ---------------------------------------------------------------------------
    def value(self, kind: str, text: str, lineno: int, key: str, totals: bool = False) -> int | str:
        """`text` as the field `key` holds it; the place of an error is worked out only when there is one."""
        try:
            return self._value(kind, text, lineno, "")
        except StatementError as exc:
            where = self.total_where(key) if totals else self.where(key)
            raise self.fail(exc.expected, lineno, where) from None

    def _value(self, kind: str, text: str, lineno: int, where: str) -> int | str:
        if kind in _PATTERNS:
            rx, what = _PATTERNS[kind]
            if rx.fullmatch(text) is None:
                raise self.fail(f"expected {what}, got {excerpt(text)}", lineno, where)
            return int(text) if kind in ("digits6", "count") else text
        if kind == "money":
            return self.money(text, lineno, where)
        if kind == "date":
            return self.date(text, lineno, where)
        if kind == "time":
            return self.time(text, lineno, where)
        if kind == "card_type":
            return self.enum(self.card_types, "card type", text, lineno, where)
        return self.enum(self.kinds, "transaction type", text, lineno, where)

    def date(self, text: str, lineno: int, where: str) -> str:
        known = self._dates.get(text)  # a statement holds a few distinct days: parse each once
        if known is None:
            try:
                known = dt.datetime.strptime(text, self.fmt.date_format).strftime("%Y%m%d")
            except ValueError:
                raise self.fail(f"expected a date like {dt.date(2026, 12, 3).strftime(self.fmt.date_format)}, "
                                f"got {excerpt(text)}", lineno, where) from None
            self._dates[text] = known
        return known

    def time(self, text: str, lineno: int, where: str) -> str:
        known = self._times.get(text)
        if known is None:
            try:
                known = dt.datetime.strptime(text, self.fmt.time_format).strftime("%H%M%S")
            except ValueError:
                raise self.fail(f"expected a time like {dt.time(14, 5, 9).strftime(self.fmt.time_format)}, "
                                f"got {excerpt(text)}", lineno, where) from None
            if len(self._times) < 100_000:
                self._times[text] = known
        return known

    def enum(self, mapping: dict[str, str], what: str, text: str, lineno: int, where: str) -> str:
        if text not in mapping:
            raise self.fail(f"expected a {what} ({' or '.join(mapping)}), got {excerpt(text)}", lineno, where)
        return mapping[text]

    def money(self, text: str, lineno: int, where: str) -> int:
        if self.fmt.amount_format == "minor":
            if _MINOR.fullmatch(text) is None:
                raise self.fail(f"expected an amount in fen like 12345 or -500, got {excerpt(text)}", lineno, where)
            return int(text)
        found = _DECIMAL.fullmatch(text)
        if not found:
            raise self.fail(f"expected an amount like 123.45 or -5.00, got {excerpt(text)}", lineno, where)
        value = int(found.group(2)) * 100 + int(found.group(3))
        return -value if found.group(1) else value

    def money_text(self, minor: int) -> str:
        return format_money(minor, self.fmt)
