"""The terminal's local time, written one way: every screen, receipt, report and export that shows an instant
to a person formats it here (the wire's own dates — field 13, EMV 9A — follow their formats where they are
built)."""

from __future__ import annotations

import time

#: a date and time to the second, as receipts, the console and the journal's listings show it
SECONDS = "%Y-%m-%d %H:%M:%S"
#: to the minute, where a line is short (an engine message naming an earlier transaction)
MINUTES = "%Y-%m-%d %H:%M"


def local_time(epoch: float, pattern: str = SECONDS) -> str:
    """`epoch` (seconds since 1970, UTC) as the terminal's local wall-clock time in `pattern`."""
    return time.strftime(pattern, time.localtime(epoch))


def stamp(epoch: float | None, pattern: str = SECONDS) -> str:
    """`local_time`, or "-" for an instant that never came."""
    return "-" if epoch is None else local_time(epoch, pattern)
