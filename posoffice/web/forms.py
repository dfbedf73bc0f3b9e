"""What a person types into the pages, checked: the transaction search and the statement upload.  Each mistake is
one line naming the field and what was expected (in the page's language, `texts`)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Mapping

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from agent.errors import PosagentError
from agent.money import parse_amount
from agent.reconcile.formats import ENCODINGS, FORMATS
from posoffice.lookups import Search
from posoffice.wire import is_identifier

#: the largest statement the Reconcile page takes (a bigger body is refused before it is read)
DEFAULT_UPLOAD_LIMIT = 16 * 1024 * 1024
_RRN = re.compile(r"[A-Za-z0-9]{1,12}")
_DIGITS = re.compile(r"[0-9]{1,6}")
_LAST4 = re.compile(r"[0-9]{4}")
#: a form refused: (HTTP status, text key, the text's values)
Refusal = tuple[int, str, dict[str, object]]


def parse_search(query: Mapping[str, str], zone: tzinfo | None) -> tuple[Search, list[tuple[str, dict[str, str]]]]:
    """The search and the mistakes in it, as (text key, values) pairs."""
    errors: list[tuple[str, dict[str, str]]] = []

    def get(name: str) -> str | None:
        return (query.get(name) or "").strip() or None

    rrn, trace, terminal, amount, last4, day = (get(n) for n in ("rrn", "trace", "terminal", "amount", "last4", "date"))
    if rrn is not None and not _RRN.fullmatch(rrn):
        errors.append(("bad_rrn", {"value": rrn[:20]}))
    if trace is not None and not _DIGITS.fullmatch(trace):
        errors.append(("bad_trace", {"value": trace[:20]}))
    if terminal is not None and not is_identifier(terminal):
        errors.append(("bad_terminal", {"value": terminal[:40]}))
    if last4 is not None and not _LAST4.fullmatch(last4):
        errors.append(("bad_last4", {"value": last4[:20]}))
    minor = None
    if amount is not None:
        try:
            minor = parse_amount(amount, 2)
        except (PosagentError, ValueError):
            errors.append(("bad_amount", {"value": amount[:20]}))
    since = until = None
    if day is not None:
        try:
            first = date.fromisoformat(day)
            since = datetime.combine(first, time(), zone).timestamp() if zone else \
                datetime.combine(first, time()).timestamp()
            until = (datetime.combine(first + timedelta(days=1), time(), zone).timestamp() if zone else
                     datetime.combine(first + timedelta(days=1), time()).timestamp())
        except ValueError:
            errors.append(("bad_date", {"value": day[:20]}))
    search = Search(rrn=rrn, trace=int(trace) if trace and not errors else None, terminal=terminal, amount=minor,
                    last4=last4, since=since, until=until)
    return search, errors


class ReconcileForm:
    """The Reconcile page's form: an uploaded statement or one picked from the statements directory, its format and
    encoding.  `read` returns None when the form was read (then `raw` holds the statement, or `error` says why it was
    refused before it could be parsed: such a run is kept as refused), else (HTTP status, text key, values)."""

    def __init__(self, statements: Path | None, limit: int = DEFAULT_UPLOAD_LIMIT):
        self.statements = statements
        self.limit = limit
        self.fields: dict[str, str] = {}
        self.name = ""
        self.raw: bytes | None = None
        self.error: str | None = None
        self.format: str | None = None
        self.encoding: str | None = None

    async def read(self, request: Request) -> Refusal | None:
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            return 411, "length_required", {}
        # a body up to twice the limit is read (spooled to disk) so its CSRF token can be checked and the refusal
        # kept; beyond that it is refused unread
        if int(declared) > 2 * self.limit + 65_536:
            return 413, "upload_too_large", {"limit": self.limit}
        try:
            form = await request.form(max_files=1, max_fields=10, max_part_size=65_536)
        except MultiPartException as exc:
            return 400, "bad_form", {"why": str(exc)[:200]}
        self.fields = {k: v for k, v in form.items() if isinstance(v, str)}
        fmt, encoding = self.fields.get("format") or None, self.fields.get("encoding") or None
        if fmt is not None and fmt not in FORMATS:
            return 400, "bad_format", {"value": fmt[:40], "known": ", ".join(FORMATS)}
        if encoding is not None and encoding not in ENCODINGS:
            return 400, "bad_encoding", {"value": encoding[:40], "known": ", ".join(ENCODINGS)}
        self.format, self.encoding = fmt, encoding
        upload, picked = form.get("statement"), self.fields.get("pick") or ""
        if isinstance(upload, UploadFile) and upload.filename:
            # the name comes back in a download's Content-Disposition and a link: letters, digits, . _ - only
            self.name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.filename).name)[:100].lstrip(".") or "upload"
            data = await upload.read(self.limit + 1)
            if len(data) > self.limit:
                self.error = (f"statement {self.name}: over {self.limit} bytes; expected a statement file of at "
                              f"most {self.limit} bytes")
            else:
                self.raw = data
        elif picked:
            self.name = Path(picked).name
            return self._read_picked()
        else:
            return 400, "no_statement", {}
        return None

    def _read_picked(self) -> Refusal | None:
        from agent.reconcile.run import StatementRefused, read_named_statement
        if self.statements is None:
            return 400, "no_statements_dir", {}
        try:
            self.raw = read_named_statement(self.statements, self.name, self.limit)
        except StatementRefused as exc:
            self.error = str(exc)
        except PosagentError as exc:
            return 400, "plain", {"message": str(exc)}
        return None
