"""The cashier's keypad screen as a sans-IO state machine: key presses and replies in, actions out.

    terminal = Terminal(21, 8, "en")
    for action in terminal.press("1"):       # Show(frame), Call(op, args, password), Print(text)
        ...
    terminal.deliver(reply)                   # the control API's reply to the last Call
    terminal.acknowledge(reply)               # ... and to a SideCall (CANCEL while a payment code waits)

Any display (curses on a laptop, a real terminal's LCD) drives the same machine.
"""

from agent.ui.actions import KEYS, Action, Call, Print, Show, SideCall, UiError, UiStateError
from agent.ui.machine import Terminal

__all__ = ["KEYS", "Action", "Call", "Print", "Show", "SideCall", "Terminal", "UiError", "UiStateError"]
