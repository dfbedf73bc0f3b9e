"""The collector: `POST /v1/events` takes a terminal's batch of journal events, `POST /v1/messages` the masked
ISO 8583 messages of the transactions they name (`{"stored": N, "repeated": N}`); `GET /v1/refundable` answers
what a sale of the terminal's merchant still has to refund, whichever till made it; `GET /v1/health`.  The
web pages (`posoffice.web`) are served beside them by the same app unless `serve --api-only`.

A terminal authenticates with HTTP Basic (its id and secret) and may only post events for itself: the
body's "terminal" must be the id it logged in with.  Replies are JSON:

    200 {"acked": 1234, "stored": 500, "repeated": 0}          everything linked (or was already held)
    409 {"acked": 1200, "error": {"code": "fork", "seq": 1201, "message": "..."}}
    400/413 {"error": {"code": ..., "message": ...}}  401/403  503 (the database is unreachable)

`acked` is always the last seq the office holds for the terminal: the shipper moves its cursor to it.
The body is read up to `wire.MAX_BODY_BYTES`, checked against the Content-Length before reading.

`GET /v1/refundable?rrn=RRN&date=MMDD`, with the same login, looks among the charges of the terminal's own
merchant only (`posoffice.refunds`):

    200 {"rrn": ..., "date": "MMDD", "sale": {"terminal": ..., "trace": ..., "amount": ...}, "refunded": N,
         "under_way": N, "refundable": N, "voided": false, "why_none": null, "refunds": [...]}
    404 not_found (no such sale of this merchant, as far as the office's events go)   409 ambiguous   400
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from contextlib import asynccontextmanager
from datetime import tzinfo
from typing import TYPE_CHECKING, AsyncIterator, Callable, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.middleware import Middleware
from starlette.routing import Route

from posoffice import refunds, report, store
from posoffice.db import first_line
from posoffice.errors import OfficeError, WireError
from posoffice.wire import MAX_BODY_BYTES, Batch, MessageBatch, parse_batch, parse_messages

if TYPE_CHECKING:
    from posoffice.web.app import WebSettings

log = logging.getLogger("posoffice.collector")
#: an RRN as field 37 carries it (an12) and a slip's date
_RRN = re.compile(r"[A-Za-z0-9]{1,12}")
_MMDD = re.compile(r"(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])")
#: what a terminal posts (its events or its messages), and what keeping it answers
Posted = TypeVar("Posted", Batch, MessageBatch)
Kept = TypeVar("Kept")


def error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="posoffice"'} if status == 401 else None
    return JSONResponse({**extra, "error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_app(pool: ConnectionPool, *, zone: tzinfo | None = None, web: WebSettings | None = None) -> Starlette:
    """`zone`: the time zone a sale's date is read in (None: this machine's, as the terminals date their slips).
    `web`: the web pages' settings (`posoffice.web.app.WebSettings`); None serves the API alone."""
    credentials = store.Credentials()

    def authenticate(terminal: str, secret: str) -> bool:
        with pool.connection() as conn:
            return credentials.check(conn, terminal, secret)

    def take(terminal: str, batch: Batch) -> store.Ingested:
        with pool.connection() as conn:
            result = store.ingest(conn, terminal, batch)
            store.note_head(conn, terminal, batch.head)
            return result

    async def from_terminal(request: Request, parse: Callable[[bytes], Posted], keep: Callable[[str, Posted], Kept],
                            noun: str, again: str) -> tuple[str, Posted, Kept] | JSONResponse:
        """A terminal's post: its login, the body read by `parse`, posted for itself only, kept by `keep` in a
        worker thread; (login, batch, kept) or the error answer (`noun`, `again`: the operator's words)."""
        login = _basic_auth(request.headers.get("authorization"))
        if login is None:
            return error(401, "unauthenticated", "log in with the terminal's id and secret (HTTP Basic)")
        try:
            if not await run_in_threadpool(authenticate, *login):
                return error(401, "unauthenticated", "unknown terminal or wrong secret")
            batch = parse(await _read_body(request))
            if batch.terminal != login[0]:
                return error(403, "wrong_terminal", f"terminal {login[0]} may only post its own {noun}s, "
                                                    f"not {batch.terminal}'s")
            return login[0], batch, await run_in_threadpool(keep, login[0], batch)
        except WireError as exc:
            return error(exc.status, exc.code, str(exc))
        except ClientDisconnect:
            return error(400, "bad_request", "the terminal went away before the body arrived")
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.error("office database unavailable: %s", first_line(exc))
            return error(503, "unavailable", f"the office database is unavailable; send {again} again later")
        except psycopg.DataError as exc:
            return error(422, "unstorable", f"{'an' if noun[0] in 'aeiou' else 'a'} {noun} cannot be stored: "
                                            f"{first_line(exc)}")
        except OfficeError as exc:
            return error(500, "office_error", str(exc))

    async def post_events(request: Request) -> JSONResponse:
        taken = await from_terminal(request, parse_batch, take, "event", "the batch")
        if isinstance(taken, JSONResponse):
            return taken
        terminal, _, result = taken
        if result.problem is not None:
            p = result.problem
            log.warning("terminal %s: %s at event %d: %s", terminal, p.what, p.seq, p.detail)
            return JSONResponse({"acked": result.acked, "stored": result.stored, "repeated": result.repeated,
                                 "error": {"code": p.what, "seq": p.seq, "message": p.detail}}, status_code=409)
        return JSONResponse({"acked": result.acked, "stored": result.stored, "repeated": result.repeated})

    def keep_messages(terminal: str, batch: MessageBatch) -> int:
        with pool.connection() as conn:
            return store.take_messages(conn, terminal, batch)

    async def post_messages(request: Request) -> JSONResponse:
        taken = await from_terminal(request, parse_messages, keep_messages, "message", "the messages")
        if isinstance(taken, JSONResponse):
            return taken
        _, batch, stored = taken
        return JSONResponse({"stored": stored, "repeated": len(batch.messages) - stored})

    def look_up(terminal: str, rrn: str, date: str) -> JSONResponse:
        with pool.connection() as conn:
            merchant = store.merchant_of(conn, terminal)
            txns = report.transactions_of_rows(store.sale_rows(conn, merchant, rrn)) if merchant else []
        sales = refunds.find_sales(txns, rrn, date, zone)
        if not sales:
            return error(404, "not_found", f"no charge with RRN {rrn} on {date} at any terminal of merchant {merchant} "
                                           "(as far as the office's events go)")
        if len(sales) > 1:
            where = ", ".join(f"terminal {t.terminal} trace {t.trace:06d}" for t in sales)
            return error(409, "ambiguous", f"RRN {rrn} on {date} names {len(sales)} charges: {where}")
        return JSONResponse(refunds.refundable_of(sales[0], txns, zone).as_dict())

    async def get_refundable(request: Request) -> JSONResponse:
        login = _basic_auth(request.headers.get("authorization"))
        if login is None:
            return error(401, "unauthenticated", "log in with the terminal's id and secret (HTTP Basic)")
        rrn, date = request.query_params.get("rrn", ""), request.query_params.get("date", "")
        try:
            if not await run_in_threadpool(authenticate, *login):
                return error(401, "unauthenticated", "unknown terminal or wrong secret")
            if not _RRN.fullmatch(rrn):
                return error(400, "bad_request", f"rrn {rrn[:20]!r}: expected the sale's reference number "
                                                 "(1-12 letters or digits)")
            if not _MMDD.fullmatch(date):
                return error(400, "bad_request", f"date {date[:20]!r}: expected the sale's date as MMDD")
            return await run_in_threadpool(look_up, login[0], rrn, date)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.error("office database unavailable: %s", first_line(exc))
            return error(503, "unavailable", "the office database is unavailable; ask again later")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pool.close()

    api = [Route("/v1/events", post_events, methods=["POST"]), Route("/v1/messages", post_messages, methods=["POST"]),
           Route("/v1/refundable", get_refundable, methods=["GET"]),
           Route("/v1/health", health, methods=["GET"])]
    if web is None:
        return Starlette(routes=api, lifespan=lifespan)
    from posoffice.web.app import routes
    from posoffice.web.security import SecurityHeaders
    return Starlette(routes=api + routes(pool, web), lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        terminal, sep, secret = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (terminal, secret) if sep else None


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise WireError(f"the request body is over {MAX_BODY_BYTES} bytes", status=413, code="too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise WireError(f"the request body is over {MAX_BODY_BYTES} bytes", status=413, code="too_large")
        chunks.append(chunk)
    return b"".join(chunks)
