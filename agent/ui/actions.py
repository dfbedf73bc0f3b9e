"""Keypad keys in, actions out: the vocabulary between the cashier machine and whatever drives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from agent.errors import PosagentError

DIGITS = tuple("0123456789")
DOUBLE_ZERO, DOT = "00", "."
CLEAR, BACKSPACE, ENTER, CANCEL = "CLEAR", "BACKSPACE", "ENTER", "CANCEL"
F1, F2, F3, F4 = "F1", "F2", "F3", "F4"
UP, DOWN = "UP", "DOWN"

#: every key a cashier's keypad has
KEYS: frozenset[str] = frozenset((*DIGITS, DOUBLE_ZERO, DOT, CLEAR, BACKSPACE, ENTER, CANCEL, F1, F2, F3, F4,
                                  UP, DOWN))


class UiError(PosagentError):
    """The cashier screen was set up or driven wrongly (bad grid size, unknown key, unknown language)."""

    exit_status = 2


class UiStateError(UiError):
    """A driver broke the protocol (a reply with no call in flight); a move the table does not list is an
    `agent.machine.IllegalTransition`."""

    def __init__(self, message: str, *, state: str, event: str | None = None):
        self.state = state
        self.event = event
        super().__init__(message)


@dataclass(frozen=True)
class Show:
    """Put this frame on the display: exactly `height` lines, each exactly `width` display columns."""

    frame: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    """Perform control-API operation `op` and hand its reply to `Terminal.deliver`.

    `password` is the supervisor password the cashier's supervisor just typed (never shown, never kept
    after this action)."""

    op: str
    args: Mapping[str, Any] = field(default_factory=dict)
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # a customer's PIN in the arguments never shows
        args = {k: ("***" if k == "pin" else v) for k, v in self.args.items()}
        return f"Call(op={self.op!r}, args={args!r})"


@dataclass(frozen=True)
class SideCall:
    """Perform control-API operation `op` now, beside the Call in flight, and hand its reply to
    `Terminal.acknowledge`.

    The one call that may run beside another: `wallet_cancel`, the cashier's CANCEL while the customer
    confirms a payment code on the phone (or while the scanner waits).  The daemon answers it at once and
    the wallet sale in flight then cancels the order itself, so the Call's own reply says how it ended."""

    op: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Print:
    """Send this receipt text to the printer."""

    text: str


Action = Union[Show, Call, SideCall, Print]
