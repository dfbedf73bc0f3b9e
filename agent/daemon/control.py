"""The local control API: JSON lines over a Unix socket (0600 by default).

Request:  {"id": 1, "op": "sale", "args": {"amount": 10000, "card": "debit"}, "password": null, "receipts": true}
          ("receipts": true asks for the receipts of every step in the outcome; without it none are rendered,
          and `receipt` renders any of them later from the journal; "source": "console" from the serial
          console, believed from the daemon's own user only: a wrong password counts against that source)
          A request still waiting for the operation before it when its client closes the connection is
          dropped and journaled (`request_abandoned`), never run for nobody.
Replies:  zero or more {"id": 1, "notify": "Connecting…"} then one
          {"id": 1, "ok": true, "outcome": {...}}  or  {"id": 1, "ok": false, "error": {"code", "message"}}

The CLI, the cashier UI and any cash-register integration use this; none of them holds business rules.
Their side of the socket is `agent.control_client`, which imports nothing of the daemon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from agent.auth import AuthError
from agent.daemon import apispec, gates
from agent.engine.effects import EngineError, Outcome
from agent.errors import PosagentError
from agent.journal import Txn
from agent.progress import progress_fields

if TYPE_CHECKING:  # the daemon's module starts this one's server
    from agent.daemon.service import Daemon

#: a request or a reply: a JSON object
Json = dict[str, Any]

log = logging.getLogger("posagent.control")

MAX_REQUEST_BYTES = 64 * 1024
#: connections served at once (each is a file handle); more are answered "busy" and closed
MAX_CONNECTIONS = 64
#: a connection that sends no request for this long is closed
IDLE_TIMEOUT_S = 120.0
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder for every reply


def txn_json(txn: Txn | None) -> Json | None:
    return txn.as_dict() if txn is not None else None


def outcome_json(daemon: Daemon, outcome: Outcome, *, receipts: bool = True) -> Json:
    """The reply's outcome; receipts only when asked for (they are rendered from journal facts only,
    so `receipt` renders any of them later, identically but for the REPRINT mark)."""
    txn = txn_json(outcome.txn)
    steps = [txn if step is outcome.txn else txn_json(step) for step in outcome.steps]
    reply: Json = {"operation": outcome.operation, "status": outcome.status, "ok": outcome.ok,
                   "message": outcome.message, "txn": txn, "steps": steps, "details": _plain(outcome.details) if outcome.details else {}}
    if receipts:
        reply["receipts"] = [{"txn_id": step.id, "trace": step.trace, **daemon.receipts(step)}
                             for step in outcome.steps]
    if outcome.operation == "settle" and outcome.status == "done":
        reply["report"] = daemon.settlement_report(outcome.details)
    return reply


def _plain(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def password_source(request: Mapping[str, Any], own_user: bool) -> str:
    """Where the password was typed: the serial console says so ("source": "console"), and is believed
    only from a process of the daemon's own user (which can read the console's files anyway); anyone
    else is the control socket."""
    return "console" if own_user and request.get("source") == "console" else "control"


async def handle_request(daemon: Daemon, request: Mapping[str, Any], send: Callable[[Json], None],
                         caller_gone: Callable[[], bool] | None = None, *, own_user: bool = False) -> Json:
    rid = request.get("id")
    if not (rid is None or isinstance(rid, str) and len(rid) <= 64 or isinstance(rid, int)
            and not isinstance(rid, bool) and abs(rid) < 2 ** 53):
        rid = None  # echoed back as is: only a short text or a number
    op = request.get("op")
    password = request.get("password")
    operator = request.get("operator")
    try:
        if password is not None and (not isinstance(password, str) or len(password) > 256):
            raise EngineError("password must be text of at most 256 characters", code="usage")
        if operator is not None and (not isinstance(operator, str) or not 0 < len(operator) <= 40
                                     or not operator.isprintable()):
            raise EngineError("operator must be a printable name of 1 to 40 characters", code="usage")
        row = apispec.operation(op)
        args = apispec.validate(row.name, request.get("args"))
        role = gates.authorize(daemon, row.name, args, password, source=password_source(request, own_user))
        if row.kind == "query":
            return {"id": rid, "ok": True, "result": await row.function()(daemon, args, role)}
        outcome = await daemon.perform(row.name, args, password=password, operator=operator, authorized=role,
                                       caller_gone=caller_gone, notify=lambda text: send({"id": rid, "notify": text,
                                                                          **progress_fields(text)}))
        reply = outcome_json(daemon, outcome, receipts=request.get("receipts") is True)
        return {"id": rid, "ok": True, "outcome": reply}
    except AuthError as exc:
        return {"id": rid, "ok": False, "error": {"code": "auth", "message": str(exc)}}
    except EngineError as exc:
        return {"id": rid, "ok": False, "error": {"code": exc.code, "message": str(exc), "txn_id": exc.txn_id}}
    except PosagentError as exc:
        return {"id": rid, "ok": False, "error": {"code": type(exc).__name__, "message": str(exc)}}
    except (KeyError, ValueError, TypeError) as exc:
        return {"id": rid, "ok": False, "error": {"code": "usage", "message": f"bad arguments for {op}: {exc}"}}
    except Exception as exc:  # noqa: BLE001 — one bad request must not stop the daemon
        log.exception("internal error in %s", op)
        return {"id": rid, "ok": False, "error": {"code": "internal", "message": f"internal error: {type(exc).__name__}"}}


def peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The user id of the process at the other end of a Unix socket (None when it cannot be known)."""
    sock = writer.get_extra_info("socket")
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                               struct.calcsize("3i")))
    except (OSError, AttributeError):
        return None
    return int(uid)


