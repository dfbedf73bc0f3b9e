"""A throw-away PostgreSQL cluster for the office tests, the collector as a real process, and chains.

The cluster and the collector are `simulator/pgcluster.py`'s (the demo starts the same ones): Debian's
`postgresql` binaries (found under /usr/lib/postgresql/N/bin), `initdb` in a temp dir (as the `postgres`
user when the tests run as root: initdb refuses root), listening only on a Unix socket in that dir (no
TCP port to collide), stopped with `pg_ctl stop -m fast` at the end of the
session.  A missing PostgreSQL skips the office tests with the reason, or fails them under CI=true.
Each test module imports `pg_cluster` and `office_dsn`; the cluster is started once per session (a
count of users, the last one stops it) and each `office_dsn` is a new, empty database.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import urllib.error
import urllib.request

import pytest

from agent.journal.hashchain import GENESIS, canonical, content_hash, link
from simulator.pgcluster import ROOT, Collector, PgCluster, find_bindir, unavailable  # noqa: F401 (names the tests import)

_shared: dict[str, object] = {"cluster": None, "users": 0}
_lock = threading.Lock()


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's cluster (started by the first module that asks, stopped after the last)."""
    with _lock:
        if _shared["cluster"] is None:
            bindir = find_bindir()
            reason = unavailable()
            if reason:
                if os.environ.get("CI") == "true":
                    pytest.fail(reason)
                pytest.skip(reason)
            cluster = PgCluster(bindir)
            try:
                cluster.start()
            except BaseException:
                cluster.stop()
                raise
            _shared["cluster"] = cluster
        _shared["users"] += 1
    yield _shared["cluster"]
    with _lock:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["cluster"].stop()
            _shared["cluster"] = None


@pytest.fixture
def office_dsn(pg_cluster) -> str:
    """A new, empty office database on the session's cluster."""
    return pg_cluster.new_database()


def post(url: str, terminal: str, secret: str, body: dict | bytes, *, timeout: float = 30) -> tuple[int, dict]:
    """POST to the collector as `terminal`; (HTTP status, JSON reply)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    token = base64.b64encode(f"{terminal}:{secret}".encode()).decode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


# ----------------------------------------------------------------------------- chains of events
def synthetic_chain(count: int, *, salt: str = "a", start: int = 1, previous: str = GENESIS) -> list[dict]:
    """`count` wire events from `start`, chained exactly as the journal chains them (agent/journal/events.py):
    a sale begun and approved every two events, so a day's report has something to add up."""
    events = []
    for seq in range(start, start + count):
        txn_id = (seq + 1) // 2
        if seq % 2:
            kind, details = "txn.begin", {"kind": "sale", "amount": 100 * txn_id, "trace": txn_id, "batch": 1,
                                          "note": salt, "rows": []}
        else:
            kind, details = "txn.complete", {"state": "approved", "response_code": "00", "rows": []}
        at = 1_717_000_000.0 + seq + 0.25
        text = canonical(details)
        chash = content_hash(seq, at, txn_id, kind, "01", "cashier", text)
        previous = link(previous, chash)
        events.append({"seq": seq, "at": at, "txn_id": txn_id, "kind": kind, "operator": "01", "role": "cashier",
                       "details": text, "content_hash": chash, "hash": previous})
    return events


def batch(terminal: str, events: list[dict], head: int | None = None) -> dict:
    return {"terminal": terminal, "head": head, "events": events}
