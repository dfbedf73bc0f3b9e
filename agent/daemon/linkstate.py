"""Whether the acquirer counts as reachable: down at once when the link cannot connect, or after
`after_unanswered` requests in a row went unanswered; up again as soon as a request (an echo included)
is answered.  Fed by the interpreter from what the link does; read by store-and-forward and `status`."""

from __future__ import annotations

import time


class LinkHealth:
    def __init__(self, after_unanswered: int = 3):
        self.after_unanswered = after_unanswered
        self.unanswered = 0
        self.down_reason: str | None = None
        self.down_since: float | None = None

    def cannot_connect(self, detail: str) -> None:
        self._down(f"cannot connect: {detail}")

    def no_answer(self, detail: str) -> None:
        self.unanswered += 1
        if self.unanswered >= self.after_unanswered:
            self._down(f"no answer to the last {self.unanswered} requests ({detail})")

    def answered(self) -> None:
        self.unanswered = 0
        self.down_reason = self.down_since = None

    def _down(self, reason: str) -> None:
        self.down_reason = reason.splitlines()[0][:160]
        if self.down_since is None:
            self.down_since = time.time()

    @property
    def down(self) -> bool:
        return self.down_reason is not None
