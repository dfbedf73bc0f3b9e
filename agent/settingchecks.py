"""The checks a setting's value must pass: each takes the value (already of the declared type) and returns the
reason it is wrong, or None; `brief` shows a bad value short.

Apart from `agent.settings` so that the declarations read as a table: these say what a value may be (a range, a
pattern, a duration, an amount, a password hash), `agent.settings.SCHEMA` says which key is which.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from agent.errors import UsageError
from agent.money import parse_amount


def brief(value: Any, most: int = 40) -> str:
    """A value as an error message shows it: its repr, cut short (a 300-digit number stays one short line)."""
    text = repr(value)
    return text if len(text) <= most else f"{text[:most - 12]}... ({len(text)} characters)"


def int_range(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"expected an integer from {lo} to {hi}, got {brief(v)}"

    return check


def matching(rx: str, what: str) -> Callable[[Any], str | None]:
    compiled = re.compile(rx)

    def check(v: Any) -> str | None:
        return None if compiled.fullmatch(v) else f"expected {what}, got {v!r}"

    return check


def one_of(*options: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in options else f"expected one of {', '.join(options)}, got {v!r}"

    return check


def one_of_ints(*options: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in options else f"expected one of {', '.join(map(str, options))}, got {v}"

    return check


def above_zero(most: float, unit: str) -> Callable[[Any], str | None]:
    """A number above 0 and at most `most` (NaN and infinities fail both comparisons or the second)."""
    def check(v: Any) -> str | None:
        return None if 0 < v <= most else f"expected {unit} above 0 and at most {most:g}, got {brief(v)}"

    return check


def seconds(most: float, least: float | None = None) -> Callable[[Any], str | None]:
    """A duration: positive and finite, at most `most` seconds (an endless wait would hold the operation lock),
    and at least `least` where a shorter one would flood a peer or cut a device off mid-answer."""
    if least is None:
        return above_zero(most, "seconds")

    def check(v: Any) -> str | None:
        return None if least <= v <= most else f"expected seconds from {least:g} to {most:g}, got {brief(v)}"

    return check


def schedule_seconds(v: Any) -> str | None:
    """0 (off) or an interval of 1 second to a week."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v == 0 or 1 <= v <= 604_800):
        return f"expected 0 (off) or seconds from 1 to 604800 (a week), got {brief(v)}"
    return None


def amount_text(v: Any) -> str | None:
    """An amount setting: decimal text in the major unit, above 0, at most what field 4 carries (its decimals
    are checked against `terminal.currency_exponent` when the whole file is read: `minor_units`)."""
    try:
        parse_amount(v, max(2, len(v.partition(".")[2])))
    except UsageError as exc:
        return f"expected an amount like \"500.00\": {exc}"
    return None


def word_list(text: str, allowed: tuple[str, ...], example: str) -> tuple[str, ...]:
    """A comma-separated list of `allowed` words, each named once ("chip,swipe" → ("chip", "swipe")); a
    ValueError saying what is wrong."""
    words = [w.strip() for w in text.split(",")]
    expected = f"a comma-separated list of {', '.join(allowed)} (such as \"{example}\")"
    if not text.strip():
        raise ValueError(f"expected {expected}, got {text!r}")
    for word in words:
        if word not in allowed:
            raise ValueError(f"expected {expected}, got {brief(word)} in {brief(text)}")
        if words.count(word) > 1:
            raise ValueError(f"{word!r} is named twice in {brief(text)}: name each once")
    return tuple(words)


def parsed_by(parse: Callable[[Any], Any]) -> Callable[[Any], str | None]:
    """A check that is `parse`'s refusal (its ValueError's text), or None when `parse` takes the value."""
    def check(v: Any) -> str | None:
        try:
            parse(v)
        except ValueError as exc:
            return str(exc)
        return None
    return check


def scrypt_hash(v: Any) -> str | None:
    """Empty (no password yet) or the salted scrypt hash `posagent passwd` writes (agent/auth.py): anything else
    would turn the right password into a wrong one, and every try would count towards the lock."""
    m = re.fullmatch(r"scrypt\$([0-9]{1,7})\$([0-9]{1,3})\$([0-9]{1,3})\$((?:[0-9a-f]{2}){8,64})\$((?:[0-9a-f]{2}){16,64})", v)
    if not v or (m and _scrypt_cost_ok(int(m[1]), int(m[2]), int(m[3]))):
        return None
    # never shown: a password typed here by mistake would be on the screen
    return f"expected a scrypt hash made by `posagent passwd` (scrypt$16384$8$1$SALT$HASH), got {len(v)} characters that are not one"


def _scrypt_cost_ok(n: int, r: int, p: int) -> bool:
    """The costs agent/auth.py can check within its memory bound (2**26 bytes): n a power of 2."""
    return n > 1 and n & (n - 1) == 0 and r >= 1 and p >= 1 and 128 * r * (n + p) <= 2**25
