"""The load generator behind `bench.host`: a fleet of terminals on their own TCP connections, spread over
driver processes, built so that the driver costs as little CPU per message as possible.

Each terminal connects and signs on, then builds every sale frame it will send (MAC'd under its new
working key) — all before the timed window.  In the window a terminal only writes its next prepared
frame when the answer to the last one has arrived (a plain `asyncio.Protocol`: no stream objects, no
decoding), noting the latency and keeping the answer's bytes.  After the window every answer is
decoded and checked: MTI 0210, response code 00, the request's trace number, and the answer's MAC
under the terminal's key.  So what the window measures is the host, plus the cost of moving bytes.

Each driver reports its own CPU time over the window; `drive()` adds the host process's CPU, the whole
machine's (from /proc/stat) and says which of them limited the figure.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import statistics
import time
from dataclasses import dataclass, field

from bench.proccpu import machine_busy, process_cpu

AMOUNT = 100  # minor units per sale
SETUP_TIMEOUT = 120.0  # seconds for every driver to connect, sign on and build its frames
#: a bound on the timed window (the load stops by itself even if the host stops answering)
RUN_TIMEOUT = 600.0


def tid_of(index: int) -> str:
    return f"9{index:07d}"


class Link(asyncio.Protocol):
    """One terminal's connection: splits what arrives into frames (2-byte length + body) for `on_frame`."""

    def __init__(self, on_lost: asyncio.Future):
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.on_frame = lambda body: None
        self.lost = on_lost

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 2:
            end = 2 + int.from_bytes(buffer[:2], "big")
            if len(buffer) < end:
                return
            body = bytes(buffer[2:end])
            del buffer[:end]
            self.on_frame(body)

    def connection_lost(self, exc) -> None:
        if not self.lost.done():
            self.lost.set_result(exc or ConnectionResetError("the host closed the connection"))


@dataclass
class Terminal:
    index: int
    link: Link | None = None
    keys: object = None
    frames: list[bytes] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    error: str | None = None

    @property
    def tid(self) -> str:
        return tid_of(self.index)


