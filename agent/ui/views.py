"""What the screens say about transactions and replies: detail lines, list rows, headlines.

Transactions arrive as the control API's dicts (agent.journal.records.Txn.as_dict()); only the masked
PAN is ever shown.
"""

from __future__ import annotations

import re
import time
from typing import Any, Mapping

from agent.money import format_amount
from agent.engine.receipts import display_width
from agent.ui.layout import cut, right, wrap
from agent.ui.texts import Texts
from agent.localtime import local_time

#: transaction kinds a refund, a correction or a duplicate fix may start from
SALE_KINDS = ("sale", "correction", "completion")  # what a refund or a correction may name

# engine messages written for the command line name a command; the screen offers the step itself
_CLI_HINT = re.compile(r"[:;,]?\s*(?:use\s+)?`[^`]*`|;?\s*use --method \w+")


def mmdd(txn: Mapping[str, Any]) -> str:
    return local_time(float(txn["created_at"]), "%m%d")


def near(txn: Mapping[str, Any], local: str, minutes: int) -> bool:
    """Whether `txn` happened within `minutes` of the local time "YYYY-MM-DD HH:MM"."""
    moment = time.mktime(time.strptime(local, "%Y-%m-%d %H:%M"))
    return abs(float(txn["created_at"]) - moment) <= minutes * 60


def pair(label: str, value: str, width: int) -> list[str]:
    """`label   value` on one line, or the value right-aligned under its label when both do not fit."""
    gap = width - display_width(label) - display_width(value)
    if gap >= 1:
        return [label + " " * gap + value]
    return [cut(label, width), right(value, width)]


def detail_lines(txn: Mapping[str, Any], texts: Texts, width: int, exponent: int, *, group: int | None = None) -> list[str]:
    """Everything S1 asks the screen to show: time, amount, masked card, auth code, RRN, batch, settled."""
    kind, state = str(txn.get("kind")), str(txn.get("state"))
    batch_state = texts.get(f"batch.{txn.get('batch_state')}", str(txn.get("batch_state")))
    rows = [
        (texts("d.trace"), f"{int(txn['trace']):06d}"),
        (texts("d.amount"), format_amount(int(txn["amount"]), exponent)),
        (texts("d.type"), texts.get(f"kind.{kind}", kind)),
        (texts("d.state"), texts.get(f"state.{state}", state)),
        (texts("d.time"), local_time(float(txn["created_at"]), "%m-%d %H:%M")),
        (texts("d.code" if txn.get("payment") == "wallet" else "d.card"), str(txn.get("pan_masked") or "-")),
        (texts("d.auth"), str(txn.get("auth_code") or "-")),
        (texts("d.rrn"), str(txn.get("rrn") or "-")),
        (texts("d.batch"), f"{int(txn['batch']):06d} {batch_state}"),
    ]
    if group is not None:
        rows.insert(0, (texts("d.group"), str(group)))
    lines: list[str] = []
    for label, value in rows:
        lines += pair(label, value, width)
    return lines


def list_row(txn: Mapping[str, Any], width: int, exponent: int, *, selected: bool, group: int | None = None) -> str:
    mark = ">" if selected else " "
    lead = f"{mark}{group}:" if group is not None else mark
    return lead + pair(f"{int(txn['trace']):06d}", format_amount(int(txn["amount"]), exponent),
                       width - display_width(lead))[0]


def grouped(minor: int, exponent: int) -> str:
    """``1234500`` → ``"12,345.00"``: an amount as people read it on the screen."""
    units, point, fraction = format_amount(minor, exponent).partition(".")
    sign = "-" if units.startswith("-") else ""
    return f"{sign}{int(units.lstrip('-')):,}{point}{fraction}"


def shown_amount(minor: int, exponent: int, currency: str, width: int) -> str | None:
    """``"CNY 12,345.00"`` in `width` columns beside a title (without the commas when they do not fit), or
    None when even that is too long."""
    for amount in (grouped(minor, exponent), format_amount(minor, exponent)):
        text = f"{currency} {amount}"
        if len(text) <= width - 5:  # room is left for a title of at least four columns
            return text
    return None


#: ISO 4217 numeric codes (field 49) of the currencies a terminal is set up for, and their letters
CURRENCY_LETTERS = {"156": "CNY", "344": "HKD", "446": "MOP", "840": "USD", "978": "EUR", "392": "JPY",
                    "410": "KRW", "702": "SGD", "826": "GBP", "901": "TWD"}


def currency_letters(numeric: str) -> str:
    """The three letters a screen shows for the configured numeric currency (its digits for one not listed)."""
    return CURRENCY_LETTERS.get(str(numeric).zfill(3), str(numeric).zfill(3))


def outcome_headline(status: str, texts: Texts) -> str:
    return texts.get(f"status.{status}", status.upper())


def error_headline(code: str, texts: Texts) -> str:
    return texts.get(f"error.{code}", texts("error.other"))


def screen_message(message: str) -> str:
    """An engine message without the command-line hints meant for `posagent` users."""
    return _CLI_HINT.sub("", message).strip()


def message_lines(message: str, width: int) -> list[str]:
    return wrap(screen_message(message), width)
