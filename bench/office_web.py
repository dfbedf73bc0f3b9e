"""The office's web pages at size: p50/p95 of the Today page, a transaction search by RRN and a transaction's
detail page (with its hash-chain proof), through a real HTTP client, with a manager logged in.

    .venv/bin/python -m bench.office_web [--terminals 1000] [--transactions 200] [--requests 40]
    .venv/bin/python -m bench.office_web --full      # the target's size: 1,000 terminals x 1,000 transactions

Before the timed window: a throw-away PostgreSQL cluster (simulator/pgcluster.py), the office database with
N terminals of one merchant, and every terminal's chain written straight into the events table with COPY
(a sale begun and approved per transaction, hashed and linked exactly as the journal does, spread over ten
days with one batch settled per day and the last left open; the cursors at each chain's end), then ANALYZE;
`posoffice serve` started and a manager logged in.  In the window, one client asks each page `--requests` times
(searches and details at random transactions).  Today derives its view from the events once per change of the
office, per terminal that shipped: the office derives it for every terminal at start (the first request waits
for that: `today_cold_ms`), then a till shipping costs its own part (`today_after_a_till_ships`, a sale stored
for one till before each request).  Days reads each settled batch once (`days_cold_ms`, also begun at start;
the window starts after it).  Target: p95 <= 200 ms for each.  Ends with one JSON
line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import time
import urllib.parse

TARGET_P95_MS = 200
MERCHANT = "M-WEB"
PASSWORD = "bench-manager-pass"
DAYS = 10  # each terminal's transactions spread over this many days, one batch settled per day, the last open


def chain_rows(terminal: str, transactions: int, start_at: float, *, first: int = 1, seq: int = 0,
               previous: str | None = None):
    """The terminal's events as COPY rows, hashed and linked as the journal's are; and its (last seq, last hash).
    `first`, `seq`, `previous`: go on from there (a terminal shipping more of its day)."""
    from agent.journal.hashchain import GENESIS, canonical, content_hash, link
    previous, rows = previous or GENESIS, []

    def add(kind: str, txn_id: int | None, at: float, details: dict) -> None:
        nonlocal previous, seq
        seq += 1
        text = canonical(details)
        chash = content_hash(seq, at, txn_id, kind, "01", "cashier", text)
        previous = link(previous, chash)
        rows.append((terminal, seq, at, kind, txn_id, "01", "cashier", text, text, chash, previous))

    number = int(terminal[1:])
    per_batch = max(1, transactions // DAYS)
    spacing = DAYS * 86_400 / transactions
    for n in range(first, first + transactions):
        batch = min((n - 1) // per_batch + 1, DAYS)
        at = start_at + n * spacing + (number * 7919) % int(spacing)  # the tills do not sell in step
        card = f"622609******{(number * 7 + n) % 10000:04d}"
        add("txn.begin", n, at, {"kind": "sale", "amount": 100 + (n * 37 + number * 101) % 50000, "trace": n, "batch": batch,
                                 "card": card, "fingerprint": None, "original": None})
        add("txn.complete", n, at + 0.5, {"state": "approved", "response_code": "00",
                                          "rrn": f"{number:05d}{n:07d}", "auth_code": f"{n % 1000000:06d}"})
        if n % per_batch == 0 and batch < DAYS:
            add("settlement.finish", None, at + 1.0, {"batch": batch, "next": batch + 1})
    return rows, seq, previous


def ship_more(dsn: str, terminal: str, transactions: int, count: int) -> None:
    """`count` more sales of `terminal`, stored as the collector stores them (its events, its cursor moved)."""
    import psycopg
    with psycopg.connect(dsn) as conn:
        seq, last_hash = conn.execute("SELECT last_seq, last_hash FROM cursors WHERE terminal = %s",
                                      (terminal,)).fetchone()
        rows, seq, last_hash = chain_rows(terminal, count, time.time() - DAYS * 86_400 - 600, first=transactions + 1,
                                          seq=seq, previous=last_hash)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO events (terminal, seq, at, kind, txn_id, operator, role, details_text, details, "
                            "content_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        conn.execute("UPDATE cursors SET last_seq = %s, last_hash = %s WHERE terminal = %s", (seq, last_hash, terminal))


def seed(dsn: str, terminals: int, transactions: int) -> float:
    import psycopg

    from agent.auth import hash_password
    from agent.journal.hashchain import GENESIS
    from posoffice import access, db

    started = time.monotonic()
    ids = [f"W{n:05d}" for n in range(1, terminals + 1)]
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secret_hash = hash_password("bench-terminal-secret")
        with conn.transaction():
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO terminals (id, merchant_id, credential_hash, last_contact) "
                                "VALUES (%s, %s, %s, now())", [(t, MERCHANT, secret_hash) for t in ids])
                cur.executemany("INSERT INTO cursors (terminal, last_hash) VALUES (%s, %s)", [(t, GENESIS) for t in ids])
        start_at = time.time() - DAYS * 86_400 - 600
        heads = []
        with conn.cursor() as cur:
            with cur.copy("COPY events (terminal, seq, at, kind, txn_id, operator, role, details_text, details, "
                          "content_hash, hash) FROM STDIN") as copy:
                for t in ids:
                    rows, last_seq, last_hash = chain_rows(t, transactions, start_at)
                    for row in rows:
                        copy.write_row(row)
                    heads.append((last_seq, last_hash, last_seq, t))
        with conn.cursor() as cur:
            cur.executemany("UPDATE cursors SET last_seq = %s, last_hash = %s, reported_head = %s WHERE terminal = %s",
                            heads)
        conn.commit()
        access.add_user(conn, "manager", "manager", PASSWORD)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


class Client:
    """One keep-alive HTTP/1.1 connection with the session cookie."""

    def __init__(self, site: str):
        parsed = urllib.parse.urlsplit(site)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers={**(headers or {}), **({"Cookie": cookie} if cookie else {})})
        reply = self.conn.getresponse()
        data = reply.read()
        for header in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return reply.status, data

    def log_in(self) -> None:
        _s, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"csrf": token, "name": "manager", "password": PASSWORD, "next": "/today"})
        status, _ = self.request("POST", "/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 303:
            raise SystemExit(f"bench.office_web: the manager could not log in ({status})")


def timed(client: Client, paths: list[str]) -> list[float]:
    took = []
    for path in paths:
        t0 = time.perf_counter()
        status, body = client.request("GET", path)
        took.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise SystemExit(f"bench.office_web: GET {path} answered {status}: {body[:200]!r}")
    return took


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.office_web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--transactions", type=int, default=200, help="per terminal")
    parser.add_argument("--requests", type=int, default=40, help="per page")
    parser.add_argument("--full", action="store_true", help="1,000 terminals x 1,000 transactions")
    args = parser.parse_args(argv)
    if args.full:
        args.terminals, args.transactions = 1000, 1000
    from simulator.pgcluster import Collector, start_cluster
    from simulator.stack import StackError

    try:
        cluster = start_cluster()
    except StackError as exc:
        print(f"bench.office_web: {exc}", file=sys.stderr)
        return 2
    office = None
    try:
        dsn = cluster.new_database()
        seeded = seed(dsn, args.terminals, args.transactions)
        total = args.terminals * args.transactions
        print(f"seeded {args.terminals} terminals x {args.transactions} transactions ({total:,}) in {seeded:.1f} s")
        office = Collector(dsn)  # it derives Today at start: the first request waits for the rest of that
        client = Client(office.site)
        client.log_in()
        rng = random.Random(7)
        picks = [(rng.randint(1, args.terminals), rng.randint(1, args.transactions)) for _ in range(args.requests)]
        cold = timed(client, ["/today"])[0]
        # the office derives Days at start too (every settled batch, once): wait for it before the window
        days_cold = timed(client, ["/days"])[0]
        timed(client, ["/transactions?rrn=000010000001", "/transactions/W00001/1"])  # warm up
        results = {
            "today": timed(client, ["/today"] * args.requests),
            "search": timed(client, [f"/transactions?rrn={t:05d}{n:07d}" for t, n in picks]),
            "detail": timed(client, [f"/transactions/W{t:05d}/{n}" for t, n in picks]),
        }
        days = timed(client, ["/days"])[0]  # each settled batch read once: now from what is kept
        shipped = []  # one terminal ships a sale before each request: Today derives that terminal again
        for n in range(min(args.requests, 20)):
            ship_more(dsn, f"W{n + 1:05d}", args.transactions, 1)
            shipped += timed(client, ["/today"])
    finally:
        if office is not None:
            office.stop()
        cluster.stop()
    line = {"bench": "office_web", "terminals": args.terminals, "transactions": total, "requests": args.requests,
            "target_p95_ms": TARGET_P95_MS, "today_cold_ms": round(cold, 1)}
    print(f"today, the first request after a change: {cold:.1f} ms")
    for page, took in results.items():
        p50, p95 = percentile(took, 0.5), percentile(took, 0.95)
        print(f"{page:<7} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
        line[f"{page}_p50_ms"], line[f"{page}_p95_ms"] = round(p50, 1), round(p95, 1)
    line["met"] = all(line[f"{p}_p95_ms"] <= TARGET_P95_MS for p in results)
    line["days_cold_ms"], line["days_ms"] = round(days_cold, 1), round(days, 1)
    print(f"days: {days_cold:.1f} ms the first time (every settled batch of 31 days read), then {days:.1f} ms")
    line["today_after_a_till_ships_p50_ms"] = round(percentile(shipped, 0.5), 1)
    line["today_after_a_till_ships_p95_ms"] = round(percentile(shipped, 0.95), 1)
    print(f"today after one till shipped a sale: p50 {line['today_after_a_till_ships_p50_ms']} ms, "
          f"p95 {line['today_after_a_till_ships_p95_ms']} ms")
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
