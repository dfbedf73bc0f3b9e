"""Store-and-forward: 500 sales stored while the bank cannot be reached, forwarded when the link is back,
against 500 online sales in the same run.

    .venv/bin/python -m bench.offline_forward [--sales 500]

1. Online: `--sales` sales through the control API → daemon → journal → loopback TCP → `posim host`
   (a named test card: no card reader time), the time for all of them.
2. Offline: the host's `outage` fault cuts the line; `--sales` chip sales through real pcscd + vpcd + the
   virtual card are approved with the card (Y3) and stored (the time per stored sale is printed too).
3. The line comes back (`posim host fault clear`): the daemon's background sender forwards the stored sales
   as advices by itself.  Measured from the bank's ledger (when it booked each advice): the time from the
   link back to the first forwarded sale answered (the sender's retry delay, at most `[offline]
   retry_seconds`), and the time to forward them all from then on (the first one's share added).
   Target: forwarding ≤ 1.2 × the online sales' time.

Needs pcscd and vsmartcard-vpcd (`make demo` installs them); uses reader slot 1.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from agent.control_client import ControlClient
from agent.drivers.pcsc import CardReader
from bench.engine import start_daemon, stop
from simulator.card import VirtualCard
from simulator.stack import start_pcscd, stop_process
from simulator.testcards import load_cards
from tests.agentproc import write_config
from tests.simhost import start_host

READER, PORT = "Virtual PCD 00 01", 35964
POLL_S = 0.2
TARGET_RATIO = 1.2
CARD_TRIES = 3  # a card read that failed (pcscd under load) is tried again with the card inserted anew


def config_for(work: Path, host_port: int, sales: int) -> Path:
    """A quiet daemon (WARNING logs, no duplicate window) with store-and-forward on and room for `sales`."""
    extra = f"""floor_limit = 100000
