"""`posim terminal`: the cashier's keypad screen in a real terminal (stdlib curses), on a running daemon.

The screen is `agent.ui.Terminal` (sans-IO); this module only shows its frames, maps keyboard keys to
keypad keys, performs its calls on the control API in a worker thread (the screen stays responsive and
CANCEL is noted while a call runs) and "prints" receipts in a printer pane (and, with --receipts, to a
file).  curses is enough for a fixed character grid, ships with Python and runs inside tmux for the
tests, so no TUI library is needed.
"""

from __future__ import annotations

import argparse
import curses
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agent.config import load_for_command
from agent.errors import PosagentError, UsageError
from agent.ui import Action, Call, Print, Show, SideCall, Terminal
from agent.ui.calls import CONNECTION_LOST, DAEMON_DOWN
from agent.ui.views import currency_letters
from agent.ui.actions import (BACKSPACE, CANCEL, CLEAR, DOT, DOUBLE_ZERO, DOWN, ENTER, F1, F2, F3, F4, UP)

#: keyboard → keypad; shown on screen as LEGEND
KEYMAP: dict[Any, str] = {
    **{d: d for d in "0123456789"}, "z": DOUBLE_ZERO, "Z": DOUBLE_ZERO, ".": DOT, ",": DOT,
    "\n": ENTER, "\r": ENTER, curses.KEY_ENTER: ENTER,
    "\x1b": CANCEL, "x": CANCEL, "X": CANCEL,
    "c": CLEAR, "C": CLEAR, curses.KEY_DC: CLEAR,
    "\x7f": BACKSPACE, "\b": BACKSPACE, curses.KEY_BACKSPACE: BACKSPACE,
    curses.KEY_F1: F1, curses.KEY_F2: F2, curses.KEY_F3: F3, curses.KEY_F4: F4,
    curses.KEY_UP: UP, curses.KEY_PPAGE: UP, curses.KEY_DOWN: DOWN, curses.KEY_NPAGE: DOWN,
}
QUIT_KEYS = ("q", "Q")
NO_SUCH_KEY = "not a keypad key: the keypad has digits only (see the keys below)"
PRINTER_ROLL_LINES = 500  # the printer pane keeps this much paper
#: how often the screen asks the agent's status (the link down, sales stored offline, declined after forwarding)
STATUS_POLL_SECONDS = 2.0
LEGEND = ("0-9 digits  z=00  .=dot",
          "Enter=ENTER  Esc/x=CANCEL",
          "c=CLEAR  Backspace  Up/Down=page",
          "F1 sale (amount: F1 code, F2 PIN)",
          "F2 refund  F3 lookup",
          "F4 reprint  q=quit")


