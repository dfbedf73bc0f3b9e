"""Back-office ingest: N terminals' journal events posted through two collectors into one PostgreSQL.

    .venv/bin/python -m bench.office [--terminals 200] [--transactions 300] [--batch 100] [--senders 16]
    .venv/bin/python -m bench.office --full        # the target's size: 1,000 terminals x 300 transactions
    .venv/bin/python -m bench.office --durable [--compare]   # fsync and synchronous_commit on (and fsync off too)

Before the timed window: a throw-away PostgreSQL cluster (simulator/pgcluster.py: a Unix socket only,
fsync off; with `--durable` fsync, synchronous_commit and full_page_writes on, as a real office runs), the office database with N terminals of one merchant, two collectors (`posoffice serve`),
every terminal's chain (a sale begun and approved: two events per transaction, hashed exactly as the
journal hashes them) cut into batches and encoded, and every terminal logged in once at its collector
(a collector checks a secret with scrypt once, then remembers it; that cost is printed apart).

In the window, `--senders` threads post the batches, half the terminals to each collector, a terminal's
batches in order, each as soon as the last is acknowledged (a terminal catching up after a day away).
Printed: events stored per second, the acknowledgement latency per batch (p50, p99), the CPU the two
collectors, PostgreSQL (the postmaster and every backend) and the senders spent (from /proc), and,
checked after the window, events lost and duplicated (each terminal's rows, distinct seqs and last seq
against its chain) and the office's own re-walk of every chain.

The reference, measured in the same run on the same cluster: the same rows in the same batches inserted
straight into a plain table (same columns, no keys) over two connections, one transaction per batch,
with `executemany` (the statement the collector runs) and with `COPY`.  Ratio = collector events/s over
the raw insert's.  `--durable --compare` runs the whole benchmark twice in one invocation on the same
chains, first on a cluster with fsync off, then on a durable one (each with its own raw reference), and
adds the durable run's events/s over the fsync-off run's.  Ends with one JSON line.  The CPU readings
are `bench.proccpu`, the raw insert `bench.office_raw`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import queue
import sys
import threading
import time
import urllib.parse

from bench.office_raw import raw_insert
from bench.proccpu import machine_busy, own_cpu, postgres_cpu, process_cpu

TARGET_EVENTS_PER_S = 10_000
MERCHANT = "M-BENCH"
SECRET = "bench-office-secret-0123456789"


class BenchError(Exception):
    """The benchmark could not run (no PostgreSQL, a collector that did not start): one line."""


# ----------------------------------------------------------------------------- the chains, before the window
def tid_of(index: int) -> str:
    return f"B{index:06d}"


def build_batches(terminals: int, transactions: int, batch: int) -> dict[str, list[tuple[int, bytes]]]:
    """Per terminal: its batches as (last seq, encoded body), in chain order."""
    from tests.pgcluster import synthetic_chain

    built = {}
    for index in range(terminals):
        tid = tid_of(index)
        events = synthetic_chain(2 * transactions, salt=tid)
        head = events[-1]["seq"]
        built[tid] = [(part[-1]["seq"], json.dumps({"terminal": tid, "head": head, "events": part}).encode())
                      for part in (events[i:i + batch] for i in range(0, len(events), batch))]
    return built


def register(conn, terminals: list[str]) -> None:
    """What `posoffice terminal add` stores, with one secret's scrypt hash for all (one hash per terminal
    would cost N x ~50 ms before the run and measure nothing)."""
    from agent.auth import hash_password
    from agent.journal.hashchain import GENESIS

    credential = hash_password(SECRET)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO terminals (id, merchant_id, credential_hash) VALUES (%s, %s, %s)",
                        [(t, MERCHANT, credential) for t in terminals])
        cur.executemany("INSERT INTO cursors (terminal, last_hash) VALUES (%s, %s)", [(t, GENESIS) for t in terminals])


# ----------------------------------------------------------------------------- senders
class Sender:
    """One keep-alive HTTP connection to a collector, posting pre-encoded batches as one terminal."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        self.reconnects = 0

    def request(self, method: str, path: str, tid: str, body: bytes | None = None) -> tuple[int, bytes]:
        token = base64.b64encode(f"{tid}:{SECRET}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                reply = self.conn.getresponse()
                return reply.status, reply.read()
            except (OSError, http.client.HTTPException):
                # the collector closes a connection idle for 5 s; a batch sent again is acknowledged again
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt == 2:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")


def log_in(urls: list[str], terminals: list[str], senders: int) -> float:
    """Each terminal asks its collector once (a sale it does not have: 404), so the collector has checked
    its secret before the window.  Returns the seconds it took."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for index, tid in enumerate(terminals):
        work.put((urls[index % 2], tid))
    failures: list[str] = []

    def run() -> None:
        senders_by_url: dict[str, Sender] = {}
        while True:
            try:
                url, tid = work.get_nowait()
            except queue.Empty:
                return
            sender = senders_by_url.setdefault(url, Sender(url))
            status, _ = sender.request("GET", "/v1/refundable?rrn=000000000000&date=0101", tid)
            if status != 404:
                failures.append(f"terminal {tid}: login answered {status}")

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise BenchError(f"{len(failures)} login(s) failed, first: {failures[0]}")
    return time.perf_counter() - started


def post_all(urls: list[str], batches: dict[str, list[tuple[int, bytes]]],
             senders: int) -> tuple[list[float], list[str], int]:
    """The timed window's work: every terminal's batches, in order, half the terminals to each collector.
    Returns each batch's acknowledgement latency, what went wrong and how many batches were sent again on a
    new connection."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for index, tid in enumerate(batches):
        work.put((urls[index % 2], tid))
    latencies: list[float] = []
    errors: list[str] = []
    reconnects: list[int] = []

    def run() -> None:
        senders_by_url: dict[str, Sender] = {}
        mine: list[float] = []
        while True:
            try:
                url, tid = work.get_nowait()
            except queue.Empty:
                break
            sender = senders_by_url.setdefault(url, Sender(url))
            for last_seq, body in batches[tid]:
                started = time.perf_counter()
                try:
                    status, reply = sender.request("POST", sender.path, tid, body)
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(f"terminal {tid}: {exc}")
                    break
                mine.append(time.perf_counter() - started)
                if status != 200 or json.loads(reply).get("acked") != last_seq:
                    errors.append(f"terminal {tid}: {status} {reply[:200]!r}")
                    break
        latencies.extend(mine)
        reconnects.append(sum(s.reconnects for s in senders_by_url.values()))

    threads = [threading.Thread(target=run) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, sum(reconnects)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


# ----------------------------------------------------------------------------- checks
def lost_and_duplicated(conn, expected: dict[str, int]) -> tuple[int, int]:
    """Events missing and rows beyond one per event, over every terminal."""
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT terminal, count(*), count(DISTINCT seq), max(seq) FROM events GROUP BY terminal")}
    lost = duplicated = 0
    for tid, head in expected.items():
        count, distinct, last = rows.get(tid, (0, 0, 0))
        lost += head - distinct
        duplicated += count - distinct
        if last != head:
            lost += max(0, head - (last or 0))
    return lost, duplicated


# ----------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.office")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--transactions", type=int, default=300, help="per terminal (two events each)")
    parser.add_argument("--batch", type=int, default=100, help="events per batch (the shipper sends up to 500)")
    parser.add_argument("--senders", type=int, default=16, help="threads posting at once (half to each collector)")
    parser.add_argument("--full", action="store_true", help="the target's size: 1,000 terminals x 300 transactions")
    parser.add_argument("--durable", action="store_true",
                        help="fsync, synchronous_commit and full_page_writes on (as a real office runs)")
    parser.add_argument("--compare", action="store_true",
                        help="with --durable: also run with fsync off first, in the same invocation, and give the ratio")
    args = parser.parse_args(argv)
    if args.full:
        args.terminals, args.transactions = 1000, 300
    if min(args.terminals, args.transactions, args.senders) < 1 or not 1 <= args.batch <= 500:
        print("bench.office: --terminals, --transactions and --senders at least 1, --batch 1 to 500", file=sys.stderr)
        return 2
    if args.compare and not args.durable:
        print("bench.office: --compare goes with --durable (it adds the fsync-off run to the durable one)",
              file=sys.stderr)
        return 2
    from simulator.pgcluster import find_bindir
    if find_bindir() is None:
        print("bench.office: PostgreSQL is not installed (Debian package postgresql; make setup installs it)",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    batches = build_batches(args.terminals, args.transactions, args.batch)
    print(f"built {args.terminals} chains x {2 * args.transactions} events "
          f"({sum(len(b) for b in batches.values())} batches of up to {args.batch}) in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    try:
        if args.compare:
            print("-- fsync off", flush=True)
            fast = run(args, batches, durable=False)
            print("-- durable: fsync, synchronous_commit and full_page_writes on", flush=True)
            result = run(args, batches, durable=True)
        else:
            fast = None
            result = run(args, batches, durable=args.durable)
    except BenchError as exc:
        print(f"bench.office: {exc}", file=sys.stderr)
        return 2
    if fast is not None:
        ratio = result["events_per_s"] / fast["events_per_s"]
        result.update({"fsync_off_events_per_s": fast["events_per_s"], "fsync_off_ack_p50_ms": fast["ack_p50_ms"],
                       "fsync_off_ack_p99_ms": fast["ack_p99_ms"], "fsync_off_lost": fast["lost"],
                       "fsync_off_duplicated": fast["duplicated"], "fsync_off_errors": fast["errors"],
                       "ratio_durable_to_fsync_off": round(ratio, 2)})
        print(f"durable {result['events_per_s']:,} events/s (p99 {result['ack_p99_ms']} ms) against fsync off "
              f"{fast['events_per_s']:,} events/s (p99 {fast['ack_p99_ms']} ms) in the same invocation: {ratio:.2f}x")
    print(json.dumps(result))
    ok = [r for r in (fast, result) if r is not None]
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 and not r["errors"] for r in ok) else 1


def run(args, batches: dict[str, list[tuple[int, bytes]]], *, durable: bool) -> dict:
    import psycopg

    from posoffice import db, rewalk
    from simulator.pgcluster import Collector, PgCluster, find_bindir
    from simulator.stack import StackError

    terminals = list(batches)
    events = 2 * args.transactions * args.terminals
    cluster = PgCluster(find_bindir(), durable=durable)
    collectors: list = []
    try:
        try:
            cluster.start()
        except RuntimeError as exc:
            raise BenchError(f"cannot start PostgreSQL: {str(exc).splitlines()[0]}") from None
        dsn = cluster.new_database()
        with db.connect(dsn) as conn:
            db.migrate(conn)
            register(conn, terminals)
        try:
            collectors = [Collector(dsn), Collector(dsn)]
        except (AssertionError, StackError) as exc:
            raise BenchError(str(exc).splitlines()[0]) from None
        urls = [c.url for c in collectors]
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        login_s = log_in(urls, terminals, args.senders)
        print(f"{args.terminals} terminals logged in once (scrypt at their collector) in {login_s:.1f} s", flush=True)

        load_before = os.getloadavg()[0]
        cpu0 = ([process_cpu(c.proc.pid) for c in collectors], postgres_cpu(postmaster), own_cpu(), machine_busy())
        window_start = time.perf_counter()
        latencies, errors, reconnects = post_all(urls, batches, args.senders)
        seconds = time.perf_counter() - window_start
        cpu1 = ([process_cpu(c.proc.pid) for c in collectors], postgres_cpu(postmaster), own_cpu(), machine_busy())
        load_after = os.getloadavg()[0]
        collector_cpu = sum(cpu1[0]) - sum(cpu0[0])
        pg_cpu, senders_cpu, busy = cpu1[1] - cpu0[1], cpu1[2] - cpu0[2], cpu1[3] - cpu0[3]

        with db.connect(dsn) as conn:
            lost, duplicated = lost_and_duplicated(conn, {t: 2 * args.transactions for t in terminals})
            walk_start = time.perf_counter()
            walked = rewalk.verify(conn)
            walk_s = time.perf_counter() - walk_start
        for c in collectors:
            c.stop()
        collectors = []

        raw_s = raw_insert(dsn, batches, "executemany")
        copy_s = raw_insert(dsn, batches, "copy")
        with psycopg.connect(dsn) as conn:
            raw_count = conn.execute("SELECT (SELECT count(*) FROM raw_executemany), (SELECT count(*) FROM raw_copy)"
                                     ).fetchone()
    finally:
        for c in collectors:
            c.stop()
        cluster.stop()

    rate = events / seconds
    raw_rate, copy_rate = events / raw_s, events / copy_s
    result = {
        "bench": "office", "terminals": args.terminals, "transactions": args.transactions, "events": events,
        "batch_events": args.batch, "batches": len(latencies), "senders": args.senders,
        "seconds": round(seconds, 2), "events_per_s": round(rate),
        "ack_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "ack_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "collectors_cpu_s": round(collector_cpu, 2), "postgres_cpu_s": round(pg_cpu, 2),
        "senders_cpu_s": round(senders_cpu, 2), "machine_busy_share": round(busy / seconds, 2),
        "collectors_cpu_ms_per_1000_events": round(collector_cpu / events * 1e6, 1),
        "postgres_cpu_ms_per_1000_events": round(pg_cpu / events * 1e6, 1),
        "login_s": round(login_s, 1), "lost": lost, "duplicated": duplicated, "errors": len(errors),
        "resent_on_new_connection": reconnects,
        "verify_ok": walked["ok"], "verify_s": round(walk_s, 2),
        "raw_executemany_events_per_s": round(raw_rate), "raw_copy_events_per_s": round(copy_rate),
        "ratio_to_raw_executemany": round(rate / raw_rate, 2), "ratio_to_raw_copy": round(rate / copy_rate, 2),
        "target_events_per_s": TARGET_EVENTS_PER_S, "target_met": rate >= TARGET_EVENTS_PER_S,
        "durable": durable,
        "postgres": ("fsync, synchronous_commit and full_page_writes on" if durable else
                     "fsync off, synchronous_commit off (the test cluster's settings)"),
        "load_before": round(load_before, 1), "load_after": round(load_after, 1),
    }
    if raw_count != (events, events):
        errors.append(f"the raw inserts hold {raw_count}, not {events} each")
        result["errors"] = len(errors)
    for line in errors[:5]:
        print(f"error: {line}")
    print(f"{events} events from {args.terminals} terminals through 2 collectors: {rate:,.0f} events/s "
          f"({seconds:.2f} s), ack per batch of {args.batch} p50 {result['ack_p50_ms']} ms p99 "
          f"{result['ack_p99_ms']} ms; lost {lost}, duplicated {duplicated}, errors {len(errors)}, "
          f"re-walk {'ok' if walked['ok'] else 'PROBLEMS'} ({walked['events']} events, {walk_s:.1f} s)")
    print(f"CPU over the window: collectors {collector_cpu:.1f} s ({collector_cpu / seconds:.0%} of a core), "
          f"PostgreSQL {pg_cpu:.1f} s ({pg_cpu / seconds:.0%}), senders {senders_cpu:.1f} s "
          f"({senders_cpu / seconds:.0%}); machine busy {busy / seconds:.0%} of a core; load "
          f"{load_before:.1f} -> {load_after:.1f}")
    print(f"reference, same rows and batches into a plain table over 2 connections: executemany "
          f"{raw_rate:,.0f} events/s, COPY {copy_rate:,.0f} events/s; ratio {rate / raw_rate:.2f}x / "
          f"{rate / copy_rate:.2f}x; target >= {TARGET_EVENTS_PER_S:,} events/s: "
          f"{'met' if rate >= TARGET_EVENTS_PER_S else 'missed'}")
    return result


if __name__ == "__main__":
    sys.exit(main())
