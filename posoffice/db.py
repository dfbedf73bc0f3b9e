"""Connections to the office database (psycopg 3, a psycopg_pool pool for the collector) and migrations.

Migrations are plain SQL files, `migrations/NNNN_name.sql`, applied in order, each recorded in
`schema_version` in the same transaction as its statements.  `migrate` holds a transaction-level
advisory lock while it reads and applies them, so two collectors starting at once apply each file once:
the second waits for the first to commit, then finds nothing left to do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg_pool import ConnectionPool

from posoffice.errors import OfficeError

#: the environment variable that names the database when --dsn is not given
DSN_VARIABLE = "POSOFFICE_DSN"
#: pg_advisory_xact_lock key for migrations ("POSOFFICE" as a number; any constant the office owns)
MIGRATION_LOCK = 0x504F534F4646
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migration files shipped with the package, in version order (each number once; a number may be left
    out: a migration written beside another under way takes the next free number, and a database that has the
    later one applies the earlier when it arrives — each migration is independent of the others' order)."""
    found = []
    for entry in resources.files("posoffice.migrations").iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or not versions or versions[0] != 1:
        raise OfficeError(f"migrations must start at 1 and use each number once: {versions}")
    return found


def resolve_dsn(dsn: str | None) -> str:
    dsn = dsn or os.environ.get(DSN_VARIABLE)
    if not dsn:
        raise OfficeError(f"no office database: give --dsn or set {DSN_VARIABLE}")
    return dsn


def connect(dsn: str) -> psycopg.Connection:
    """One connection (the CLI's); an unreachable database is an `OfficeError` saying why."""
    try:
        return psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise OfficeError(f"cannot reach the office database: {first_line(exc)}") from None


def pool(dsn: str, *, max_size: int = 8) -> ConnectionPool:
    """The collector's pool: opened and checked at once, so a bad database stops the start."""
    p = ConnectionPool(dsn, min_size=1, max_size=max_size, open=False, timeout=CONNECT_TIMEOUT_S,
                       kwargs={"connect_timeout": CONNECT_TIMEOUT_S}, name="posoffice")
    try:
        p.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # psycopg_pool.PoolTimeout carries no reason: ask once directly
        p.close()
        connect(dsn).close()
        raise OfficeError(f"cannot reach the office database: {first_line(exc)}") from None
    return p


def migrate(conn: psycopg.Connection) -> list[int]:
    """Apply the migrations this database lacks; returns the versions applied now (often none)."""
    wanted = migrations()
    applied_now = []
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
                         "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            have = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
            unknown = sorted(have - {m.version for m in wanted})
            if unknown:
                raise OfficeError(f"the office database has schema version {unknown[-1]}, which this posoffice does "
                                  f"not know (it knows {', '.join(str(m.version) for m in wanted)}): upgrade posoffice")
            for m in wanted:
                if m.version in have:
                    continue
                conn.execute(m.sql)
                conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", (m.version, m.name))
                applied_now.append(m.version)
    except psycopg.Error as exc:
        raise OfficeError(f"cannot prepare the office database: {first_line(exc)}") from None
    return applied_now


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