def parse_size(text: str) -> tuple[int, int]:
    """``"21x8"`` → (21, 8): columns × lines of the cashier screen."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isascii() and width.isdigit() and height.isascii() and height.isdigit()):
        raise UsageError(f"--size must look like 21x8 (columns x lines), not {text!r}")
    return int(width), int(height)


def keypad_key(key: Any) -> str | None:
    """The keypad key for a curses key (an int code or a one-character string), or None."""
    return KEYMAP.get(key)


@dataclass
class Session:
    """The machine, its worker thread and the printer roll; everything but curses."""

    terminal: Terminal
    perform_call: Callable[[Call, Callable[[str], None]], dict[str, Any]]
    print_receipt: Callable[[str], None] = lambda text: None
    frame: tuple[str, ...] = ()
    printed: list[str] = field(default_factory=list)
    _events: "queue.Queue[tuple[str, Any]]" = field(default_factory=queue.Queue)
    _status_asked: bool = False

    def start(self) -> None:
        self.apply(self.terminal.start())
        try:  # fixes left open (e.g. before a restart) show on the idle screen from the start
            reply = self.perform_call(Call("fixes", {}), lambda text: None)
        except (PosagentError, OSError, ValueError):
            return
        if reply.get("ok"):
            self.apply(self.terminal.set_open_fixes(reply["result"].get("open") or []))
        try:  # a link without TLS is said on the idle screen
            status = self.perform_call(Call("status", {}), lambda text: None)
        except (PosagentError, OSError, ValueError):
            return
        if status.get("ok"):
            self.apply(self.terminal.set_link(status["result"]))

    def refresh_status(self) -> None:
        """Ask the agent's `status` beside whatever runs (a query, answered at once): the link going down or
        coming back, what is stored offline and declined after forwarding reach every screen within a poll."""
        if self._status_asked:
            return
        self._status_asked = True

        def ask() -> None:
            try:
                reply = self.perform_call(Call("status", {}), lambda text: None)
            except (PosagentError, OSError, ValueError):
                reply = {}
            self._events.put(("status", reply))

        threading.Thread(target=ask, daemon=True, name="posim-status").start()

    def press(self, key: str) -> None:
        self.apply(self.terminal.press(key))

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Show):
                self.frame = action.frame
            elif isinstance(action, Print):
                self.printed.extend(action.text.rstrip("\n").split("\n") + [""])
                del self.printed[:-PRINTER_ROLL_LINES]
                self.print_receipt(action.text)
            elif isinstance(action, SideCall):  # CANCEL while a payment code waits: beside the call in flight
                threading.Thread(target=self._run_call, args=(Call(action.op, action.args), "ack"), daemon=True,
                                 name="posim-side-call").start()
            elif isinstance(action, Call):
                threading.Thread(target=self._run_call, args=(action,), daemon=True, name="posim-call").start()

    def _run_call(self, call: Call, answer: str = "reply") -> None:
        from agent.control_client import ConnectionLost

        try:
            reply = self.perform_call(call, lambda text: self._events.put(("notify", text)))
        except ConnectionLost as exc:  # sent, then the agent went away: what it did is not known here
            reply = {"ok": False, "error": {"code": CONNECTION_LOST, "message": str(exc)}}
        except PosagentError as exc:  # not running: nothing was sent
            reply = {"ok": False, "error": {"code": DAEMON_DOWN, "message": str(exc)}}
        except (OSError, ValueError) as exc:
            reply = {"ok": False, "error": {"code": CONNECTION_LOST, "message": f"lost the connection ({exc})"}}
        self._events.put((answer, reply))

    def poll(self) -> bool:
        """Feed what the worker reported to the machine; True when anything arrived."""
        got = False
        while True:
            try:
                kind, value = self._events.get_nowait()
            except queue.Empty:
                return got
            got = True
            if kind == "status":
                self._status_asked = False
                if value.get("ok"):
                    self.apply(self.terminal.set_link(value["result"]))
            elif kind == "notify":
                self.apply(self.terminal.notify(value))
            elif kind == "ack":
                self.apply(self.terminal.acknowledge(value))
            else:
                self.apply(self.terminal.deliver(value))


def control_caller(socket_path: Path) -> Callable[[Call, Callable[[str], None]], dict[str, Any]]:
    from agent.control_client import ControlClient

    client = ControlClient(socket_path)

    def perform(call: Call, on_notify: Callable[[str], None]) -> dict[str, Any]:
        return client.call(call.op, dict(call.args), password=call.password, on_notify=on_notify)

    return perform


# ---------------------------------------------------------------- curses

def _draw(screen: "curses.window", session: Session, width: int, height: int, status: str) -> None:
    screen.erase()
    rows, cols = screen.getmaxyx()
    need_rows, need_cols = height + 2 + len(LEGEND) + 2, max(width + 4, max(map(len, LEGEND)) + 2)
    if rows < need_rows or cols < need_cols:
        screen.addnstr(0, 0, f"window too small: need {need_cols}x{need_rows}", max(1, cols - 1))
        screen.refresh()
        return
    top, left = 0, 1
    screen.addstr(top, left, "+" + "-" * width + "+")
    for i, line in enumerate(session.frame):
        screen.addstr(top + 1 + i, left, "|")
        screen.addstr(top + 1 + i, left + 1, line)
        screen.addstr(top + 1 + i, left + 1 + width, "|")
    screen.addstr(top + height + 1, left, "+" + "-" * width + "+")
    for i, line in enumerate(LEGEND):
        screen.addnstr(top + height + 2 + i, left, line, cols - left - 1)
    screen.addnstr(rows - 1, 0, status, cols - 1)
    paper_left = left + max(width + 2, max(map(len, LEGEND))) + 2
    paper_width = cols - paper_left - 1
    if paper_width >= 20:
        screen.addnstr(0, paper_left, "printer:", paper_width)
        roll = session.printed[-(rows - 2):]
        for i, line in enumerate(roll):
            try:
                screen.addnstr(1 + i, paper_left, line, paper_width)
            except curses.error:  # a wide character cut at the pane's edge
                pass
    screen.refresh()


def _loop(screen: "curses.window", session: Session, width: int, height: int, where: str) -> None:
    curses.curs_set(0)
    curses.set_escdelay(25)
    screen.keypad(True)
    screen.timeout(100)
    session.start()
    status = where
    asked_at = time.monotonic()
    while True:
        if time.monotonic() - asked_at >= STATUS_POLL_SECONDS:
            session.refresh_status()
            asked_at = time.monotonic()
        session.poll()
        _draw(screen, session, width, height, status)
        try:
            key = screen.get_wch()
        except curses.error:  # no key within the timeout
            continue
        except KeyboardInterrupt:
            key = "q"
        if key in QUIT_KEYS:
            if not session.terminal.busy:
                return
            status = "waiting for the agent's answer before quitting is allowed"
            continue
        if key == curses.KEY_RESIZE:
            continue
        mapped = keypad_key(key)
        if mapped is not None:
            status = where
            session.press(mapped)
        elif isinstance(key, str) and key.isprintable():  # a letter typed (a password with letters): say so
            status = NO_SUCH_KEY


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("terminal", help="the cashier's keypad screen (curses) on a running posagent daemon")
    p.add_argument("--size", default="21x8", help="screen grid, columns x lines (default 21x8; 16x4 is the smallest)")
    p.add_argument("--language", choices=("en", "zh"), help="screen language (default: terminal.language)")
    p.add_argument("--socket", metavar="PATH", help="control socket (default: daemon.control_socket)")
    p.add_argument("--config", metavar="FILE", help="posagent configuration file")
    p.add_argument("--card", metavar="NAME", help="simulator test card for sales (default: the chip reader)")
    p.add_argument("--receipts", metavar="FILE", help="also append every printed receipt to FILE")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    width, height = parse_size(args.size)
    cfg = load_for_command(args)
    terminal = Terminal(width, height, args.language or cfg.terminal.language,
                        exponent=cfg.terminal.currency_exponent, test_card=args.card,
                        currency=currency_letters(cfg.terminal.currency))
    socket_path = Path(os.path.expanduser(args.socket)) if args.socket else cfg.path("daemon", "control_socket")
    receipts = Path(args.receipts) if args.receipts else None

    def print_receipt(text: str) -> None:
        if receipts is not None:
            with receipts.open("a", encoding="utf-8") as f:
                f.write(text + "\n")

    session = Session(terminal, control_caller(socket_path), print_receipt)
    where = f"agent: {socket_path}" + (f"  card: {args.card}" if args.card else "")
    curses.wrapper(_loop, session, width, height, where)
    return 0
