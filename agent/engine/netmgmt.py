"""Network-management messages, pure: sign-on 0800/0810, sign-off and echo 0820/0830.

Builders turn configuration + trace number into a `Message`; `apply_signon_response` checks the answer
(MTI, 11, 41, 42, 39), installs the working keys of field 62 in the key store — which refuses any key
whose check value does not match — and says what happened.  No I/O here: the link sends, the
engine decides when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from agent.errors import PosagentError
from agent.iso8583 import CodecError, Message
from agent.iso8583.matching import NETWORK_ECHO, answer_mismatch
from agent.iso8583.subfields import Field60, Field62Keys

SIGN_ON_TYPE = "00"  # 60.1 for every network-management message
NMC_SIGN_OFF = "002"
NMC_ECHO = "301"

if TYPE_CHECKING:
    from agent.keys.store import KeyStore


class NetworkResponseError(PosagentError):
    """A network-management answer that is not the answer to our request, or says no."""

    def __init__(self, message: str, *, field: int | None = None, response_code: str | None = None):
        self.field = field
        self.response_code = response_code
        super().__init__(message)


class TerminalSections(Protocol):
    """What the builders read of the configuration: `cfg["terminal"]["terminal_id"]`, `cfg["keys"]["key_mode"]`
    (an `agent.config.Config`, or `Profile.as_config()`)."""

    def __getitem__(self, section: str, /) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class SignOnResult:
    batch_number: str
    key_mode: str
    key_check_values: dict[str, str]  # key name → check value (hex), each verified
    host_time: str | None  # MMDDhhmmss from 13 + 12, when the host sent them


def _trace(trace: int | str) -> str:
    text = f"{trace:06d}" if isinstance(trace, int) else trace
    if not (len(text) == 6 and text.isascii() and text.isdigit()) or text == "000000":
        raise ValueError(f"trace number must be 000001..999999, got {trace!r}")
    return text


def _identity(cfg: TerminalSections) -> dict[int, str]:
    return {41: cfg["terminal"]["terminal_id"], 42: cfg["terminal"]["merchant_id"]}


def build_signon(cfg: TerminalSections, trace: int | str, *, batch: str = "000000",
                 key_mode: str | None = None) -> Message:
    """0800 sign-on; 60.3 = the key mode asked for (default: [keys] key_mode)."""
    mode = key_mode or cfg["keys"]["key_mode"]
    return Message("0800", {11: _trace(trace), **_identity(cfg),
                            60: Field60(tx_type=SIGN_ON_TYPE, batch=batch, nmc=mode).to_str()})


def build_signoff(cfg: TerminalSections, trace: int | str, *, batch: str = "000000") -> Message:
    return Message("0820", {11: _trace(trace), **_identity(cfg),
                            60: Field60(tx_type=SIGN_ON_TYPE, batch=batch, nmc=NMC_SIGN_OFF).to_str()})


def build_echo(cfg: TerminalSections, trace: int | str, *, batch: str = "000000") -> Message:
    return Message("0820", {11: _trace(trace), **_identity(cfg),
                            60: Field60(tx_type=SIGN_ON_TYPE, batch=batch, nmc=NMC_ECHO).to_str()})


def build_network(cfg: TerminalSections, trace: int | str, mti: str, nmc: str, *, batch: str = "000000",
                  fields: dict[int, str | bytes] | None = None) -> Message:
    """Any other network-management request (e.g. a parameter download step): MTI, 60.3 and its own fields."""
    return Message(mti, {11: _trace(trace), **_identity(cfg), **(fields or {}),
                         60: Field60(tx_type=SIGN_ON_TYPE, batch=batch, nmc=nmc).to_str()})


def check_network_response(request: Message, response: Message) -> None:
    """The answer must be request MTI + 10 with the same 11, 41, 42 and 39 = 00."""
    mismatch = answer_mismatch(request, response, NETWORK_ECHO)
    if mismatch is not None:
        raise NetworkResponseError(mismatch[1], field=mismatch[0])
    code = response.get(39)
    if code != "00":
        code = code if isinstance(code, str) else None
        raise NetworkResponseError(f"the acquirer answered {request.mti} with response code {code or 'none'}",
                                   field=39, response_code=code)


def apply_signon_response(request: Message, response: Message, keystore: KeyStore, *,
                          now: datetime | None = None) -> SignOnResult:
    """Check a sign-on answer and install its working keys; returns the new batch number and check values."""
    check_network_response(request, response)
    key_mode = Field60.parse(request[60]).nmc
    try:
        batch = Field60.parse(response[60]).batch
        keys = Field62Keys.parse(response[62], key_mode)
    except KeyError as exc:
        raise NetworkResponseError(f"the sign-on answer has no field {exc.args[0]}", field=exc.args[0]) from None
    except CodecError as exc:
        raise NetworkResponseError(f"the sign-on answer is malformed: {exc}", field=62) from None
    check_values = keystore.install_working_keys([(enc, chk) for enc, chk in keys], key_mode=key_mode, now=now)
    host_time = None
    date, time = response.get(13), response.get(12)
    if isinstance(date, str) and isinstance(time, str):
        host_time = date + time
    return SignOnResult(batch_number=batch, key_mode=key_mode, key_check_values=check_values, host_time=host_time)
