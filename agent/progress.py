"""Progress text that also says which stage an operation is in, for screens that draw their own.

A `Progress` is a `str` (every notify path that shows or logs text keeps working) carrying a stage name
and, while a customer confirms on the phone, the seconds left.  The control API sends the stage beside
the text (`{"notify": TEXT, "stage": "paying", "left": 57}`) and its client rebuilds the `Progress`, so
the cashier's keypad can show "confirm on the phone" in its own words on a 16×4 display.
"""

from __future__ import annotations

from typing import Any, Mapping

#: the stages an operation reports: the scanner waits for the customer's code; the customer confirms
STAGES = ("scanning", "paying")


class Progress(str):
    stage: str
    left: int | None

    def __new__(cls, text: str, stage: str, left: int | None = None) -> "Progress":
        if stage not in STAGES:
            raise ValueError(f"progress stage must be one of {', '.join(STAGES)}, not {stage!r}")
        made = super().__new__(cls, text)
        made.stage, made.left = stage, left
        return made

    def fields(self) -> dict[str, Any]:
        """What the control API sends beside the text."""
        return {"stage": self.stage, **({"left": self.left} if self.left is not None else {})}


def progress_fields(text: str) -> dict[str, Any]:
    return text.fields() if isinstance(text, Progress) else {}


def from_notify(reply: Mapping[str, Any]) -> str:
    """The text of a control-API notification, as a `Progress` when it names a known stage."""
    text = str(reply.get("notify", ""))
    stage, left = reply.get("stage"), reply.get("left")
    if stage not in STAGES:
        return text
    if not (isinstance(left, int) and not isinstance(left, bool) and 0 <= left < 10**6):
        left = None
    return Progress(text, stage, left)
