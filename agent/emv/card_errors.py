"""The card reader's exception family: every failure has a short message the cashier can act on.

Each error carries `step` (the EMV step where it happened: "wait", "ppse", "select", "gpo", "read",
"genac1", "genac2"...), and `fallback`: whether the engine may fall back to the magnetic stripe
(60.5 = 2, 22 = 80x) when configured to.  A card taken out or a cancel never falls back: the
cashier simply tries again.
"""

from __future__ import annotations

from agent.errors import PosagentError

#: status words with a name the cashier or a technician can look up (ISO 7816-4 and EMV Book 3)
STATUS_WORD_NAMES: dict[int, str] = {
    0x6283: "selected file invalidated",
    0x6700: "wrong length",
    0x6981: "command incompatible with file structure",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6984: "referenced data invalidated",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed",
    0x6A80: "incorrect data",
    0x6A81: "function not supported (card blocked)",
    0x6A82: "file or application not found",
    0x6A83: "record not found",
    0x6A86: "incorrect P1 P2",
    0x6A88: "referenced data not found",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


def status_word_name(sw: int) -> str:
    """``6A82 (file or application not found)``; unknown words are shown as hex only."""
    name = STATUS_WORD_NAMES.get(sw)
    return f"{sw:04X} ({name})" if name else f"{sw:04X}"


class CardError(PosagentError):
    """A card could not be read or completed; `str()` is the cashier's message."""

    #: the engine may fall back to magnetic stripe (60.5 = 2) when the configuration allows it
    fallback = False
    message = "Card error — try again"

    def __init__(self, detail: str = "", *, step: str | None = None, sw: int | None = None):
        self.step = step
        self.sw = sw
        self.detail = detail
        super().__init__(self.message)

    def technical(self) -> str:
        """For the log and the technician: the step, the status word and the detail (no card data)."""
        parts = [type(self).__name__]
        if self.step:
            parts.append(f"at {self.step}")
        if self.sw is not None:
            parts.append(f"SW {status_word_name(self.sw)}")
        if self.detail:
            parts.append(self.detail)
        return " ".join(parts)


class ReaderNotFound(CardError):
    message = "Card reader not found — check the reader connection"


class CardTimeout(CardError):
    message = "No card inserted in time — start again"


class CardCancelled(CardError):
    message = "Cancelled"


class CardRemoved(CardError):
    message = "Card removed — insert the card again"


class CardRemovedAfterApproval(CardRemoved):
    """The host approved but the card left before the second GENERATE AC: reverse with reason 06."""

    message = "Card removed before completion — the payment is being reversed"


class CardMute(CardError):
    fallback = True
    message = "Card not responding — remove it and insert it again"


class NoSupportedApplication(CardError):
    fallback = True
    message = "Card not supported — use another card"


class CardBlocked(CardError):
    message = "Card blocked — use another card"


class UnexpectedStatusWord(CardError):
    """The card answered a status word the flow does not expect; the technical text names it."""

    fallback = True
    message = "Card read error — insert the card again"

    def __init__(self, detail: str = "", *, step: str | None = None, sw: int | None = None):
        super().__init__(detail, step=step, sw=sw)
        if sw is not None:
            # the cashier sees the named word too: it is what a help desk asks for
            self.args = (f"Card read error ({status_word_name(sw)}) — insert the card again",)


class BadCardData(CardError):
    """The card's answer is malformed (bad TLV, missing mandatory tag, inconsistent data)."""

    fallback = True
    message = "Card data unreadable — use another card"


class CardDeclinedOffline(CardError):
    message = "Card declined the payment — use another card"


class CardAuthenticationFailed(CardDeclinedOffline):
    """Offline data authentication failed and the terminal's action analysis declined (TVR in the detail)."""
    message = "Card authentication failed — declined by the terminal, use another card"


class CardDataWiped(CardError):
    message = "Card data already cleared — read the card again"


class ManualEntryRefused(CardError):
    message = "Manual card entry needs a supervisor"