[offline]
enabled = true
max_amount = "100.00"
max_total = "100000.00"
max_count = {sales}
retry_seconds = 2
after_unanswered = 1
[guards]
duplicate_window_seconds = 0
[card_reader]
reader = "{READER}"
card_timeout = 10
"""
    config = write_config(work, host_port, response_timeout=10.0, extra=extra)
    config.write_text(config.read_text().replace('log_level = "DEBUG"', 'log_level = "WARNING"'))
    return config


def online_sales(client: ControlClient, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        reply = client.call("sale", {"amount": 100 + i % 500, "card": "debit", "confirm_duplicate": True},
                            receipts=False)
        if not reply.get("ok") or reply["outcome"]["status"] != "approved":
            raise SystemExit(f"online sale {i} failed: {reply}")
    return time.perf_counter() - started


def stored_sales(client: ControlClient, n: int) -> list[float]:
    """`n` chip sales while the bank is down: each with the virtual card inserted, then removed; a read the
    daemon answers "card error — try again" is tried again with the card inserted anew, as a cashier would."""
    card, reader, out = load_cards()["debit"], CardReader(READER, card_timeout=10), []
    for i in range(n):
        for attempt in range(CARD_TRIES):
            virtual = VirtualCard(card, PORT).start()
            started = time.perf_counter()
            try:
                reply = client.call("sale", {"amount": 100 + i % 500, "confirm_duplicate": True}, receipts=False)
            finally:
                virtual.remove()
                reader.wait_for_removal(10)
            if (reply.get("error") or {}).get("code") != "card":
                break
        out.append(time.perf_counter() - started)
        outcome = reply.get("outcome") or {}
        if not reply.get("ok") or outcome.get("status") != "approved" or not outcome["details"].get("offline"):
            raise SystemExit(f"stored sale {i} was not stored: {reply}")
    return out


def forwarding(client: ControlClient, host_db: Path, n: int, back: float, timeout: float = 600.0) -> tuple[float, float]:
    """(link back → first forwarded sale answered, first answered → last answered) in seconds, from the times
    the bank booked the advices (its ledger); the daemon is only asked, every `POLL_S`, whether it is done."""
    while time.time() - back < timeout:
        if client.call("status")["result"]["offline"]["stored"] == 0:
            break
        time.sleep(POLL_S)
    else:
        raise SystemExit(f"the queue was not empty {timeout:.0f} s after the link came back")
    conn = sqlite3.connect(f"{host_db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        first, last, count = conn.execute("SELECT min(created_at), max(created_at), count(*) FROM txns "
                                          "WHERE mti IN ('0220', '0221')").fetchone()
    finally:
        conn.close()
    if count != n:
        raise SystemExit(f"the bank booked {count} advices, not {n}")
    first_at, last_at = (datetime.fromisoformat(t).timestamp() for t in (first, last))
    return first_at - back, last_at - first_at


def bank_rows(host_db: Path) -> list[tuple]:
    """The bank's sale rows by (MTI, response code, reversed): count and amount (what to look at on a mismatch)."""
    conn = sqlite3.connect(f"{host_db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT mti, response_code, reversed_at IS NOT NULL, count(*), sum(amount) FROM txns "
                            "WHERE kind = 'sale' GROUP BY 1, 2, 3").fetchall()
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=500, help="sales online and stored (1 to 500)")
    args = parser.parse_args()
    if not 1 <= args.sales <= 500:
        raise SystemExit(f"--sales must be 1 to 500 ([offline] max_count), not {args.sales}")
    pcscd = start_pcscd()
    try:
        with tempfile.TemporaryDirectory(prefix="posagent-bench-") as tmp:
            work = Path(tmp)
            host = start_host(work)
            try:
                proc, _ = start_daemon(config_for(work, host.port, args.sales))
                client = ControlClient(work / "control.sock")
                online_sales(client, 10)  # sign-on and warm-up
                online = online_sales(client, args.sales)
                host.fault("outage:seconds=3600")
                per_stored = stored_sales(client, args.sales)
                back = time.time()
                host.control(op="clear")
                first_s, empty_s = forwarding(client, host.db, args.sales, back)
                charged = host.ledger()["cards"]["debit"]["net_charged"]
                booked = bank_rows(host.db)
                stop(proc)
            finally:
                host.stop()
            # every sale online and stored booked once: the bank's ledger is their sum
            expected = sum(100 + i for i in range(10)) + 2 * sum(100 + i % 500 for i in range(args.sales))
            if charged != expected:  # keep the journal, the bank's ledger and the logs to read
                kept = Path(tempfile.mkdtemp(prefix="posagent-offline-forward-mismatch-"))
                shutil.copytree(work, kept, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock"))
                raise SystemExit(f"the bank's ledger holds {charged}, not the {expected} of every sale once; its "
                                 f"rows by (MTI, response code, reversed): {booked}; the run's files are kept in {kept}")
    finally:
        if pcscd is not None:
            stop_process(pcscd)
    # the first answered advice took part of the sender's time too: count it as one of the n
    forward = empty_s * args.sales / max(1, args.sales - 1)
    ratio = forward / online
    print(f"{args.sales} online sales: {online:.2f} s ({online / args.sales * 1000:.2f} ms each)")
    print(f"{args.sales} chip sales stored while the bank was down: p50 {statistics.median(per_stored) * 1000:.0f} ms "
          f"each (the card read through pcscd included)")
    print(f"link back → first forwarded sale answered: {first_s * 1000:.0f} ms (the sender's retry delay, "
          f"at most [offline] retry_seconds = 2 s)")
    print(f"forwarding the {args.sales} stored sales: {forward:.2f} s ({forward / args.sales * 1000:.2f} ms each), "
          f"ratio {ratio:.2f} to the online sales (target ≤ {TARGET_RATIO}); the bank's ledger: each sale once")
    print(json.dumps({"bench": "offline_forward", "sales": args.sales, "online_s": round(online, 3),
                      "stored_sale_p50_ms": round(statistics.median(per_stored) * 1000, 1),
                      "link_back_to_first_answered_ms": round(first_s * 1000, 1), "forward_s": round(forward, 3),
                      "ratio": round(ratio, 3), "target": TARGET_RATIO, "met": ratio <= TARGET_RATIO,
                      "ledger_matches": True}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
