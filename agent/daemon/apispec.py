"""The control API's operations as one table: each operation's arguments with their type and range.

Every request is checked here before anything runs, so a wrong type or an out-of-range value is a
one-line ``usage`` error naming the argument and what was expected — never an internal error deep in
the engine or the journal.  Who may run an operation is `agent.roles`' table; what it does is the
engine's plan (`agent.daemon.service.OPERATIONS`) or a query (`agent.daemon.control`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agent.engine.effects import EngineError
from agent.journal.states import KINDS
from agent.money import MAX_MINOR_UNITS

#: field 4 is n12: the largest amount a message can carry, in minor units (one home: agent.money)
MAX_AMOUNT = MAX_MINOR_UNITS
MAX_TRACE = 999_999
MAX_ID = 2 ** 62
MAX_TEXT = 200
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Arg:
    kind: str  # "int", "bool", "text", "object", "record", "level"
    required: bool = False
    lo: int = 0
    hi: int = 0
    pattern: str | None = None  # a text argument must match it whole
    expected: str = ""  # how the pattern is described to the caller
    nullable: bool = True  # null is the same as leaving the argument out


def _int(lo: int, hi: int, required: bool = False) -> Arg:
    return Arg("int", required, lo, hi)


def _text(pattern: str | None = None, expected: str = "", required: bool = False, hi: int = MAX_TEXT) -> Arg:
    return Arg("text", required, 0, hi, pattern, expected)


AMOUNT = _int(1, MAX_AMOUNT)
TRACE = _int(1, MAX_TRACE)
ID = _int(1, MAX_ID)
FLAG = Arg("bool")
REQUEST_ID = _text(r"[ -~]{1,64}", "1 to 64 printable ASCII characters")
#: a payment code as typed or scanned: digits only here; the wallet table (agent/paycodes.py) checks the rest
CODE = _text(r"[0-9]{1,40}", "the digits of a payment code")
CARD = _text(r"[A-Za-z0-9_.-]{1,40}", "a test card name (letters, digits, _ . -)")
#: the cardholder's PIN for a card that asks for one online: checked without ever being echoed
PIN = Arg("pin")

#: operation → {argument: what it must be}; an argument not listed is refused
OPERATIONS: dict[str, dict[str, Arg]] = {
    "ping": {},
    "status": {},
    "reversals": {},
    "duplicates": {},
    "reversal_retry": {},
    "signon": {},
    "echo": {},
    "lookup": {"trace": TRACE, "rrn": _text(r"[0-9A-Za-z ]{1,12}", "up to 12 letters or digits"),
               "date": _text(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "a day as YYYY-MM-DD"), "amount": AMOUNT,
               "last4": _text(r"[0-9]{4}", "4 digits"), "batch": _int(1, 999_999), "limit": _int(1, MAX_LIMIT),
               "kind": _text("|".join(KINDS), "a kind: " + ", ".join(KINDS))},
    "receipt": {"id": ID},
    "export": {"id": Arg("int", True, 1, MAX_ID)},
    "reversal_handled": {"id": Arg("int", True, 1, MAX_ID), "note": _text()},
    "log_level": {"level": Arg("level")},
    "console_event": {"kind": _text(required=True), "details": Arg("object")},
    "sale": {"amount": Arg("int", True, 1, MAX_AMOUNT), "card": CARD, "confirm_duplicate": FLAG,
             "confirm_unusual": FLAG, "client_request_id": REQUEST_ID, "pin": PIN},
    "void": {"trace": Arg("int", True, 1, MAX_TRACE)},
    "refund": {"trace": TRACE, "rrn": _text(r"[0-9A-Za-z ]{1,12}", "up to 12 letters or digits"),
               "date": _text(r"[0-9]{4}", "the original's day as MMDD"), "amount": AMOUNT,
               "client_request_id": REQUEST_ID, "confirm_repeat": FLAG},
    "correct": {"trace": Arg("int", True, 1, MAX_TRACE), "amount": AMOUNT,
                "method": _text(r"auto|refund|resale", "auto, refund or resale"), "card": CARD, "resume": FLAG},
    "duplicates_fix": {"id": Arg("int", True, 1, MAX_ID)},
    "settle": {"confirm": FLAG, "confirm_open_chains": FLAG},
    "chains": {},
    "chain_close": {"id": Arg("int", True, 1, MAX_ID), "reason": _text(required=True)},
    "preauth": {"amount": Arg("int", True, 1, MAX_AMOUNT), "card": CARD, "confirm_duplicate": FLAG,
                "client_request_id": REQUEST_ID, "pin": PIN},
    "preauth_void": {"trace": Arg("int", True, 1, MAX_TRACE)},
    "preauth_release": {"trace": Arg("int", True, 1, MAX_TRACE)},
    "preauth_complete": {"trace": Arg("int", True, 1, MAX_TRACE), "amount": Arg("int", True, 1, MAX_AMOUNT),
                         "advice": FLAG},
    "completion_void": {"trace": Arg("int", True, 1, MAX_TRACE)},
    "preauth_list": {},
    "wallet_sale": {"amount": Arg("int", True, 1, MAX_AMOUNT), "code": CODE, "confirm_duplicate": FLAG,
                    "client_request_id": REQUEST_ID},
    "wallet_correct": {"trace": Arg("int", True, 1, MAX_TRACE), "amount": Arg("int", True, 1, MAX_AMOUNT),
                       "code": CODE},
    "wallet_cancel": {},
    "reconcile_record": {"kind": _text(r"reconcile\.(run|refused)", "reconcile.run or reconcile.refused",
                                       required=True),
                         "details": Arg("record", True)},
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: a "record" argument (a reconciliation run's details): any JSON object up to this size once encoded
MAX_RECORD_BYTES = 1 << 20
#: console event details: a small flat object of short texts and numbers
MAX_DETAILS = 8


def usage(message: str) -> EngineError:
    return EngineError(message, code="usage")


def validate(op: Any, args: Any) -> dict[str, Any]:
    """The request's arguments checked against the table; a one-line usage error otherwise."""
    if not isinstance(op, str) or op not in OPERATIONS:
        shown = op if isinstance(op, str) and len(op) <= 40 and op.isprintable() else type(op).__name__
        raise usage(f"unknown operation {shown!r} (known: {', '.join(sorted(OPERATIONS))})")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise usage(f"{op}: args must be an object, not {type(args).__name__}")
    table = OPERATIONS[op]
    unknown = [str(k)[:40] for k in args if k not in table]
    if unknown:
        known = ", ".join(table) or "none"
        raise usage(f"{op}: unknown argument {unknown[0]!r} (known: {known})")
    checked: dict[str, Any] = {}
    for name, arg in table.items():
        value = args.get(name)
        if value is None:
            if arg.required:
                raise usage(f"{op} needs {name}")
            continue
        checked[name] = _check(op, name, arg, value)
    return checked


