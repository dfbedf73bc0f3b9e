"""The command line's edges, shared by its commands: the database connection a command opens (migrated), and
how it prints — tables for people, JSON for programs, times and amounts as text."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import psycopg


def connection(args: argparse.Namespace) -> psycopg.Connection:
    from posoffice import db
    conn = db.connect(db.resolve_dsn(getattr(args, "dsn", None)))
    try:
        db.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def when(at: float) -> str:
    return datetime.fromtimestamp(at).isoformat(sep=" ", timespec="seconds")


def money(minor: int) -> str:
    """Minor units as decimal text, two places (the terminals' currencies all have two)."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
