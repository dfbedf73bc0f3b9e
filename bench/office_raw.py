"""The back-office benchmark's reference: the same rows in the same batches inserted straight into a plain
table (the events' columns, no keys), one transaction per batch, with `executemany` (the statement the
collector runs) or with `COPY`.

Apart from `bench.office`, which measures the collectors: this is the floor they are compared with, and
touches PostgreSQL only, never a collector.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

COLUMNS = ("terminal", "seq", "at", "kind", "txn_id", "operator", "role", "details_text", "details",
           "content_hash", "hash")


def raw_rows(body: bytes) -> list[tuple]:
    doc = json.loads(body)
    return [(doc["terminal"], e["seq"], e["at"], e["kind"], e["txn_id"], e["operator"], e["role"], e["details"],
             e["details"], e["content_hash"], e["hash"]) for e in doc["events"]]


def raw_insert(dsn: str, batches: dict[str, list[tuple[int, bytes]]], how: str, connections: int = 2) -> float:
    """Seconds to insert every batch's rows into a plain table, one transaction per batch, `connections`
    at once; `how`: "executemany" (the collector's statement) or "copy"."""
    import psycopg

    table = f"raw_{how}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (terminal text, seq bigint, at double precision, kind text, "
                     "txn_id bigint, operator text, role text, details_text text, details jsonb, content_hash text, "
                     "hash text)")
    # decoded before the clock starts: the raw insert gets its rows ready-made
    parts = [raw_rows(body) for tid in batches for _, body in batches[tid]]
    shares = [parts[i::connections] for i in range(connections)]
    insert = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"

    def run(share: list[list[tuple]]) -> None:
        with psycopg.connect(dsn) as conn:
            for rows in share:
                with conn.transaction(), conn.cursor() as cur:
                    if how == "copy":
                        with cur.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
                    else:
                        cur.executemany(insert, rows)

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(run, shares))
    return time.perf_counter() - started
