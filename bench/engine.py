"""End-to-end sale latency, daemon cold start and resident memory.

    .venv/bin/python -m bench.engine [--sales 1000] [--memory-sales 10000]

1. Sale latency: `--sales` sales through the control API → daemon → journal → loopback TCP → the
   simulator host (no host delay); p50 and p99 against the floor measured in the same run: one loopback
   request/response of the same frame size plus the journal's two durable commits (raw sqlite3,
   WAL + synchronous=FULL, same disk), plus the acquirer simulator's own round trip for the same signed
   sale over the host link (the host's work is in every sale).  Target: p50 ≤ 1.3 × (floor + host).
   Daemon CPU per sale (from /proc, whatever else runs): target ≤ 1.0 ms, against the CPU, in the same
   run, of two raw WAL+FULL commits plus the `cup` codec's encode + decode and two MACs.
2. Cold start: from process start to the daemon's "ready" line (median of 5), compiling from source
   and from compiled bytecode (as `bench.footprint` does; the daemon of 1 and 3 compiles from source too).  Target ≤ 250 ms.
3. Resident memory (VmRSS) of the daemon after `--memory-sales` sales, and at "ready", against a bare
   `python -c "import sqlite3, asyncio"` in the same run.  Target ≤ 40 MB.
4. The journal's bytes per transaction after those sales (WAL checkpointed); `bench.footprint` measures a
   day's mix of sales, voids, refunds and settlement.  Target ≤ 1,024.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from agent.control_client import ControlClient
from bench.journal import floor_two_commits
from bench.proccpu import process_cpu
from tests.agentproc import write_config
from tests.simhost import start_host

ROOT = Path(__file__).resolve().parent.parent
FRAME_BYTES = 180  # a cup 0200 sale with track 2 and MAC, framed, is about this size


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def loopback_round_trips(n: int) -> list[float]:
    """Request/response of FRAME_BYTES over loopback TCP to an echo peer in another thread."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def echo():
        conn, _ = server.accept()
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)
    threading.Thread(target=echo, daemon=True).start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"x" * FRAME_BYTES
    out = []
    for _ in range(n):
        start = time.perf_counter()
        client.sendall(payload)
        got = 0
        while got < FRAME_BYTES:
            got += len(client.recv(4096))
        out.append(time.perf_counter() - start)
    client.close()
    server.close()
    return out


def host_round_trips(port: int, n: int) -> list[float]:
    """The same kind of signed sale straight over the host link: what the acquirer itself takes."""
    import asyncio

    from agent.drivers.hostlink import HostLink
    from agent.keys.store import SoftwareKeyStore
    from agent.engine.netmgmt import apply_signon_response, build_signon
    from simulator.testcards import load_cards
    from tests.simhost import CUP, DEFAULT_TMK, HEADER, TPDU, sale, terminal_config

    async def run() -> list[float]:
        link = HostLink("127.0.0.1", port, dialect=CUP, tpdu=TPDU, header=HEADER, connect_timeout=5,
                        response_timeout=5)
        keys = SoftwareKeyStore(DEFAULT_TMK)
        cfg = terminal_config("20000002")
        request = build_signon(cfg, 1)
        apply_signon_response(request, await link.exchange(request), keys)
        card, out = load_cards()["debit"], []
        for i in range(n):
            message = keys.sign(CUP, sale(card, 100 + i, i + 2, tid="20000002"))
            start = time.perf_counter()
            await link.exchange(message)
            out.append(time.perf_counter() - start)
        await link.close()
        return out

    return asyncio.run(run())


