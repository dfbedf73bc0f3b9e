"""Frames on a character grid: text measured in display columns (a CJK character takes two), wrapped,
cut, padded and paged so that every line of every frame is exactly the grid's width."""

from __future__ import annotations

import unicodedata

from agent.engine.receipts import display_width
from agent.ui.actions import UiError

#: the grid sizes the machine accepts; a 16×4 LCD is the smallest useful one
MIN_WIDTH, MAX_WIDTH = 16, 80
MIN_HEIGHT, MAX_HEIGHT = 4, 40


def check_grid(width: int, height: int) -> None:
    if not (isinstance(width, int) and MIN_WIDTH <= width <= MAX_WIDTH):
        raise UiError(f"screen width must be {MIN_WIDTH} to {MAX_WIDTH} columns, not {width!r}")
    if not (isinstance(height, int) and MIN_HEIGHT <= height <= MAX_HEIGHT):
        raise UiError(f"screen height must be {MIN_HEIGHT} to {MAX_HEIGHT} lines, not {height!r}")


def char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf"):
        return 0
    return display_width(ch)


def printable(text: str) -> str:
    """Text with control characters (newlines, tabs, escapes from a reply) turned into spaces."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)


def cut(text: str, width: int) -> str:
    """The longest prefix of `text` that fits `width` columns."""
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out)


def pad(text: str, width: int) -> str:
    """`text` cut to `width` columns and padded with spaces to exactly `width`."""
    text = cut(printable(text), width)
    return text + " " * (width - display_width(text))


def right(text: str, width: int) -> str:
    text = printable(text)
    if display_width(text) > width:  # keep the end: the last digits typed are the ones to see
        while display_width(text) > width:
            text = text[1:]
    return " " * (width - display_width(text)) + text


def split_ends(left: str, right_text: str, width: int) -> str:
    """`left` and `right_text` on one line, the right one kept whole when they do not both fit."""
    right_text = cut(printable(right_text), width)
    room = width - display_width(right_text)
    left = cut(printable(left), max(0, room - 1)) if right_text else cut(printable(left), width)
    gap = width - display_width(left) - display_width(right_text)
    return left + " " * gap + right_text


def wrap(text: str, width: int) -> list[str]:
    """Greedy wrap by display columns: break at spaces where possible, anywhere in a long word or CJK run."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = printable(paragraph)
        line, used = "", 0
        for word in _tokens(paragraph):
            w = display_width(word)
            if word == " ":
                if line and used < width:
                    line, used = line + " ", used + 1
                continue
            if used + w > width and line.strip():
                lines.append(line.rstrip())
                line, used = "", 0
            while w > width:  # a word longer than the line: break it
                head = cut(word, width - used)
                if not head:
                    lines.append(line.rstrip())
                    line, used = "", 0
                    head = cut(word, width)
                lines.append((line + head).rstrip())
                line, used = "", 0
                word = word[len(head):]
                w = display_width(word)
            line, used = line + word, used + w
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> list[str]:
    """Words, single spaces, and each wide (CJK) character on its own so lines may break between them."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch == " " or char_width(ch) == 2:
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens


def pages(lines: int, rows: int) -> int:
    """Screens needed to show `lines` body lines `rows` at a time."""
    return max(1, -(-lines // rows))


def compose(title: str, body: list[str], footer: str, width: int, height: int, page: int = 0) -> tuple[str, ...]:
    """Title line (with "page/pages" when the body needs more than one screen), body rows, footer line."""
    rows = height - 2
    count = pages(len(body), rows)
    page = max(0, min(page, count - 1))
    marker = f"{page + 1}/{count}" if count > 1 else ""
    shown = body[page * rows:(page + 1) * rows]
    frame = [split_ends(title, marker, width)]
    frame += [pad(line, width) for line in shown]
    frame += [pad("", width)] * (rows - len(shown))
    frame.append(pad(footer, width))
    return tuple(frame)
