"""What plans ask for (effects), what they get back (results), and what they return (outcomes).

Questions and writes for the journal are `agent.engine.port.Ask` effects, made by `port.ask`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator, Mapping

from agent.errors import PosagentError
from agent.iso8583 import Message


class EngineError(PosagentError):
    """An operation refused or failed, with text for the operator (what happened, what to do)."""

    def __init__(self, message: str, *, code: str = "refused", txn_id: int | None = None):
        self.code = code
        self.txn_id = txn_id
        super().__init__(message)


# ---------------------------------------------------------------- effects (plan → daemon)

@dataclass(frozen=True)
class Connect:
    """Make sure the host link is up.  Result: `True`, or a `NoAnswer` with sent=False."""


@dataclass(frozen=True)
class Exchange:
    """Send `request` (the daemon adds field 64 when the dialect MACs it) and wait for its answer.

    Result: `Answer` or `NoAnswer`."""

    request: Message


@dataclass(frozen=True)
class SignOnNeeded:
    """Ask whether working keys are missing or too old.  Result: bool."""


@dataclass(frozen=True)
class InstallKeys:
    """Hand a sign-on request/response pair to the key store.  Result: the sign-on result value."""

    request: Message
    response: Message


@dataclass(frozen=True)
class ReadCard:
    """Read the card for a transaction of `amount`.  Result: `CardData` or `CardFailure`."""

    amount: int
    test_card: str | None = None
    offline_ok: bool = False  # the terminal may approve offline (a plain sale); else it always goes online
    keyed: bool = False  # the named test card's number and expiry as a supervisor keys them (22 = 012)


@dataclass(frozen=True)
class FinishCard:
    """Second GENERATE AC after the host's answer.  Result: "TC", "AAC" or `CardFailure`; a chip card's
    answer also carries `field55`, the TC for its upload (a swiped or keyed card's has none)."""

    approved: bool
    issuer_data: bytes | None


@dataclass(frozen=True)
class FinishUnableOnline:
    """Second GENERATE AC when the host cannot be reached (EMV Book 3 §10.7): terminal action analysis with
    TAC/IAC-default, then a TC with authorisation response code Y3, or an AAC with Z3 (always an AAC when
    `may_approve` is false: a limit refuses).  Result: `CardData` of the approval (the TC's field 55, the card
    sealed for the advice), or `CardFailure` saying why it was declined.  A swiped or keyed card has no
    cryptogram: the merchant's limits approved it, and the result is its card sealed for the advice."""

    amount: int
    may_approve: bool


@dataclass(frozen=True)
class HostUnreachable:
    """Whether the acquirer counts as unreachable now (the last connect failed, the last requests went
    unanswered, or the supervisor switched the terminal offline).  Result: the reason (text), or None while
    the link is up.  `try_first`: while it is down, a sale tries the bank once first where that is worth it
    (one bounded connect after a failed one; see `agent.daemon.linkstate`); else no I/O."""

    try_first: bool = False


@dataclass(frozen=True)
class OpenSealedCard:
    """The PAN, expiry and chip data (or a swipe's track 2) of an offline approval's advice, from its sealed
    copy in the journal.

    Result: (PAN, expiry YYMM, field 55 bytes, track 2 or None), or `CardFailure` when the copy does not open."""

    sealed: str
    amount: int


@dataclass(frozen=True)
class ReleaseCard:
    """The transaction is over: wipe card data from memory.  Result: None."""


@dataclass(frozen=True)
class AskOffice:
    """Ask the merchant's back office what the sale with this RRN, made on `date` (MMDD) at any till of the
    merchant, still has to refund (this till's newest events go first, so its own refunds are counted).

    Result: `OfficeAnswer`."""

    rrn: str
    date: str


@dataclass(frozen=True)
class Notify:
    """Something for the screen while the operation runs ("Connecting…", "Reversing…").  Result: None."""

    text: str


# ---------------------------------------------------------------- results (daemon → plan)

@dataclass(frozen=True)
class Answer:
    message: Message
    mac_valid: bool | None  # None when the answer carries no MAC


@dataclass(frozen=True)
class NoAnswer:
    kind: str  # timeout, closed, refused, garbage
    sent: bool  # whether the request's bytes may have reached the host
    detail: str


@dataclass(frozen=True)
class OfficeAnswer:
    """The back office's answer to `AskOffice`: what is refundable (minor units), or `problem`, one line saying
    why the office could not be asked; neither: the merchant has no such sale."""

    refundable: int | None = None
    problem: str | None = None
    #: what a refund's receipt names of the sale (None: the office's events do not say)
    sale_card: str | None = None  # masked, first 6 and last 4
    sale_trace: int | None = None  # its voucher number at the till that made it
    sale_terminal: str | None = None


@dataclass(frozen=True)
class CardFailure:
    message: str  # cashier-facing
    removed: bool = False


# ---------------------------------------------------------------- outcomes (plan → operator)

@dataclass(frozen=True)
class Outcome:
    """The end of an operation, for every interface: status, a message for people, the records."""

    operation: str
    status: str  # approved, declined, reversed, in_doubt, needs_confirmation, repeat, done
    message: str
    txn: Any = None  # the journal's Txn of the main record, if any
    steps: tuple[Any, ...] = ()  # every Txn the operation created, in order
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("approved", "done", "repeat")


Plan = Generator[Any, Any, Outcome]
