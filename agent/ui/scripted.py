"""Driving the cashier machine from a script (the demo, tests, a cash-register bridge): keys in order,
each Call performed at once by a function the caller supplies, frames and receipts handed back.

Still no I/O here: `perform` is the caller's (for the daemon: `ControlClient(path).call`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from agent.ui.actions import KEYS, Action, Call, Print, Show, SideCall, UiError
from agent.ui.machine import Terminal

Perform = Callable[[Call, Callable[[str], None]], Mapping[str, Any]]


def typed(text: str) -> list[str]:
    """Keypad keys for typed text: ``"120.00"`` → ``["1", "2", "0", ".", "0", "0"]``."""
    keys = list(text)
    bad = [k for k in keys if k not in KEYS]
    if bad:
        raise UiError(f"{text!r} cannot be typed on the keypad ({', '.join(map(repr, bad))})")
    return keys


def press_keys(terminal: Terminal, keys: Iterable[str], perform: Perform, *,
               on_show: Callable[[tuple[str, ...]], None] = lambda frame: None,
               on_print: Callable[[str], None] = lambda text: None) -> None:
    """Press each key; every Call is performed before the next key (its notifications shown as they come).

    A key may be a keypad key name ("ENTER", "00") or digits and dots to type ("120.00")."""
    for key in keys:
        for k in ([key] if key in KEYS else typed(key)):
            _apply(terminal, terminal.press(k), perform, on_show, on_print)


def _apply(terminal: Terminal, actions: list[Action], perform: Perform,
           on_show: Callable[[tuple[str, ...]], None], on_print: Callable[[str], None]) -> None:
    pending: Call | None = None
    for action in actions:
        if isinstance(action, Show):
            on_show(action.frame)
        elif isinstance(action, Print):
            on_print(action.text)
        elif isinstance(action, SideCall):  # answered at once by the agent, beside the call in flight
            reply = perform(Call(action.op, action.args), lambda text: None)
            _apply(terminal, terminal.acknowledge(reply), perform, on_show, on_print)
        elif isinstance(action, Call):
            pending = action
    if pending is not None:
        notify = lambda text: _apply(terminal, terminal.notify(text), perform, on_show, on_print)  # noqa: E731
        _apply(terminal, terminal.deliver(perform(pending, notify)), perform, on_show, on_print)
