"""The control API's argument checks, derived from the operation registry (`agent.registry`).

Every request is checked here before anything runs, so a wrong type or an out-of-range value is a
one-line ``usage`` error naming the argument and what was expected — never an internal error deep in
the engine or the journal.  Who may run an operation, what it does and how it is reached are the
registry's rows; nothing here lists operations.
"""

from __future__ import annotations

import re
from typing import Any

from agent.engine.effects import EngineError
from agent.journal.states import KINDS
from agent.operation import Arg, Operation
from agent.paycodes import PaymentCodeError, classify
from agent.registry import LOG_LEVELS, OPERATIONS, RENAMED

#: console event details: a small flat object of short texts and numbers
MAX_DETAILS = 8
MAX_TEXT = 200


def usage(message: str) -> EngineError:
    return EngineError(message, code="usage")


def operation(op: object) -> Operation:
    """The registry's row of the operation a request names (or named before a rename); a one-line usage error
    for any other name."""
    if isinstance(op, str) and op in RENAMED:
        op = RENAMED[op]
    if not isinstance(op, str) or op not in OPERATIONS:
        shown = op if isinstance(op, str) and len(op) <= 40 and op.isprintable() else type(op).__name__
        raise usage(f"unknown operation {shown!r} (known: {', '.join(sorted(OPERATIONS))})")
    return OPERATIONS[op]


def validate(op: object, args: object) -> dict[str, Any]:
    """The request's arguments checked against the registry; a one-line usage error otherwise."""
    row = operation(op)
    op = row.name
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise usage(f"{op}: args must be an object, not {type(args).__name__}")
    table = row.args
    # an argument named as before a rename, where today's name is one of this operation's
    args = {RENAMED[k] if k not in table and RENAMED.get(k) in table else k: v for k, v in args.items()}
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
    if row.one_of and not any(all(checked.get(name) not in (None, False) for name in group) for group in row.one_of):
        raise usage(f"{op} needs " + ", or ".join(" and ".join(group) for group in row.one_of))
    return checked


def _check(op: str, name: str, arg: Arg, value: Any) -> Any:
    where = f"{op}: {name}"
    if arg.is_int:
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
    if arg.kind == "txn_kind":
        if value not in KINDS:
            raise usage(f"{where} must be a kind: {', '.join(KINDS)}, not {_shown(value)}")
        return value
    if arg.kind == "paycode":  # the wallet table says what a code is; a product barcode never goes out
        try:
            classify(value)
        except PaymentCodeError as exc:
            raise usage(f"{where}: {exc}") from None
        return value
    if arg.kind == "pin":  # never repeat what was typed
        if not (isinstance(value, str) and value.isascii() and value.isdigit() and 4 <= len(value) <= 12):
            raise usage(f"{where} must be 4 to 12 digits (the value is not shown)")
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
        raise usage(f"{where} must be {arg.expected}, not {_shown(value)}")
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
