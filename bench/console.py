"""The technician console: line-editor throughput, and a command's round trip over a real pty pair.

    .venv/bin/python -m bench.console [--commands 200]

1. The sans-IO line editor and session on typed bytes (no I/O): keystrokes per second, against what
   a 115200-baud line can deliver (11,520 bytes/s at 8N1).
2. `posagent console` on one end of a socat pty pair, a real daemon and `posim host` behind it: the
   time from the Enter of `status` (and of `journal tail 10`) to the whole answer and the next prompt
   arriving on the other end.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from agent import config
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.console.lineeditor import LineEditor
from agent.console.session import Session, SessionSettings
from tests.harness import start_pty_pair, stop_process

BAUD_BYTES_PER_S = 115200 / 10  # 8 data bits + start + stop


class _OpenGate:
    def check(self, password):
        return None

    def locked_for(self):
        return 0.0


def editor_rate(total_bytes: int = 2_000_000) -> float:
    typed = (b"journal search amount 12.34 last4 0048\x7f8\r" * (total_bytes // 40 + 1))[:total_bytes]
    editor = LineEditor()
    start = time.perf_counter()
    for i in range(0, len(typed), 64):
        editor.feed(typed[i:i + 64])
    return len(typed) / (time.perf_counter() - start)


def session_rate(keystrokes: int = 200_000) -> float:
    cfg = config.from_mapping({})
    session = Session(_OpenGate(), CommandTable(ConsoleContext(client=None, cfg=cfg)),
                      SessionSettings(banner="bench", idle_timeout_s=1e9))
    session.start(0.0)
    session.receive(b"\rpw\r", 0.0)
    line = b"config show terminal\r"
    start = time.perf_counter()
    sent = 0
    while sent < keystrokes:
        for byte in line:
            session.receive(bytes([byte]), 0.0)  # one keystroke at a time, as a person types
        sent += len(line)
    return sent / (time.perf_counter() - start)


def round_trips(count: int) -> dict[str, dict[str, float]]:
    from tests.agentproc import start_agent
    from tests.simhost import start_host
    from tests.test_console_serial import TECH_PASSWORD, TECH_HASH, Console, Person

    directory = Path(tempfile.mkdtemp(prefix="posagent-bench-console-"))
    host = start_host(directory)
    pair = start_pty_pair(directory)
    agent = start_agent(directory, host.port, extra=f'[console]\npassword_hash = "{TECH_HASH}"\n')
    line = Person(pair.b)
    console = Console(agent.config, pair.a)
    results: dict[str, dict[str, float]] = {}
    try:
        line.expect("Press Enter to log in.")
        line.type("\r")
        line.expect("Password: ")
        line.type(TECH_PASSWORD + "\r")
        line.expect("> ")
        for n in range(20):
            agent.call("sale", {"amount": 100 + n, "card": "debit"})
        for command in ("status", "journal tail 10"):
            times, sizes = [], []
            for _ in range(count):
                start = time.perf_counter()
                shown = line.command(command)
                times.append(time.perf_counter() - start)
                sizes.append(len(shown.encode()))
            times.sort()
            size = statistics.mean(sizes)
            results[command] = {"p50_ms": times[len(times) // 2] * 1000, "p95_ms": times[int(len(times) * 0.95)] * 1000,
                                "bytes": size, "wire_115200_ms": size / BAUD_BYTES_PER_S * 1000}
    finally:
        console.stop()
        line.close()
        agent.stop()
        host.stop()
        stop_process(pair.proc)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.console")
    parser.add_argument("--commands", type=int, default=200, help="round trips per command (default 200)")
    args = parser.parse_args()
    editor = editor_rate()
    session = session_rate()
    print(f"line editor: {editor / 1e6:.2f} MB/s of typed bytes = {editor / BAUD_BYTES_PER_S:,.0f}x a 115200-baud line")
    print(f"session, one keystroke per call: {session:,.0f} keystrokes/s = {session / BAUD_BYTES_PER_S:,.0f}x the line")
    trips = round_trips(args.commands)
    for command, r in trips.items():
        print(f"`{command}` over the pty pair via the daemon: p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms "
              f"({r['bytes']:.0f} bytes; the same bytes take {r['wire_115200_ms']:.1f} ms on a real 115200-baud wire)")
    print(json.dumps({"bench": "console", "editor_bytes_per_s": round(editor), "session_keystrokes_per_s": round(session),
                      "editor_vs_115200": round(editor / BAUD_BYTES_PER_S, 1),
                      "status_p50_ms": round(trips["status"]["p50_ms"], 3),
                      "status_p95_ms": round(trips["status"]["p95_ms"], 3),
                      "tail10_p50_ms": round(trips["journal tail 10"]["p50_ms"], 3),
                      "tail10_p95_ms": round(trips["journal tail 10"]["p95_ms"], 3),
                      "tail10_wire_115200_ms": round(trips["journal tail 10"]["wire_115200_ms"], 1),
                      "commands": args.commands}))


if __name__ == "__main__":
    main()
