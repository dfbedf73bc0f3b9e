"""The terminal's link to the merchant's back office (the `posoffice` collector): its login, the HTTP client
over urllib with TLS verified against `[office] ca_file`, and the question a refund of another till's sale asks.

The terminal logs in with HTTP Basic: its terminal id and the secret `posoffice terminal add` (or `rotate`)
printed, kept in `[office] secret_file` (`read_secret`).  An https URL is verified with the TLS context every
link of the terminal uses (`agent/tls.py`); with a CA file set, plain http is refused before anything is sent.
The shipper (`agent/office/shipper.py`) posts the journal's events through `OfficeClient`; `refundable` asks
what a sale of the merchant still has to refund (`GET /v1/refundable`).  Every failure is a `ShipError` of
one line.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import ssl
import stat
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.tls import make_ssl_context
from agent.tls import reason as tls_reason

#: the largest reply read from the office
MAX_REPLY_BYTES = 64 * 1024


class ShipError(Exception):
    """Shipping stopped: the office is unreachable, refused the credentials or refused the chain."""

    exit_status = 1

    def __init__(self, message: str, *, retry: bool, login_refused: bool = False):
        super().__init__(message)
        self.retry = retry  # True: try again later as is; False: a person must look first
        self.login_refused = login_refused  # the office refused the terminal's id and secret (401/403)


#: a terminal's secret file: one line, a few dozen characters
MAX_SECRET_BYTES = 256


def read_secret(path: str | Path) -> str:
    """The terminal's office secret from its file: a regular file, private to its owner, one line."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ShipError(f"{path}: cannot read the office secret ({exc.strerror or exc})", retry=False) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ShipError(f"{path}: the office secret must be a regular file", retry=False)
        if info.st_mode & 0o077:
            raise ShipError(f"{path}: the office secret is readable by others (mode {oct(info.st_mode & 0o777)}); "
                            f"make it 0600", retry=False)
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)
    secret = data.decode("utf-8", "replace").strip()
    if len(data) > MAX_SECRET_BYTES or not secret or not secret.isprintable():
        raise ShipError(f"{path}: expected one line with the terminal's office secret (at most {MAX_SECRET_BYTES} "
                        f"bytes)", retry=False)
    return secret


def reason_of(reply: dict[str, Any]) -> str:
    """The office's error in a reply, `code: message`."""
    error = reply.get("error") or {}
    return f"{error.get('code', 'error')}: {error.get('message', 'no reason given')}"


