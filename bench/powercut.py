"""One power-cut cycle of the chaos campaign, phase by phase, with the daemon restarted two ways.

    .venv/bin/python -m bench.powercut [--cycles 30]

A cycle: a sale through the control API, SIGKILL of the daemon, the power cut (every byte not fsynced
dropped, the filesystem mounted again), the daemon started again until "ready", then its first answer
(which waits for start-up recovery).  The daemon is started alternately as `python -m agent run` (the
reference: the interpreter's start-up and every import each time) and through the fork server (a new
process all the same, forked from one that imported the modules and opened nothing); the journal, the
host and the disk are the same.  Prints each phase's median per way, the cycle's median and the ratio
(reference / fork server).  Needs /dev/fuse and fuse3.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from simulator.powercut.mount import PowercutMount, unavailable
from simulator.stack import Daemon, Host, daemon_fork_server, write_soak_cards

PHASES = ("sale", "kill", "cut", "start", "first_answer")


def cycle(daemon: Daemon, disk: PowercutMount, amount: int) -> dict[str, float]:
    times, mark = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        times[name], mark = now - mark, now

    reply = daemon.call("sale", {"amount": amount, "card": "debit", "confirm_duplicate": True,
                                 "confirm_unusual": True})
    if not reply.get("ok"):
        raise SystemExit(f"bench.powercut: the sale failed: {reply.get('error')}")
    lap("sale")
    daemon.kill()
    lap("kill")
    disk.cut()
    lap("cut")
    daemon.start()
    lap("start")
    daemon.call("status")
    lap("first_answer")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=30, help="cycles per way (default 30)")
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        print(f"bench.powercut: cannot run: {reason}", file=sys.stderr)
        raise SystemExit(2)
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, float]]] = {"popen": [], "fork": []}
    with tempfile.TemporaryDirectory(prefix="posagent-bench-powercut-") as tmp:
        base = Path(tmp)
        disk = PowercutMount.start(base / "powercut")
        host = Host.start(base, cards=write_soak_cards(base))
        launcher = daemon_fork_server()
        daemon = Daemon(base, host.port, response_timeout=1.0, reversal_retries=10,
                        journal_path=disk.mountpoint / "journal.db")
        try:
            daemon.start()
            for n in range(2 * args.cycles):
                # the same daemon, journal and disk; only how the restart after this cut is made differs
                way = ("popen", "fork")[n % 2]
                daemon.launcher = launcher if way == "fork" else None
                runs[way].append(cycle(daemon, disk, 100 + n))
        finally:
            daemon.stop()
            launcher.stop()
            host.stop()
            disk.stop()
    med = {way: {phase: statistics.median(r[phase] for r in rows) * 1000 for phase in PHASES}
           for way, rows in runs.items()}
    total = {way: statistics.median(sum(r.values()) for r in rows) * 1000 for way, rows in runs.items()}
    restart = {way: med[way]["kill"] + med[way]["cut"] + med[way]["start"] + med[way]["first_answer"]
               for way in runs}
    print(f"{args.cycles} cycles each way, load average {load_before:.1f} → {os.getloadavg()[0]:.1f}")
    print(f"{'phase (median ms)':<22}{'python -m agent run':>22}{'fork server':>14}")
    for phase in PHASES:
        print(f"{phase:<22}{med['popen'][phase]:>22.1f}{med['fork'][phase]:>14.1f}")
    print(f"{'cut → first answer':<22}{restart['popen']:>22.1f}{restart['fork']:>14.1f}")
    print(f"{'whole cycle':<22}{total['popen']:>22.1f}{total['fork']:>14.1f}")
    ratio = restart["popen"] / restart["fork"] if restart["fork"] else None
    print(f"cut → first answer: the fork server is {ratio:.2f}× faster than a cold start (target: well under 500 ms)")
    print(json.dumps({"bench": "powercut", "cycles": args.cycles,
                      "phases_ms": {way: {k: round(v, 2) for k, v in m.items()} for way, m in med.items()},
                      "cut_to_answer_ms": {k: round(v, 1) for k, v in restart.items()},
                      "cycle_ms": {k: round(v, 1) for k, v in total.items()},
                      "ratio": round(ratio, 2) if ratio else None,
                      "load": [round(load_before, 1), round(os.getloadavg()[0], 1)]}))


if __name__ == "__main__":
    main()
