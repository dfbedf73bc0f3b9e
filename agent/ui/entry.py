"""Keyed entries: how a key edits an amount, a number or a password, and what a finished entry means.

Pure functions over the text typed so far; nothing here knows which screen it is on.
"""

from __future__ import annotations

import datetime as dt

from agent.errors import UsageError
from agent.money import MAX_MINOR_UNITS, parse_amount
from agent.paycodes import MAX_CODE_DIGITS
from agent.roles import SUPERVISOR_PASSWORD_DIGITS, password_problem
from agent.ui.actions import BACKSPACE, CLEAR, DIGITS, DOT, DOUBLE_ZERO

def keypad_password(text: str) -> bool:
    """Whether `text` is a supervisor password the keypad can key (the rule `posagent passwd` enforces)."""
    return password_problem("supervisor", text) is None


#: longest text each entry accepts (explicit limits: a keypad cannot overflow a field)
MAX_LENGTH = {"amount": 16, "find_amount": 16, "trace": 6, "rrn": 12, "mmdd": 4, "last4": 4, "day": 12,
              "password": max(SUPERVISOR_PASSWORD_DIGITS), "pin": 12, "code": MAX_CODE_DIGITS}
MAX_UNITS_DIGITS = 12


def max_units_digits(exponent: int) -> int:
    """Digits before the point of the largest amount a terminal can send (field 4 is n12)."""
    return min(MAX_UNITS_DIGITS, len(str(MAX_MINOR_UNITS // 10**exponent)))


def edit_amount(text: str, key: str, exponent: int) -> str:
    """`text` after `key`; a key that would make it malformed or too long leaves it as it was."""
    if key in (CLEAR,):
        return ""
    if key == BACKSPACE:
        return text[:-1]
    if key == DOUBLE_ZERO:
        return edit_amount(edit_amount(text, "0", exponent), "0", exponent)
    if key == DOT:
        return text if exponent == 0 or "." in text else (text or "0") + "."
    if key not in DIGITS:
        return text
    candidate = key if text == "0" else text + key
    units, _, fraction = candidate.partition(".")
    if len(units) > max_units_digits(exponent) or len(fraction) > exponent or len(candidate) > MAX_LENGTH["amount"]:
        return text
    return candidate


def amount_problem(text: str, key: str, exponent: int) -> str:
    """Why `key` cannot extend the amount `text` ("decimals", "no_decimals", "too_large"), or "" when it
    simply changes nothing (a second point, a key that is no digit)."""
    if key == DOT and exponent == 0:
        return "no_decimals"
    if key not in (*DIGITS, DOUBLE_ZERO) or (text == "0" and key != DOUBLE_ZERO):
        return ""
    units, point, fraction = text.partition(".")
    if point:
        return "decimals" if len(fraction) >= exponent else ""
    return "too_large" if len(units) >= max_units_digits(exponent) else ""


def edit_digits(text: str, key: str, limit: int) -> str:
    if key == CLEAR:
        return ""
    if key == BACKSPACE:
        return text[:-1]
    if key == DOUBLE_ZERO:
        return edit_digits(edit_digits(text, "0", limit), "0", limit)
    if key in DIGITS and len(text) < limit:
        return text + key
    return text


def read_amount(text: str, exponent: int) -> int | None:
    """Minor units, or None when the text is not an amount a terminal can charge."""
    units = text.partition(".")[0].lstrip("0")
    if len(units) > max_units_digits(exponent):
        return None
    try:
        return parse_amount(text.rstrip(".") if text.endswith(".") else text, exponent)
    except UsageError:
        return None


def read_number(field: str, text: str) -> str | int | None:
    """The value of a finished number entry (trace → int, rrn → 12 digits, day →
    "YYYY-MM-DD" or, with a time of day, "YYYY-MM-DD HH:MM"), or None."""
    if not (text.isascii() and text.isdigit()):
        return None
    if field == "trace":
        return int(text) if len(text) <= 6 and int(text) > 0 else None
    if field == "rrn":
        return text.zfill(12) if len(text) <= 12 else None
    if field == "last4":
        return text if len(text) == 4 else None
    if field == "mmdd":
        if len(text) != 4 or not (1 <= int(text[:2]) <= 12 and 1 <= int(text[2:]) <= 31):
            return None
        return text
    if field == "day":
        if len(text) not in (8, 12):
            return None
        try:
            day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])).isoformat()
            return day if len(text) == 8 else f"{day} {dt.time(int(text[8:10]), int(text[10:])):%H:%M}"
        except ValueError:
            return None
    raise KeyError(field)