def start_daemon(config: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(config), "run"], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("posagent ready"):
        raise SystemExit(f"daemon did not start: {line!r}")
    return proc, time.perf_counter() - started


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def floor_rss_mb() -> float:
    """VmRSS of a bare `python -c "import sqlite3, asyncio"`: what any daemon of this kind starts from."""
    probe = ("import sqlite3, asyncio\n"
             "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS:')][0])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return int(done.stdout) / 1024


def sales(client: ControlClient, n: int, offset: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        # small amounts on two cards: 10,000 sales stay within the test cards' balances
        # as a cash register asks: no receipts in the reply (it can ask for them, or `receipt` later)
        reply = client.call("sale", {"amount": 100 + (offset + i) % 500, "card": ("debit", "credit")[i % 2],
                                     "confirm_duplicate": True, "confirm_unusual": True}, receipts=False)
        out.append(time.perf_counter() - start)
        if not reply.get("ok") or reply["outcome"]["status"] != "approved":
            raise SystemExit(f"sale {i} failed: {reply}")
    return out


def quiet_config(work: Path, host_port: int) -> Path:
    """The daemon's configuration for a measured run of sales: no duplicate window (the same amount over and
    over), WARNING logs, a response timeout no slow machine reaches."""
    config = write_config(work, host_port, response_timeout=10.0, extra="[guards]\nduplicate_window_seconds = 0\n")
    config.write_text(config.read_text().replace('log_level = "DEBUG"', 'log_level = "WARNING"'))
    return config


def floor_cpu_per_sale(work: Path, n: int) -> tuple[float, float]:
    """CPU (ms) of two raw WAL+FULL commits, and of encode + decode of a chip 0200 sale plus two MACs."""
    from agent.iso8583 import get_dialect
    from agent.iso8583.dialect import MAC_ALGORITHMS
    from bench.codec import SALE

    start = time.process_time()
    floor_two_commits(work / "floor.db", n)
    commits = (time.process_time() - start) / n * 1000
    cup, mac, key = get_dialect("cup"), MAC_ALGORITHMS["cup-ecb"], bytes(range(16))
    rounds = n * 20
    start = time.process_time()
    for _ in range(rounds):
        wire = cup.encode(SALE)
        mac(key, wire)
        cup.decode(wire)
        mac(key, wire)
    codec = (time.process_time() - start) / rounds * 1000
    return commits, codec


def main() -> int:
    from bench.footprint import byte_table, bytecode_env, source_env  # it imports this module: loaded when run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1000)
    parser.add_argument("--memory-sales", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="posagent-bench-") as tmp:
        work = Path(tmp)
        host = start_host(work)
        try:
            config = quiet_config(work, host.port)
            source = source_env(work)  # compiling from source, whatever bytecode the checkout holds
            starts = []
            for _ in range(5):
                proc, seconds = start_daemon(config, source)
                starts.append(seconds)
                stop(proc)
            proc, _ = start_daemon(config, source)
            time.sleep(0.3)  # the tail check and recovery have run
            memory_ready = rss_mb(proc.pid)
            client = ControlClient(work / "control.sock")
            sales(client, 20, 0)  # sign-on and warm-up
            daemon_cpu, host_cpu = process_cpu(proc.pid), process_cpu(host.proc.pid)
            latency = sales(client, args.sales, 20)
            daemon_cpu = (process_cpu(proc.pid) - daemon_cpu) / args.sales
            host_cpu = (process_cpu(host.proc.pid) - host_cpu) / args.sales
            floor_net = loopback_round_trips(args.sales)
            floor_db = floor_two_commits(work / "floor.db", args.sales)
            floor = [a + b for a, b in zip(sorted(floor_net), sorted(floor_db))]
            host_only = host_round_trips(host.port, args.sales)
            commits_cpu, codec_cpu = floor_cpu_per_sale(work, args.sales)
            remaining = max(0, args.memory_sales - args.sales - 20)
            sales(client, remaining, 20 + args.sales)
            memory = rss_mb(proc.pid)
            stop(proc)
            memory_floor = floor_rss_mb()
            size, txns, _ = byte_table(work / "journal.db")
            compiled = bytecode_env(work)
            stop(start_daemon(config, compiled)[0])  # the bytecode cache filled once, not in the timed runs
            starts_compiled = []
            for _ in range(5):
                proc, seconds = start_daemon(config, compiled)
                starts_compiled.append(seconds)
                stop(proc)
        finally:
            host.stop()
    p50, p99, floor_p50 = pct(latency, 0.5), pct(latency, 0.99), pct(floor, 0.5)
    cold, cold_compiled = statistics.median(starts), statistics.median(starts_compiled)
    floor_cpu = commits_cpu + codec_cpu
    print(f"sale latency over {args.sales} sales: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"floor (loopback {FRAME_BYTES}-byte round trip {pct(floor_net, 0.5):.3f} ms + two durable commits "
          f"{pct(floor_db, 0.5):.3f} ms): p50 {floor_p50:.2f} ms → ratio {p50 / floor_p50:.2f} (without the host)")
    print(f"the acquirer simulator's own sale round trip p50 {pct(host_only, 0.5):.2f} ms; floor + host "
          f"{floor_p50 + pct(host_only, 0.5):.2f} ms → ratio {p50 / (floor_p50 + pct(host_only, 0.5)):.2f} "
          f"(target ≤ 1.3)")
    print(f"CPU per sale: daemon {daemon_cpu * 1000:.2f} ms (target ≤ 1.0), acquirer simulator "
          f"{host_cpu * 1000:.2f} ms")
    print(f"  floor, same run: two raw WAL+FULL commits {commits_cpu:.3f} ms + cup encode + decode + two MACs "
          f"{codec_cpu:.3f} ms = {floor_cpu:.3f} ms → ratio {daemon_cpu * 1000 / floor_cpu:.2f}×")
    print(f"cold start to ready: median {cold * 1000:.0f} ms of 5; from compiled bytecode "
          f"{cold_compiled * 1000:.0f} ms (target ≤ 250 ms)")
    print(f"daemon RSS after {args.memory_sales} sales: {memory:.1f} MB (target ≤ 40 MB); at \"ready\" "
          f"{memory_ready:.1f} MB; floor, same run: python -c \"import sqlite3, asyncio\" {memory_floor:.1f} MB")
    print(f"journal after these sales (WAL checkpointed): {size:,} bytes / {txns} transactions = "
          f"{size / txns:,.0f} bytes per transaction (target ≤ 1,024; `bench.footprint` measures a day's mix)")
    print(json.dumps({"bench": "engine", "sales": args.sales, "sale_p50_ms": round(p50, 3),
                      "sale_p99_ms": round(p99, 3), "floor_p50_ms": round(floor_p50, 3),
                      "p50_ratio": round(p50 / floor_p50, 2),
                      "host_p50_ms": round(pct(host_only, 0.5), 3),
                      "p50_ratio_with_host": round(p50 / (floor_p50 + pct(host_only, 0.5)), 2),
                      "daemon_cpu_ms_per_sale": round(daemon_cpu * 1000, 3),
                      "floor_cpu_ms_per_sale": round(floor_cpu, 3),
                      "host_cpu_ms_per_sale": round(host_cpu * 1000, 3),
                      "cold_start_ms": round(cold * 1000, 1), "cold_start_compiled_ms": round(cold_compiled * 1000, 1),
                      "rss_mb_after_sales": round(memory, 1), "memory_sales": args.memory_sales,
                      "rss_mb_ready": round(memory_ready, 1), "rss_mb_floor": round(memory_floor, 1),
                      "journal_bytes_per_txn": round(size / txns, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
