"""The cashier's keypad in the demo: the sans-IO machine of `agent.ui` driven over the running daemon's control
socket, each step's last screen printed in a box the size of the terminal's display.

Apart from `simulator.demo` because it is the one piece of the walk-through that stands for a person at the
counter (keys in, screens out); the walk-through only says which keys, in which scene.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from agent.ui import Call, Terminal



class Cashier:
    """The cashier's keypad (the sans-IO machine of agent.ui) on the running daemon: keys in, each
    step's last screen printed in a box the size of the terminal's display."""

    def __init__(self, socket: Path, size: tuple[int, int] = (21, 8)):
        from agent.control_client import ControlClient

        self.client = ControlClient(socket)
        self.size = size
        self.terminals: dict[str | None, Terminal] = {}
        self.last_reply: dict[str, Any] = {}
        self.receipts = 0

    def _terminal(self, card: str | None) -> Terminal:
        from agent.ui import Terminal

        if card not in self.terminals:
            self.terminals[card] = Terminal(*self.size, "en", test_card=card)
            self.terminals[card].start()
        return self.terminals[card]

    def _perform(self, call: Call, notify: Callable[[str], None]) -> dict[str, Any]:
        reply = self.client.call(call.op, dict(call.args), password=call.password, on_notify=notify)
        if reply.get("ok") and reply.get("outcome", {}).get("txn"):
            self.last_reply = reply
        return reply

    @property
    def last_trace(self) -> str:
        return f"{self.last_reply['outcome']['txn']['trace']:06d}"

    def yes(self, card: str | None = "debit") -> list[str]:
        """The ENTERs that answer the question on the screen: ENTER pages down to its last page, then says yes."""
        marker = self._terminal(card).frame()[0].split()[-1]
        page, _, count = marker.partition("/")
        return ["ENTER"] * (int(count) - int(page) + 1 if page.isdigit() and count.isdigit() else 1)

    def step(self, label: str, *keys: str, card: str | None = "debit", also: str | None = None) -> None:
        """Press `keys`; print the last screen (and, with `also`, first the first screen showing that text)."""
        from agent.ui.scripted import press_keys

        frames: list[tuple[str, ...]] = []
        press_keys(self._terminal(card), keys, self._perform, on_show=frames.append,
                   on_print=lambda text: setattr(self, "receipts", self.receipts + 1))
        width = self.size[0]
        print(f"  keys: {label}")
        shown = [f for f in frames if also and also in " ".join(f)][:1] + frames[-1:]
        for frame in shown:
            print("  +" + "-" * width + "+")
            for line in frame:
                print(f"  |{line}|")
        print("  +" + "-" * width + "+", flush=True)
