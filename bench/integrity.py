"""Integrity at start: how long the daemon's checks take on a journal of N transactions.

    .venv/bin/python -m bench.integrity [--n 20000] [--dir DIR]

1. `check_tail` (the last 2,000 events, before the daemon serves): bounded, whatever N.
2. `check_all` (SQLite integrity + whole chain + every row, in a worker thread while serving), against
   a floor measured in the same run: reading every event and hashing its details once with SHA-256.
The journal is written through the real journal API (on --dir, /dev/shm by default, so fsyncs are
cheap) and cached between runs.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from agent.journal import Journal
from agent.journal.integrity import check_all, check_tail

KEY = b"bench-fingerprint-key-0123456789"
PAN = "6226090000000048"


def build(path: Path, n: int) -> None:
    journal = Journal.open(path, fingerprint_key=KEY)
    for i in range(n):
        t = journal.begin("sale", amount=100 + i, currency="156", pan=PAN, entry_mode="051", operator="01",
                          role="cashier", request=lambda trace, batch: {"mti": "0200", "11": f"{trace:06d}"})
        journal.complete(t.id, approved=True, response_code="00", rrn=f"{i:012d}", auth_code="A1B2C3",
                         response={"39": "00"})
    journal.close()


def floor(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    count = 0
    for (details,) in conn.execute("SELECT details FROM events ORDER BY id"):
        hashlib.sha256(details.encode()).hexdigest()
        count += 1
    conn.close()
    return count


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else "/tmp")
    args = parser.parse_args()
    path = Path(args.dir) / f"posagent-bench-integrity-{args.n}.db"
    if not path.exists():
        started = time.perf_counter()
        build(path, args.n)
        print(f"built {path} ({args.n} transactions) in {time.perf_counter() - started:.1f} s")
    tail_s, tail = timed(check_tail, path)
    all_s, whole = timed(check_all, path)
    floor_s, events = timed(floor, path)
    assert tail.ok and whole.ok, (tail, whole)
    print(f"events {events}: tail check {tail_s * 1000:.1f} ms ({tail.events} events), whole journal "
          f"{all_s * 1000:.0f} ms, floor (read + one SHA-256 per event) {floor_s * 1000:.0f} ms, "
          f"ratio {all_s / floor_s:.1f}x")
    print(json.dumps({"bench": "integrity", "transactions": args.n, "events": events,
                      "tail_ms": round(tail_s * 1000, 1), "whole_ms": round(all_s * 1000),
                      "floor_ms": round(floor_s * 1000), "ratio_whole_to_floor": round(all_s / floor_s, 2)}))


if __name__ == "__main__":
    main()