def _check(op: str, name: str, arg: Arg, value: Any) -> Any:
    where = f"{op}: {name}"
    if arg.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise usage(f"{where} must be a whole number from {arg.lo} to {arg.hi}, not {_shown(value)}")
        if not arg.lo <= value <= arg.hi:
            raise usage(f"{where} must be from {arg.lo} to {arg.hi}, not {value}")
        return value
    if arg.kind == "bool":
        if not isinstance(value, bool):
            raise usage(f"{where} must be true or false, not {_shown(value)}")
        return value
    if arg.kind == "level":
        if value not in LOG_LEVELS:
            raise usage(f"{where} must be one of {', '.join(LOG_LEVELS)}, not {_shown(value)}")
        return value
    if arg.kind == "pin":  # never repeat what was typed
        if not (isinstance(value, str) and value.isascii() and value.isdigit() and 4 <= len(value) <= 12):
            raise usage(f"{where} must be 4 to 12 digits (the value is not shown)")
        return value
    if arg.kind == "record":
        if not isinstance(value, dict) or len(json.dumps(value, ensure_ascii=False).encode()) > MAX_RECORD_BYTES:
            raise usage(f"{where} must be an object of at most {MAX_RECORD_BYTES} bytes as JSON")
        return value
    if arg.kind == "object":
        if not isinstance(value, dict) or len(value) > MAX_DETAILS or not all(
                isinstance(k, str) and len(k) <= 40 and _plain_scalar(v) for k, v in value.items()):
            raise usage(f"{where} must be an object of at most {MAX_DETAILS} short texts or numbers")
        return value
    if not isinstance(value, str):
        raise usage(f"{where} must be text, not {_shown(value)}")
    if len(value) > arg.hi or not value.isprintable():
        raise usage(f"{where} must be printable text of at most {arg.hi} characters")
    if arg.pattern is not None and not re.fullmatch(arg.pattern, value):
        raise usage(f"{where} must be {arg.expected}, not {value!r}")
    return value


def _plain_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT and value.isprintable()
    return value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 2 ** 62) or (
        isinstance(value, float) and value == value and abs(value) < 1e15)


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a{'n object' if isinstance(value, dict) else ' list'}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
