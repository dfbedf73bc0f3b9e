"""Logging: stdlib `logging`, one line per event, and a last line of defence against card data.

Code never logs a PAN, track data, PIN block or key on purpose: it logs masked values
(`agent.masking`).  The filter below still rewrites any run of 13–24 digits (a possible PAN, also
inside track data) to its masked form, so a mistake elsewhere cannot put card data in a log file.
"""

from __future__ import annotations

import logging
import sys

from agent.masking import mask_digit_runs

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class CardDataFilter(logging.Filter):
    """Masks PAN-like digit runs in the rendered message; folds it onto one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = mask_digit_runs(message).replace("\r", "\\r").replace("\n", "\\n")
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            # a traceback is many lines and may quote values; keep its last line only
            exc = record.exc_info[1]
            record.msg = f"{record.msg} [{type(exc).__name__}: {mask_digit_runs(str(exc))}]"
            record.exc_info = None
            record.exc_text = None
        return True


def setup_logging(level: str = "INFO", log_file: str = "") -> None:
    """Configure the root logger once: one masked line per event, to a file or standard error."""
    handler: logging.Handler
    handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(CardDataFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
