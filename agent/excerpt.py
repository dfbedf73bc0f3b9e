"""A refused value as an error message quotes it: short, on one line, card numbers masked.

Error messages name what they refused, and what was there may be anything: a 60,000-character field,
a full card number where the masked one belongs.  `excerpt` is the one way an error quotes it.
"""

from __future__ import annotations

import re

from agent.masking import mask_pan

#: the most characters of a refused value an error message quotes
EXCERPT_CHARS = 40
#: any run this long may be a card number or payment code, whatever its length
_LONG_DIGIT_RUN = re.compile(r"[0-9]{13,}")


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A refused value as an error message may quote it: one line, at most `limit` characters of it,
    every run of 13 or more digits masked like a PAN (first 6 / last 4 at most), and its length when cut.

    ``excerpt("6226090000000048")`` → ``'622609******0048'``; a 60,000-character value →
    ``'AAAA…'… (60000 characters)``.
    """
    text = str(value)
    # mask a window longer than what is shown: a digit run cut at the window's edge still shows only
    # its first digits, never its middle
    window = _LONG_DIGIT_RUN.sub(lambda m: mask_pan(m.group(0)), text[:limit + 20])
    if len(text) <= limit:
        return repr(window)
    return f"{window[:limit]!r}… ({len(text)} characters)"
