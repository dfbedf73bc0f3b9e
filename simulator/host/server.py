"""The acquirer simulator's asyncio TCP (optionally TLS) server: framing, faults, and the control channel.

It reads 2-byte-length frames, hands each decoded request to the sans-IO `HostProcessor` through the
group commit (the requests that arrive together share one durable ledger commit), and writes the
answer once its group is committed — unless the `FaultPlan` says otherwise.  A second loopback port speaks JSON lines for
run-time control (`posim host fault ...`): add/clear/list faults and read counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Coroutine

from agent.iso8583 import CodecError, Frame, Message
from simulator.host import statement_faults, wire
from simulator.host.faults import FaultPlan, FaultRule, FaultSpecError, parse_rule
from simulator.host.groupcommit import GroupCommit, LedgerUnavailable
from simulator.host.processing import HostProcessor

log = logging.getLogger("posim.host")

MAX_CONTROL_LINE = 4096


@dataclass
class HostStats:
    connections: int = 0
    requests: int = 0
    answers: int = 0
    bad_frames: int = 0
    faults: dict[str, int] = field(default_factory=dict)


def swap_tpdu(tpdu: bytes) -> bytes:
    """The answer's TPDU: same id, destination and source addresses swapped."""
    if len(tpdu) != 5:
        return tpdu
    return tpdu[:1] + tpdu[3:5] + tpdu[1:3]


