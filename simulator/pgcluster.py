"""A throw-away PostgreSQL cluster and the back office's collector as a real process, for the demo and the
office tests.

The cluster is Debian's `postgresql` binaries (found under /usr/lib/postgresql/N/bin): `initdb` in a temp
dir (as the `postgres` user when run as root: initdb refuses root), listening only on a Unix socket in that
dir (no TCP port to collide), stopped with `pg_ctl stop -m fast` and its directory removed at the end.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from simulator.stack import StackError

ROOT = Path(__file__).resolve().parent.parent
#: how to get PostgreSQL when it is missing
INSTALL_HINT = "Debian package postgresql; make setup installs it when run as root"


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's `bin` directory holding `initdb` and `pg_ctl`; None without one."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name),
                            reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    return None


def unavailable() -> str | None:
    """Why a throw-away cluster cannot be started here (one line), or None when it can."""
    if find_bindir() is None:
        return f"PostgreSQL is not installed ({INSTALL_HINT})"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser (util-linux) to start PostgreSQL as the postgres user"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return f"there is no postgres user to run PostgreSQL as ({INSTALL_HINT})"
    return None


class PgCluster:
    def __init__(self, bindir: Path, *, durable: bool = False):
        """`durable`: fsync, synchronous_commit and full_page_writes on, as a real office runs; by default all
        three are off (a test cluster loses nothing it needs on a crash of its machine)."""
        self.bindir = bindir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="pgoffice-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return result

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        sync = "on" if self.durable else "off"
        options = (f"-k {self.socket_dir} -c listen_addresses='' -c fsync={sync} -c synchronous_commit={sync} "
                   f"-c full_page_writes={sync} -c max_connections=60")
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
        if result.returncode != 0:
            raise RuntimeError(f"pg_dump failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
        return result.stdout


def start_cluster() -> PgCluster:
    """A started throw-away cluster; StackError (one line) when PostgreSQL is missing or will not start."""
    reason, bindir = unavailable(), find_bindir()
    if reason or bindir is None:
        raise StackError(reason or f"PostgreSQL is not installed ({INSTALL_HINT})")
    cluster = PgCluster(bindir)
    try:
        cluster.start()
    except BaseException as exc:
        cluster.stop()
        if isinstance(exc, (RuntimeError, OSError, subprocess.TimeoutExpired)):
            raise StackError(f"PostgreSQL did not start: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
        raise
    return cluster


class Collector:
    """`posoffice serve --port 0` as a child process; `url` is read from its first line, `site` (the web pages'
    root) is the same server without the path.  `tls`: (certificate, key) files to serve https with; `extra`:
    more `serve` arguments."""

    def __init__(self, dsn: str, port: int = 0, *extra: str, tls: tuple[str, str] | None = None):
        self.dsn = dsn
        if tls:
            extra = (*extra, "--tls-cert", tls[0], "--tls-key", tls[1])
        self.proc = subprocess.Popen([sys.executable, "-m", "posoffice", "serve", "--port", str(port), "--dsn", dsn,
                                      *extra], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self._first_line(timeout=30)
        if not line.startswith("posoffice: collecting on "):
            self.kill()
            assert self.proc.stderr is not None  # a pipe: Popen was given PIPE
            error = self.proc.stderr.read().strip().splitlines()
            raise StackError(f"the collector did not start: {line.strip()!r} {error[-1] if error else ''}".rstrip())
        self.url = line.split(" on ", 1)[1].strip()
        self.site = self.url.rsplit("/v1/", 1)[0]

    def _first_line(self, timeout: float) -> str:
        box: list[str] = []
        stdout = self.proc.stdout
        assert stdout is not None  # a pipe: Popen was given PIPE
        reader = threading.Thread(target=lambda: box.append(stdout.readline()), daemon=True)
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
