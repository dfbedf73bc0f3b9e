"""Reconciliation benchmark: a 100,000-line statement against a 100,000-transaction journal.

    .venv/bin/python -m bench.reconcile [--n 100000] [--faults 200] [--format posim] [--dir DIR]

The reference, measured in the same run on the same file: parsing the statement alone.  The whole
reconciliation (`reconcile_file`: read, parse, read the journal's facts, compare, journal the run) is
timed against it; target ratio <= 3.  The journal is built with bulk SQL (through the hot path it would
take many minutes of fsyncs) and the statement is written by the same declarations the simulator
uses, with `--faults` lines changed so the comparison has findings to report.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from agent import config
from agent.journal import Journal
from agent.reconcile.fees import DEFAULT_CONTRACT
from agent.reconcile.formats import get_format
from agent.reconcile.run import reconcile_file
from agent.reconcile.render import render_statement
from agent.reconcile.statement import Statement, StatementLine, parse_statement

TID = "10000001"
PANS = ("622609******0048", "625094******0016")


def build_journal(path: Path, n: int, now: float) -> list[tuple]:
    """A journal of `n` settled transactions (10 batches, settled `now`); returns their facts."""
    Journal.open(path, fingerprint_key=b"bench-fingerprint-key-0123456789").close()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.execute("DELETE FROM batches")
    batches = 10
    conn.executemany("INSERT INTO batches (id, number, state, opened_at, settled_at) VALUES (?, ?, 'settled', ?, ?)",
                     [(b, b, now - 3600, now) for b in range(1, batches + 1)])
    rng = random.Random(1)
    rows = []
    for i in range(1, n + 1):
        batch = 1 + (i - 1) * batches // n
        kind = "refund" if i % 10 == 0 else "sale"
        rows.append((i, kind, "approved", rng.randint(100, 500_000), "156", (i - 1) % 999_999 + 1, batch, batch,
                     f"{i:012d}", "ABC123", "00", "051", PANS[i % 2], "f" * 64, "cashier", "cashier",
                     now - 3000 + i * 0.01, now, 1))
    conn.executemany(
        "INSERT INTO transactions (id, kind, state, amount, currency, trace, batch_id, batch, rrn, auth_code, "
        "response_code, entry_mode, pan_masked, pan_fingerprint, operator, role, created_at, updated_at, uploaded) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return rows


def statement_for(rows: list[tuple], date: str, faults: int) -> Statement:
    lines = []
    for r in rows:
        kind, amount = r[1], (r[3] if r[1] == "sale" else -r[3])
        card_type = "credit" if r[12].startswith("625094") else "debit"
        fee = DEFAULT_CONTRACT.line_fee(kind, card_type, amount)
        made = dt.datetime.fromtimestamp(r[16])
        lines.append(StatementLine(date, made.strftime("%Y%m%d"), made.strftime("%H%M%S"), TID, r[7], r[5], r[8],
                                   r[9], r[12], card_type, kind, amount, fee, amount - fee))
    rng = random.Random(2)
    for i in rng.sample(range(len(lines)), faults):  # a fee 0.01 above the contract on `faults` lines
        if lines[i].txn_type == "sale":
            lines[i] = dataclasses.replace(lines[i], fee=lines[i].fee + 1, net=lines[i].net - 1)
    return Statement("123456789012345", "bench", date, "CNY", tuple(lines), sum(x.net for x in lines))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile")
    parser.add_argument("--n", type=int, default=100_000, help="statement lines and journal transactions")
    parser.add_argument("--faults", type=int, default=200, help="lines with a wrong fee")
    parser.add_argument("--format", default="posim", help="statement format (posim or unionpay-gbk)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (the median is reported)")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "posagent-bench"))
    args = parser.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    journal_path = base / "reconcile-journal.db"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(journal_path) + suffix).unlink(missing_ok=True)
    now = time.time()
    date = dt.datetime.fromtimestamp(now).strftime("%Y%m%d")
    rows = build_journal(journal_path, args.n, now)
    fmt = get_format(args.format)
    statement_path = base / f"reconcile-statement-{fmt.name}.txt"
    statement_path.write_bytes(render_statement(statement_for(rows, date, args.faults), fmt))
    cfg = config.from_mapping({"terminal": {"terminal_id": TID}})

    parse_s, whole_s = [], []
    for _ in range(args.rounds):  # interleaved, so disk and CPU noise hit both alike
        start = time.perf_counter()
        parse_statement(statement_path.read_bytes(), fmt)
        parse_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        run = reconcile_file(cfg, journal_path, statement_path, fmt_name=fmt.name)
        whole_s.append(time.perf_counter() - start)
    parse_t, whole_t = statistics.median(parse_s), statistics.median(whole_s)
    found = len(run.report.discrepancies)
    ratio = whole_t / parse_t
    print(f"statement {args.n:,} lines ({fmt.name}, {statement_path.stat().st_size / 1e6:.1f} MB) against "
          f"{args.n:,} journal transactions, {found} findings (expected {args.faults - args.faults // 10} "
          f"or so), difference {run.report.difference} fen")
    print(f"  parse alone            : {parse_t * 1000:.0f} ms")
    print(f"  whole reconciliation   : {whole_t * 1000:.0f} ms  (read, parse, journal facts, compare, journal the run)")
    print(f"  ratio {ratio:.2f}x  (target <= 3x)")
    print(json.dumps({"bench": "reconcile", "lines": args.n, "transactions": args.n, "format": fmt.name,
                      "findings": found, "parse_ms": round(parse_t * 1000, 1), "whole_ms": round(whole_t * 1000, 1),
                      "ratio": round(ratio, 3), "target_ratio": 3}))


if __name__ == "__main__":
    main()