async def prepare(port: int, terminal: Terminal, sales: int, first_stan: int) -> None:
    """Connect, sign on, and build every sale frame (MAC'd) this terminal will send."""
    from agent import config
    from agent.keys.store import SoftwareKeyStore
    from agent.engine.netmgmt import apply_signon_response, build_signon
    from simulator.testcards import load_cards
    from tests.simhost import CUP, DEFAULT_TMK, HEADER, TPDU, sale

    loop = asyncio.get_running_loop()
    try:
        _, link = await loop.create_connection(lambda: Link(loop.create_future()), "127.0.0.1", port)
        answer = loop.create_future()
        link.on_frame = lambda body: answer.done() or answer.set_result(body)
        request = build_signon(config.from_mapping({"terminal": {"terminal_id": terminal.tid}}), 1)
        link.transport.write(CUP.pack_frame(request, TPDU, HEADER))
        done, _ = await asyncio.wait([answer, link.lost], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if answer not in done:
            raise ConnectionError(f"no sign-on answer ({link.lost.result() if link.lost.done() else 'timeout'})")
        keys = SoftwareKeyStore(DEFAULT_TMK)
        batch = apply_signon_response(request, CUP.unpack_frame(answer.result()).message, keys).batch_number
    except Exception as exc:  # one terminal's failure is counted, the fleet goes on
        terminal.error = f"{terminal.tid}: sign-on: {exc}"
        return
    card = load_cards()["credit"]
    terminal.link, terminal.keys = link, keys
    terminal.frames = [CUP.pack_frame(keys.sign(CUP, sale(card, AMOUNT, first_stan + n, tid=terminal.tid, batch=batch)),
                                      TPDU, HEADER) for n in range(sales)]


async def run(terminal: Terminal, latencies: list[float], progress, slot: int) -> None:
    """The timed part: each answer's arrival sends the next prepared frame."""
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    frames, answers, link = terminal.frames, terminal.answers, terminal.link
    clock = time.perf_counter
    sent_at = [0.0]

    def answered(body: bytes) -> None:
        now = clock()
        latencies.append(now - sent_at[0])
        answers.append(body)
        progress[slot] += 1
        if len(answers) < len(frames):
            sent_at[0] = now
            link.transport.write(frames[len(answers)])
        elif not finished.done():
            finished.set_result(None)

    link.on_frame = answered
    sent_at[0] = clock()
    link.transport.write(frames[0])
    done, _ = await asyncio.wait([finished, link.lost], timeout=RUN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if finished not in done:
        reason = link.lost.result() if link.lost.done() else f"no answer within {RUN_TIMEOUT:g}s"
        terminal.error = f"{terminal.tid}: after {len(answers)} of {len(frames)} answers: {reason}"


def check(terminal: Terminal, first_stan: int, sales: int) -> tuple[int, list[str]]:
    """Every answer decoded and checked: 0210, 00, its request's trace number, a good MAC.  Returns the
    number of sales without a good answer (unanswered ones included) and a line per problem."""
    from tests.simhost import CUP

    errors = [terminal.error] if terminal.error else []
    bad = sales - len(terminal.answers)
    for n, body in enumerate(terminal.answers):
        stan = f"{first_stan + n:06d}"
        try:
            answer = CUP.unpack_frame(body).message
        except Exception as exc:
            errors.append(f"{terminal.tid} stan {stan}: undecodable answer: {exc}")
            bad += 1
            continue
        if answer.mti != "0210" or answer.get(11) != stan or answer.get(39) != "00":
            errors.append(f"{terminal.tid} stan {stan}: answer {answer.mti} stan {answer.get(11)} "
                          f"code {answer.get(39)}")
            bad += 1
        elif not terminal.keys.verify_mac(CUP, answer):
            errors.append(f"{terminal.tid} stan {stan}: bad MAC on the answer")
            bad += 1
    return bad, errors


def _driver(port: int, indexes: list[int], sales: int, slot: int, progress, go, out) -> None:
    """One driver process: its share of the terminals, all on one event loop."""
    first_stan = 2  # the sign-on used trace 1
    terminals = [Terminal(i) for i in indexes]
    latencies: list[float] = []

    async def setup():
        await asyncio.gather(*(prepare(port, t, sales, first_stan) for t in terminals))

    async def window():
        await asyncio.gather(*(run(t, latencies, progress, slot) for t in terminals if t.link is not None))

    async def close():
        for t in terminals:
            if t.link is not None and t.link.transport is not None:
                t.link.transport.close()
        await asyncio.sleep(0)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(setup())
        out.put(("ready", slot))
        go.wait(SETUP_TIMEOUT + RUN_TIMEOUT)
        cpu0 = time.process_time()
        loop.run_until_complete(window())
        out.put(("done", slot, time.time(), time.process_time() - cpu0))
        loop.run_until_complete(close())
    finally:
        loop.close()
    checked = [check(t, first_stan, sales) for t in terminals]
    out.put(("result", slot, latencies, sum(c[0] for c in checked), [e for c in checked for e in c[1]]))


@dataclass
class Window:
    """What the host, the drivers and the machine spent over the timed window."""

    seconds: float
    host_cpu: float
    drivers_cpu: list[float]
    machine_busy: float

    def shares(self) -> dict:
        others = max(0.0, self.machine_busy - self.host_cpu - sum(self.drivers_cpu))
        return {"host_cpu_share": round(self.host_cpu / self.seconds, 2),
                "drivers_cpu_share": round(sum(self.drivers_cpu) / self.seconds, 2),
                "busiest_driver_cpu_share": round(max(self.drivers_cpu, default=0.0) / self.seconds, 2),
                "others_cpu_share": round(others / self.seconds, 2),
                "machine_busy_share": round(self.machine_busy / self.seconds, 2)}


def limited_by(shares: dict, cpus: int) -> str:
    """Which part held the figure down, from the CPU shares over the window."""
    if shares["host_cpu_share"] >= 0.85:
        return "host CPU (its one core is full)"
    if shares["busiest_driver_cpu_share"] >= 0.85:
        return "a driver process's CPU (use more --drivers)"
    if shares["machine_busy_share"] >= 0.85 * cpus:
        return (f"the machine's {cpus} cores are full (host {shares['host_cpu_share']:.0%}, drivers "
                f"{shares['drivers_cpu_share']:.0%}, other work {shares['others_cpu_share']:.0%})")
    return "neither CPU: waiting (commits, scheduling)"


def drive(host, terminals: int, sales: int, drivers: int, on_progress=None) -> dict:
    """Drive `terminals` × `sales` sales against a running host; the window's figures as a dict."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    progress = ctx.Array("q", drivers, lock=False)
    shares = [list(range(d, terminals, drivers)) for d in range(drivers)]
    procs = [ctx.Process(target=_driver, args=(host.port, share, sales, d, progress, go, out), daemon=True)
             for d, share in enumerate(shares)]
    for p in procs:
        p.start()
    early: dict[str, list[tuple]] = {}
    try:
        _collect(out, procs, "ready", SETUP_TIMEOUT, early=early)
        host_cpu0, busy0 = process_cpu(host.proc.pid), machine_busy()
        started = time.time()
        go.set()
        done = _collect(out, procs, "done", RUN_TIMEOUT + 30, lambda: on_progress and on_progress(sum(progress)),
                        early=early)
        host_cpu, busy = process_cpu(host.proc.pid) - host_cpu0, machine_busy() - busy0
        results = _collect(out, procs, "result", 300, early=early)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    window = Window(max(d[2] for d in done) - started, host_cpu, [d[3] for d in done], busy)
    latencies = [x for r in results for x in r[2]]
    bad = sum(r[3] for r in results)
    errors = [x for r in results for x in r[4]]
    messages = len(latencies)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    result = {"terminals": terminals, "sales_per_terminal": sales, "drivers": drivers, "messages": messages,
              "seconds": round(window.seconds, 2), "msgs_per_s": round(messages / window.seconds, 1),
              "sale_p50_ms": round(q[49] * 1000, 2), "sale_p99_ms": round(q[98] * 1000, 2),
              "errors": bad, "first_error": errors[0] if errors else None,
              **window.shares(),
              "host_cpu_per_msg_ms": round(host_cpu / max(messages, 1) * 1000, 3),
              "driver_cpu_per_msg_ms": round(sum(window.drivers_cpu) / max(messages, 1) * 1000, 3)}
    result["limited_by"] = limited_by(result, os.cpu_count() or 1)
    return result


def _collect(out, procs, kind: str, timeout: float, tick=None, *, early: dict | None = None) -> list[tuple]:
    """One `kind` report from every driver (a driver that died or a timeout is an error); reports of
    a later kind that arrive meanwhile are kept in `early`."""
    early = {} if early is None else early
    got: list[tuple] = early.pop(kind, [])
    deadline = time.monotonic() + timeout
    while len(got) < len(procs):
        if tick is not None:
            tick()
        try:
            item = out.get(timeout=0.01)
        except queue.Empty:
            if time.monotonic() > deadline:
                raise RuntimeError(f"bench.host: the drivers did not report {kind!r} within {timeout:g}s") from None
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"bench.host: a driver process died (exit {dead[0].exitcode})") from None
            continue
        if item[0] == kind:
            got.append(item)
        else:
            early.setdefault(item[0], []).append(item)
    return got
