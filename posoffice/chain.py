"""The check of an arriving batch against what the office holds for its terminal — no I/O.

The office keeps, per terminal, a cursor: the last event it verified (`seq`, `hash`), starting at
(0, GENESIS).  Each arriving event is re-hashed with the journal's own functions and walked in order:

    content hash recomputed != the event's content_hash       -> altered      (refused from here)
    seq <= cursor, same content_hash and hash as stored        -> repeat       (acknowledged again)
    seq <= cursor, anything else                               -> fork         (refused from here)
    seq == cursor + 1, link(cursor hash, content_hash) == hash -> appended     (cursor moves on)
    seq == cursor + 1, the link does not hold                  -> broken_link  (refused from here)
    seq >  cursor + 1                                          -> gap          (refused from here)

The events before the first problem are kept; the problem is reported with its terminal and seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from agent.journal.hashchain import GENESIS, content_hash, link
from posoffice.wire import WireEvent

#: the kinds of chain problem, as stored in chain_problems.what
PROBLEMS = ("gap", "fork", "altered", "broken_link")


@dataclass(frozen=True)
class Cursor:
    seq: int
    hash: str

    @classmethod
    def start(cls) -> "Cursor":
        return cls(0, GENESIS)


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str
    detail: str


@dataclass(frozen=True)
class Verdict:
    appended: tuple[WireEvent, ...]
    repeats: int
    cursor: Cursor
    problem: Problem | None


def recomputed_content_hash(e: WireEvent) -> str:
    return content_hash(e.seq, e.at, e.txn_id, e.kind, e.operator, e.role, e.details)


def check_batch(cursor: Cursor, stored: Mapping[int, tuple[str, str]], events: Sequence[WireEvent], *,
                retired_before: int = 0) -> Verdict:
    """Walk `events` from `cursor`; `stored` maps the seqs the office already holds among them to their
    (content_hash, hash).  Events before `retired_before` were removed by retention (posoffice/retention.py;
    the anchor, the last one removed, is in `stored`): the office can no longer compare them, so one whose
    content still matches its content hash is a repeat."""
    held = dict(stored)
    appended: list[WireEvent] = []
    repeats = 0
    for e in events:
        if e.seq < retired_before:
            if recomputed_content_hash(e) != e.content_hash:
                return Verdict(tuple(appended), repeats, cursor, Problem(
                    e.seq, "altered", f"event {e.seq}'s content does not match its content hash"))
            repeats += 1
            continue
        problem = _problem(cursor, held, e)
        if problem is not None:
            return Verdict(tuple(appended), repeats, cursor, problem)
        if e.seq <= cursor.seq:
            repeats += 1
            continue
        appended.append(e)
        held[e.seq] = (e.content_hash, e.hash)
        cursor = Cursor(e.seq, e.hash)
    return Verdict(tuple(appended), repeats, cursor, None)


def _problem(cursor: Cursor, held: Mapping[int, tuple[str, str]], e: WireEvent) -> Problem | None:
    if recomputed_content_hash(e) != e.content_hash:
        return Problem(e.seq, "altered", f"event {e.seq}'s content does not match its content hash")
    if e.seq <= cursor.seq:
        if held.get(e.seq) != (e.content_hash, e.hash):
            return Problem(e.seq, "fork", f"event {e.seq} differs from the event {e.seq} the office already "
                                          "holds for this terminal")
        return None
    if e.seq > cursor.seq + 1:
        return Problem(e.seq, "gap", f"events {cursor.seq + 1}..{e.seq - 1} are missing before event {e.seq}")
    if link(cursor.hash, e.content_hash) != e.hash:
        return Problem(e.seq, "broken_link", f"event {e.seq} does not link to event {cursor.seq} as the office "
                                             "holds it")
    return None
