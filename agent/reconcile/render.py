"""Writing statements: the same `StatementFormat` declaration that `statement.parse_statement` reads.

The simulator's acquirer writes its statements with `render_statement`; a file written here is read
back as the same `Statement` (a property test holds the two together).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Sequence

from agent.errors import PosagentError
from agent.excerpt import excerpt
from agent.reconcile.formats import TOTAL_FIELDS, Column, StatementFormat, format_money
from agent.reconcile.statement import Statement, StatementLine


class StatementWriteError(PosagentError):
    """A statement that its format cannot hold (a value wider than its fixed-width column)."""


def render_statement(statement: Statement, fmt: StatementFormat, *, encoding: str | None = None) -> bytes:
    """The statement as `fmt` writes it (what `parse_statement` reads back)."""
    encoding = encoding or fmt.encoding
    date = dt.datetime.strptime(statement.settlement_date, "%Y%m%d")
    header = {"merchant_id": statement.merchant_id, "merchant_name": statement.merchant_name,
              "settlement_date": date.strftime(fmt.date_format), "currency": statement.currency}
    out = [fmt.title]
    out += [f"{label}{fmt.header_separator}{header[key]}" for key, label in fmt.header]
    out.append("")
    totals = {"count": str(len(statement.lines)),
              "amount": format_money(sum(x.amount for x in statement.lines), fmt),
              "fee": format_money(sum(x.fee for x in statement.lines), fmt),
              "credit": format_money(statement.credit, fmt)}
    if fmt.layout == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(fmt.column_titles)
        for line in statement.lines:
            writer.writerow(_line_values(line, fmt))
        writer.writerow([fmt.totals_label, *(totals[k] for k in TOTAL_FIELDS)])
        out.append(buffer.getvalue().rstrip("\n"))
    else:
        out.append(_fixed(fmt.column_titles, fmt.columns, fmt, encoding, numbers=False))
        for n, line in enumerate(statement.lines, 1):
            try:
                out.append(_fixed(_line_values(line, fmt), fmt.columns, fmt, encoding))
            except StatementWriteError as exc:
                raise StatementWriteError(f"statement line {n} (RRN {line.rrn}): {exc}") from None
        out.append(fmt.totals_label + " " * fmt.gap +
                   _fixed([totals[k] for k in TOTAL_FIELDS], fmt.totals, fmt, encoding))
    return ("\n".join(out) + "\n").encode(encoding)


def _line_values(line: StatementLine, fmt: StatementFormat) -> list[str]:
    def date(text: str) -> str:
        return dt.datetime.strptime(text, "%Y%m%d").strftime(fmt.date_format)

    return [date(line.settlement_date), date(line.txn_date),
            dt.datetime.strptime(line.txn_time, "%H%M%S").strftime(fmt.time_format), line.terminal_id,
            f"{line.batch_no:06d}", f"{line.trace_no:06d}", line.rrn, line.auth_code, line.card_no,
            fmt.card_types[line.card_type], fmt.kinds[line.txn_type], format_money(line.amount, fmt),
            format_money(line.fee, fmt), format_money(line.net, fmt)]


def _fixed(values: Sequence[str], columns: tuple[Column, ...], fmt: StatementFormat, encoding: str, numbers: bool = True) -> str:
    cells = []
    for value, column in zip(values, columns):
        size = len(str(value).encode(encoding))
        pad = column.width - size
        if pad < 0:
            raise StatementWriteError(f"{column.key} {excerpt(value)} is {size} bytes, wider than its column in the "
                                      f"{fmt.name} format ({column.width} bytes)")
        numeric = numbers and re.fullmatch(r"-?[0-9.]+", str(value)) is not None and column.key not in (
            "settlement_date", "txn_date", "txn_time", "terminal_id", "batch_no", "trace_no", "rrn", "auth_code",
            "card_no")
        cells.append(" " * pad + str(value) if numeric else str(value) + " " * pad)
    return (" " * fmt.gap).join(cells).rstrip()
