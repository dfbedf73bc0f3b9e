"""Whether the acquirer counts as reachable: down at once when the link cannot connect, or after
`after_unanswered` requests in a row went unanswered, or while the supervisor has switched the terminal
offline by hand; up again as soon as a request (an echo included) is answered — the supervisor's switch
stays until the supervisor switches back.  Fed by the interpreter from what the link does; read by
store-and-forward and `status`.

A sale while the link counts as down (`next_try`): after a failed connect it tries one connect first (a
refused one fails at once); after unanswered requests it is stored at once — a host that takes requests and
never answers would make every sale wait its response timeout — unless the last unanswered request is
`retry_seconds` old or more, when one request is let through to the bank again."""

from __future__ import annotations

import time
from typing import Callable, TypedDict

#: why the link counts as down
CONNECT, UNANSWERED = "connect", "unanswered"
#: the longest a sale waits for its one connect while the link is down (`[acquirer] connect_timeout` if shorter)
SALE_CONNECT_S = 2.0


class Switched(TypedDict):
    """The supervisor's switch: who, their role, since when (epoch seconds), and the reason `status` shows."""

    operator: str
    role: str
    since: float
    reason: str


class LinkHealth:
    def __init__(self, after_unanswered: int = 3, retry_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time):
        self.after_unanswered = after_unanswered
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.unanswered = 0
        self.cause: str | None = None  # CONNECT or UNANSWERED while down by what the link did
        self.last_unanswered: float | None = None
        self._reason: str | None = None
        self._since: float | None = None
        #: the supervisor's switch while switched offline by hand
        self.switched: Switched | None = None

    def cannot_connect(self, detail: str) -> None:
        self._down(CONNECT, f"cannot connect: {detail}")

    def no_answer(self, detail: str) -> None:
        self.unanswered += 1
        self.last_unanswered = self.clock()
        if self.unanswered >= self.after_unanswered:
            self._down(UNANSWERED, f"no answer to the last {self.unanswered} requests ({detail})")

    def answered(self) -> None:
        self.unanswered = 0
        self._up()

    def connected(self) -> None:
        """A connect tried for a sale succeeded: the link is up again (the unanswered count stays)."""
        if self.cause == CONNECT:
            self._up()

    def next_try(self) -> str | None:
        """What a sale does first while the link counts as down: "connect" (one connect), "request" (one
        request let through: the last unanswered one is `retry_seconds` old), or None (stored at once)."""
        if self.switched is not None or self._reason is None:
            return None
        if self.cause == CONNECT:
            return "connect"
        if self.last_unanswered is not None and self.clock() - self.last_unanswered >= self.retry_seconds:
            return "request"
        return None

    def let_one_through(self) -> None:
        """The next request goes to the bank: one more unanswered puts the link down again at once."""
        self.unanswered = max(0, self.after_unanswered - 1)
        self._up()

    def switch(self, facts: Switched | None) -> None:
        """The supervisor switched the terminal offline (`facts`: who, when, the reason's words) or back (None)."""
        self.switched = facts.copy() if facts is not None else None

    def _down(self, cause: str, reason: str) -> None:
        self.cause = cause
        self._reason = reason.splitlines()[0][:160]
        if self._since is None:
            self._since = self.clock()

    def _up(self) -> None:
        self.cause = self._reason = self._since = None

    @property
    def down_reason(self) -> str | None:
        if self.switched is not None:
            return self.switched["reason"]
        return self._reason

    @property
    def down_since(self) -> float | None:
        if self.switched is not None:
            return self.switched["since"]
        return self._since

    @property
    def down(self) -> bool:
        return self.down_reason is not None