class HostServer:
    def __init__(self, processor: HostProcessor, plan: FaultPlan | None = None, *, bind: str = "127.0.0.1",
                 port: int = 0, control_port: int | None = 0, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], datetime] = datetime.now, garbage_seed: int = 0):
        self.processor = processor
        self.dialect = processor.dialect
        self.plan = plan or FaultPlan()
        self.bind = bind
        self.port = port
        self.control_port = control_port
        self.ssl_context = ssl_context
        self.clock = clock
        self.stats = HostStats()
        self.group = GroupCommit(processor.ledger, on_failure=processor.forget_cached_keys)
        self._garbage = random.Random(garbage_seed)
        self._server: asyncio.base_events.Server | None = None
        self._control: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._relisten: asyncio.TimerHandle | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await self._listen()
        if self.control_port is not None:
            self._control = await asyncio.start_server(self._serve_control, self.bind, self.control_port)
            self.control_port = self._control.sockets[0].getsockname()[1]
        self._apply_refuse()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.bind, self.port, ssl=self.ssl_context,
                                                  reuse_address=True, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def close(self) -> None:
        if self._relisten:
            self._relisten.cancel()
        for server in (self._server, self._control):
            if server is not None:
                server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        self._server = self._control = None

    # -- refuse: stop listening so connects get ECONNREFUSED ----------------------------------------
    def _apply_refuse(self) -> None:
        rule = self.plan.refusing()
        if rule is not None and self._server is not None:
            self._server.close()
            self._server = None
            log.info("fault %s: not accepting connections for %gs", rule.kind, rule.seconds)
            if rule.kind == "outage":  # the line is cut: the connections already open go too, before the
                for writer in list(self._writers):  # control answer (a close alone waits for the next loop turn)
                    sock = writer.get_extra_info("socket")
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                    writer.close()
            self._relisten = asyncio.get_running_loop().call_later(rule.seconds, self._end_refuse)
        elif rule is None and self._server is None:
            self._spawn(self._listen())

    def _end_refuse(self) -> None:
        self.plan.clear("refuse")
        self.plan.clear("outage")
        self._apply_refuse()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- terminals -----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        self._writers.add(writer)
        try:
            while True:
                prefix = await reader.readexactly(2)
                try:
                    length = self.dialect.frame_length(prefix)
                    body = await reader.readexactly(length)
                    frame = self.dialect.unpack_frame(body)
                except CodecError as exc:
                    self.stats.bad_frames += 1
                    log.warning("bad frame from a terminal (%s): closing the connection", exc)
                    return
                if not await self._answer(frame, writer, body[len(frame.tpdu) + len(frame.header):]):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, frame: Frame, writer: asyncio.StreamWriter, encoded: bytes) -> bool:
        """Process one request and answer it as the fault plan says; False closes the connection."""
        request = frame.message
        self.stats.requests += 1
        fault = self.plan.pick(request.mti)
        if fault is not None:
            self.stats.faults[fault.kind] = self.stats.faults.get(fault.kind, 0) + 1
            log.info("fault %s on %s stan %s", fault.kind, request.mti, request.get(11))
            if fault.kind == "drop_before":
                return False
        now = self.clock()
        wallet_fault = {"paying_forever": "never", "paid_late": "late"}.get(fault.kind) if fault else None

        def handle() -> Message | None:  # runs inside the commit group: the wallet fault is this request's only
            self.processor.wallet.force_confirm = wallet_fault
            try:
                if fault is not None and fault.kind == "decline" and self.processor.decline_applies(request, now):
                    return self.processor.decline(request, now)
                if fault is not None and fault.kind == "advices_refused":  # picked for an advice only
                    return self.processor.not_processed(request, now)
                return self.processor.handle(request, now, encoded=encoded)
            finally:
                self.processor.wallet.force_confirm = None

        try:
            response = await self.group.run(handle)
        except LedgerUnavailable:
            return False  # nothing recorded: the terminal sees no answer, as after a lost request
        except Exception:
            log.exception("request %s stan %s failed: closing the connection", request.mti, request.get(11))
            return False
        if response is None:
            return True
        kind = fault.kind if fault is not None else None
        if kind == "drop_response":
            return True
        if kind == "drop_after":
            return False
        if kind == "garbage":
            writer.write(len(garbage := self._garbage.randbytes(40)).to_bytes(2, "big") + garbage)
            await writer.drain()
            return True
        response = self._mutate(response, kind)
        data = wire.frame(self.dialect, response, swap_tpdu(frame.tpdu), frame.header)
        if kind == "delay" and fault is not None:
            self._spawn(self._send_later(writer, data, fault.seconds))
            return True
        writer.write(data + data if kind == "duplicate" else data)
        await writer.drain()
        self.stats.answers += 1
        return True

    def _mutate(self, response: Message, kind: str | None) -> Message:
        if kind == "corrupt_mac":
            number = self.dialect.mac_field(response)
            old = response.get(number)
            return response.replace({number: bytes(b ^ 0x55 for b in (old if isinstance(old, bytes) else bytes(8)))})
        if kind == "wrong_stan" and 11 in response:
            return self._remac(response.replace({11: f"{(int(response[11]) + 1) % 1_000_000:06d}"}))
        if kind == "wrong_amount" and 4 in response:
            return self._remac(response.replace({4: f"{(int(response[4]) + 1) % 10**12:012d}"}))
        return response

    def _remac(self, response: Message) -> Message:
        tid = str(response.get(41) or "").strip()
        keys = self.processor.working_keys(tid)
        if keys is None or self.dialect.mac_field(response) not in response:
            return response
        return self.dialect.with_mac(keys.mac, response)

    async def _send_later(self, writer: asyncio.StreamWriter, data: bytes, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not writer.is_closing():
            writer.write(data)
            self.stats.answers += 1
            try:
                await writer.drain()
            except ConnectionError:
                pass

    # -- control channel -----------------------------------------------------------------------
    async def _serve_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if len(line) > MAX_CONTROL_LINE:
                    reply = {"ok": False, "error": "control line too long"}
                else:
                    reply = self.control(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            return
        finally:
            writer.close()

    def control(self, line: bytes) -> dict[str, Any]:
        """One control request (JSON object with "op") → its JSON reply."""
        try:
            request = json.loads(line)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "error": 'expected a JSON object with "op"'}
        try:
            statement_reply = statement_faults.control(self.processor.ledger.path, request)
            if statement_reply is not None:
                return statement_reply
            if op == "add":
                rule = parse_rule(str(request.get("rule", "")))
                self.plan.add(rule)
                self._apply_refuse()
                return {"ok": True, "rule": rule.to_text()}
            if op == "clear":
                removed = self.plan.clear(request.get("kind"))
                if self.processor.ledger.path != ":memory:":
                    removed += statement_faults.StatementFaultStore(self.processor.ledger.path).clear(request.get("kind"))
                self._apply_refuse()
                return {"ok": True, "removed": removed}
            if op == "list":
                return {"ok": True, "faults": self.plan.remaining() + statement_faults.listing(self.processor.ledger.path)}
            if op == "params":  # chip parameters and CA keys served to terminals (simulator/host/params.py)
                return self.processor.params.control(request)
            if op == "stats":
                s = self.stats
                return {"ok": True, "connections": s.connections, "requests": s.requests, "answers": s.answers,
                        "bad_frames": s.bad_frames, "faults": s.faults, "listening": self.listening,
                        "group_commit": self.group.stats.as_dict()}
        except FaultSpecError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown op {op!r} (known: add, clear, list, params, stats)"}


def add_initial_faults(plan: FaultPlan, specs: list[str]) -> list[FaultRule]:
    rules = [parse_rule(spec) for spec in specs]
    for rule in rules:
        plan.add(rule)
    return rules