class ControlSocketError(PosagentError):
    exit_status = 2


def clear_stale_socket(path: Path) -> None:
    """Remove a dead daemon's socket (we hold the journal lock); refuse to remove anything else."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "a directory" if stat.S_ISDIR(
            info.st_mode) else "a file that is not a socket"
        raise ControlSocketError(f"{path}: the control socket path is {kind}; refusing to replace it "
                                 f"(remove it or set [daemon] control_socket)")
    path.unlink()


async def serve(daemon: Daemon, path: Path, mode: int, *, max_connections: int = MAX_CONNECTIONS,
                idle_timeout: float = IDLE_TIMEOUT_S) -> asyncio.base_events.Server:
    clear_stale_socket(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    open_connections = 0
    refused = {"count": 0, "logged_at": 0.0}

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections

        def send(obj: Json) -> None:
            writer.write(_encode(obj).encode() + b"\n")

        def caller_gone() -> bool:
            """The client closed its end (or reset it): nobody waits for the answer any more."""
            return reader.at_eof() or reader.exception() is not None or writer.transport.is_closing()

        if open_connections >= max_connections:
            refused["count"] += 1
            now = asyncio.get_running_loop().time()
            if now - refused["logged_at"] >= 10.0:  # one line per interval, with the count
                log.warning("control socket: %d connection(s) refused, %d already open (the limit)",
                            refused["count"], max_connections)
                refused["count"], refused["logged_at"] = 0, now
            send({"ok": False, "error": {"code": "busy", "message": f"the daemon already serves {max_connections} "
                                                                     f"control connections; try again"}})
            writer.close()
            return
        open_connections += 1
        own_user = peer_uid(writer) == os.geteuid()
        try:
            while True:
                try:
                    async with asyncio.timeout(idle_timeout):  # no task per line, unlike wait_for
                        line = await reader.readuntil(b"\n")
                except TimeoutError:
                    break  # idle: the handle goes back
                except asyncio.LimitOverrunError:
                    send({"ok": False, "error": {"code": "usage", "message": "request too long"}})
                    break
                except asyncio.IncompleteReadError:
                    break
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
                except (ValueError, RecursionError) as exc:
                    send({"ok": False, "error": {"code": "usage", "message": f"not a JSON object: {exc}"}})
                    await writer.drain()
                    continue
                send(await handle_request(daemon, request, send, caller_gone, own_user=own_user))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            open_connections -= 1
            writer.close()

    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_REQUEST_BYTES)
    finally:
        os.umask(old_umask)
    os.chmod(path, mode)
    return server

