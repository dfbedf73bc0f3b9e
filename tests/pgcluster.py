"""A throw-away PostgreSQL cluster for the office tests, the collector as a real process, and chains.

The cluster is Debian's `postgresql` binaries (found under /usr/lib/postgresql/N/bin): `initdb` in a
temp dir (as the `postgres` user when the tests run as root: initdb refuses root), listening only on a
Unix socket in that dir (no TCP port to collide), stopped with `pg_ctl stop -m fast` at the end of the
session.  A missing PostgreSQL skips the office tests with the reason, or fails them under CI=true.
Each test module imports `pg_cluster` and `office_dsn`; the cluster is started once per session (a
count of users, the last one stops it) and each `office_dsn` is a new, empty database.
"""

from __future__ import annotations

import base64
import glob
import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from agent.journal.hashchain import GENESIS, canonical, content_hash, link

ROOT = Path(__file__).resolve().parent.parent


def find_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name),
                            reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    return None


class PgCluster:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="pgoffice-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return result

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        options = (f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=60")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "30", "start")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is cut (open transactions rolled back) and the server comes
        back on the same socket with the same options."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-m", "fast", "-w", "-t", "30", "restart")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} user=postgres dbname={dbname}"

    def new_database(self) -> str:
        import psycopg
        name = f"office_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def pg_dump(self, dsn: str) -> bytes:
        dbname = dsn.rsplit("dbname=", 1)[1]
        result = subprocess.run([str(self.bindir / "pg_dump"), "-h", str(self.socket_dir), "-U", "postgres",
                                 "--no-password", dbname], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result.stdout


_shared: dict[str, object] = {"cluster": None, "users": 0}
_lock = threading.Lock()


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's cluster (started by the first module that asks, stopped after the last)."""
    with _lock:
        if _shared["cluster"] is None:
            bindir = find_bindir()
            if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
                reason = "PostgreSQL is not installed (Debian package postgresql; make setup installs it)"
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


# ----------------------------------------------------------------------------- the collector, a real process
class Collector:
    """`posoffice serve --port 0` as a child process; `url` is read from its first line."""

    def __init__(self, dsn: str, port: int = 0):
        self.dsn = dsn
        self.proc = subprocess.Popen([sys.executable, "-m", "posoffice", "serve", "--port", str(port), "--dsn", dsn],
                                     cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self._first_line(timeout=30)
        if not line.startswith("posoffice: collecting on "):
            self.kill()
            raise AssertionError(f"the collector did not start: {line!r} {self.proc.stderr.read()!r}")
        self.url = line.split(" on ", 1)[1].strip()

    def _first_line(self, timeout: float) -> str:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return box[0] if box else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, open transactions left to PostgreSQL to roll back."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


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
