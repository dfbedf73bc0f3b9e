"""The console's line editor: bytes from a serial line in, finished lines and echo bytes out (sans-IO).

A person on a 115200-baud terminal types; `LineEditor.feed(data)` returns what to echo and the events
it completed: `Line(text)` when CR, LF or CRLF ends a line, `Cancelled()` for Ctrl-C, `EndOfInput()`
for Ctrl-D on an empty line.  Backspace (BS or DEL) removes one character, Ctrl-U the whole line.
Escape sequences (arrow keys, function keys) are swallowed; other control bytes are ignored.

In a masked mode (`Echo.STARS` or `Echo.NONE`) the typed text never appears in the echo: each
character shows as ``*`` or as nothing, so a password cannot leak onto the screen or into a capture.
"""

from __future__ import annotations

import codecs
import enum
import unicodedata
from dataclasses import dataclass

#: the longest line a person can type; more characters are refused with a bell
MAX_LINE_CHARS = 256
#: the longest escape sequence swallowed before giving up on it
MAX_ESCAPE_BYTES = 16

CR, LF, BS, DEL, CTRL_C, CTRL_D, CTRL_U, ESC, BEL = 0x0D, 0x0A, 0x08, 0x7F, 0x03, 0x04, 0x15, 0x1B, 0x07


class Echo(enum.Enum):
    PLAIN = "plain"  # commands: the text is shown as typed
    STARS = "stars"  # secrets: one '*' per character
    NONE = "none"  # secrets on a line someone may be watching: nothing at all


@dataclass(frozen=True)
class Line:
    text: str


@dataclass(frozen=True)
class Cancelled:
    """Ctrl-C: the half-typed line is dropped."""


@dataclass(frozen=True)
class EndOfInput:
    """Ctrl-D on an empty line."""


Event = Line | Cancelled | EndOfInput


def display_width(char: str) -> int:
    """Columns a character takes on a terminal: 2 for wide (CJK) characters, else 1."""
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class LineEditor:
    """One line at a time; `echo` decides how typed characters are shown."""

    def __init__(self, *, echo: Echo = Echo.PLAIN, max_chars: int = MAX_LINE_CHARS):
        self.echo = echo
        self.max_chars = max_chars
        self._chars: list[str] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._after_cr = False
        self._escape: bytearray | None = None

    @property
    def pending(self) -> str:
        """The half-typed line (for tests; never echo it in a masked mode)."""
        return "".join(self._chars)

    def reset(self, *, echo: Echo | None = None) -> None:
        """Forget the half-typed line (and switch the echo mode) without emitting anything."""
        self._chars.clear()
        self._decoder.reset()
        self._escape = None
        if echo is not None:
            self.echo = echo

    def feed(self, data: bytes) -> tuple[bytes, list[Event]]:
        """Process typed bytes; return (bytes to echo, completed events) in order."""
        out = bytearray()
        events: list[Event] = []
        for byte in data:
            self._byte(byte, out, events)
        return bytes(out), events

    # -- one byte ---------------------------------------------------------------------------------
    def _byte(self, byte: int, out: bytearray, events: list[Event]) -> None:
        after_cr, self._after_cr = self._after_cr, False
        if self._escape is not None:
            if byte >= 0x20:
                self._escape_byte(byte)
                return
            self._escape = None  # a control byte inside a sequence ends it and still counts (as on a VT100)
        if byte == LF and after_cr:
            return  # the LF of a CRLF: the line already ended at the CR
        if byte < 0x20 or byte == DEL:
            self._decoder.reset()  # a control byte ends any half-received UTF-8 character
        if byte in (CR, LF):
            self._after_cr = byte == CR
            out += b"\r\n"
            events.append(Line(self._take()))
        elif byte in (BS, DEL):
            self._erase(1, out)
        elif byte == CTRL_U:
            self._erase(len(self._chars), out)
        elif byte == CTRL_C:
            self._take()
            out += b"^C\r\n"
            events.append(Cancelled())
        elif byte == CTRL_D:
            if not self._chars:
                out += b"\r\n"
                events.append(EndOfInput())
        elif byte == ESC:
            self._escape = bytearray()
        elif byte < 0x20:
            return  # tab, bell and other control bytes mean nothing here
        else:
            for char in self._decoder.decode(bytes([byte])):
                self._insert(char, out)

    def _escape_byte(self, byte: int) -> None:
        assert self._escape is not None
        self._escape.append(byte)
        first = self._escape[0]
        # ESC x (two bytes), ESC [ ... final (CSI), ESC O x (SS3): swallow the whole sequence
        done = ((first not in (ord("["), ord("O")))
                or (first == ord("O") and len(self._escape) == 2)
                or (first == ord("[") and len(self._escape) > 1 and 0x40 <= byte <= 0x7E)
                or len(self._escape) >= MAX_ESCAPE_BYTES)
        if done:
            self._escape = None

    def _insert(self, char: str, out: bytearray) -> None:
        if not char.isprintable():
            return
        if len(self._chars) >= self.max_chars:
            out.append(BEL)
            return
        self._chars.append(char)
        if self.echo is Echo.PLAIN:
            out += char.encode("utf-8")
        elif self.echo is Echo.STARS:
            out += b"*"

    def _erase(self, count: int, out: bytearray) -> None:
        for _ in range(min(count, len(self._chars))):
            char = self._chars.pop()
            if self.echo is Echo.NONE:
                continue
            columns = display_width(char) if self.echo is Echo.PLAIN else 1
            out += b"\b" * columns + b" " * columns + b"\b" * columns

    def _take(self) -> str:
        text = "".join(self._chars)
        self._chars.clear()
        self._decoder.reset()
        return text