class OfficeClient:
    """The collector's endpoint, over urllib (the terminal needs no HTTP library of its own).  An https:// URL is
    verified against `ca_file` (`[office] ca_file`; None: the system's CAs); with a CA file, plain http is
    refused: the secret must not travel in the clear to an office that is meant to be behind TLS."""

    def __init__(self, url: str, terminal: str, secret: str, timeout: float, ca_file: str | None = None):
        if not url.startswith(("http://", "https://")):
            raise ShipError(f"office URL {url!r}: expected http:// or https://", retry=False)
        self.context = None
        if url.startswith("https://"):
            try:
                self.context = make_ssl_context(ca_file)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ShipError(f"office CA file {ca_file}: expected PEM CA certificates ({tls_reason(exc)})",
                                retry=False) from None
        elif ca_file:
            raise ShipError(f"office URL {url}: plain http while a CA file is set ({ca_file}); expected https://",
                            retry=False)
        self.url = url
        self.ca_file = ca_file
        self.terminal = terminal
        self.timeout = timeout
        token = base64.b64encode(f"{terminal}:{secret}".encode("utf-8")).decode("ascii")
        self._headers = {"Content-Type": "application/json", "Authorization": f"Basic {token}"}

    def post(self, body: dict[str, Any], url: str | None = None) -> tuple[int, dict[str, Any]]:
        """POST `body` to the events endpoint (or to `url`, another endpoint of the collector)."""
        request = urllib.request.Request(url or self.url, data=json.dumps(body).encode("utf-8"), method="POST",
                                         headers=self._headers)
        return self._send(request, allow=(409,))

    def get(self, url: str, *, allow: tuple[int, ...] = ()) -> tuple[int, dict[str, Any]]:
        return self._send(urllib.request.Request(url, method="GET", headers=self._headers), allow=allow)

    def _send(self, request: urllib.request.Request, *, allow: tuple[int, ...]) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as reply:
                return reply.status, _json(reply.read(MAX_REPLY_BYTES))
        except urllib.error.HTTPError as exc:
            answer = _json(exc.read(MAX_REPLY_BYTES))
            if exc.code in (401, 403):
                raise ShipError(f"the office refused terminal {self.terminal}: {reason_of(answer)}",
                                retry=False, login_refused=True) from None
            if exc.code in allow:
                return exc.code, answer
            raise ShipError(f"the office answered {exc.code}: {reason_of(answer)}", retry=exc.code >= 500) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            cause = getattr(exc, "reason", None) or exc
            where = request.full_url.split("?")[0]
            if isinstance(cause, ssl.SSLCertVerificationError):
                trusted = f"the CA in {self.ca_file}" if self.ca_file else "this machine's CAs ([office] ca_file unset)"
                raise ShipError(f"the office at {where} is not trusted: its certificate does not verify against "
                                f"{trusted} ({tls_reason(cause)})", retry=False) from None
            why = (tls_reason(cause) if isinstance(cause, ssl.SSLError) else str(cause).strip()) or type(cause).__name__
            hint = " (does the office serve https?)" if self.context is None and isinstance(
                cause, (http.client.BadStatusLine, ConnectionResetError)) else ""
            raise ShipError(f"the office at {where} is unreachable: {why.splitlines()[0]}{hint}", retry=True) from None


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ----------------------------------------------------------------------------- a sale made at another till
#: a refund waits at most this long for the office: the cashier is at the till with the customer
REFUNDABLE_TIMEOUT_S = 5.0


def office_endpoint(url: str, name: str) -> str:
    """The collector's endpoint `name` beside the configured `[office] url` (its `/v1/events`)."""
    parts = urllib.parse.urlsplit(url)
    base = parts.path[:-len("/events")] if parts.path.endswith("/events") else parts.path.rstrip("/") + "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"{base}/{name}", "", ""))


@dataclass(frozen=True)
class OfficeSale:
    """The office's answer about a sale of this terminal's merchant: what it still has to refund (minor units;
    0: voided, refunded in full or not final), and what a refund's receipt names of it — the masked card, its
    voucher (trace) and the terminal that made it (None when the office's events do not say)."""

    refundable: int
    card: str | None = None
    trace: int | None = None
    terminal: str | None = None


#: what the office may say of the sale's card, trace and terminal (anything else is not taken)
_MASKED_CARD = re.compile(r"[0-9]{6}\*{3,9}[0-9]{4}")
_TERMINAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


def refundable(url: str, terminal_id: str, secret: str, rrn: str, date: str, *,
               timeout: float = REFUNDABLE_TIMEOUT_S, ca_file: str | None = None) -> OfficeSale | None:
    """What the sale with this RRN, made on `date` (MMDD) at any till of this terminal's merchant, still has to
    refund, with its masked card, voucher and till, or None when the office knows no such sale.
    The office unreachable, the login refused or an answer it cannot give is a `ShipError` of one line."""
    office = OfficeClient(url, terminal_id, secret, timeout, ca_file)
    query = urllib.parse.urlencode({"rrn": rrn, "date": date})
    status, answer = office.get(f"{office_endpoint(url, 'refundable')}?{query}", allow=(404,))
    if status == 404:
        return None
    value = answer.get("refundable")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ShipError(f"the office answered without a refundable amount: {reason_of(answer)}", retry=True)
    found = answer.get("sale")
    sale: dict[str, Any] = found if isinstance(found, dict) else {}
    card, trace, terminal = sale.get("card"), sale.get("trace"), sale.get("terminal")
    return OfficeSale(value,
                      card if isinstance(card, str) and _MASKED_CARD.fullmatch(card) else None,
                      trace if isinstance(trace, int) and not isinstance(trace, bool) and 0 < trace < 1_000_000
                      else None,
                      terminal if isinstance(terminal, str) and _TERMINAL_ID.fullmatch(terminal) else None)
