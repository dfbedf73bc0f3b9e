"""Group commit: the requests that arrive together run in one ledger transaction and one durable commit.

A connection's task hands its request to `GroupCommit.run(work)` and awaits the answer.  The first
request of a group schedules a flush for the event loop's next turn, so every request read in the
meantime (from any terminal) joins the same group.  The flush runs each request's work in a savepoint
of one transaction (a failing request undoes only its own writes and gets its own error), commits once,
and only then releases the answers: no answer leaves before its row is durable.  If the commit itself
fails, every request of the group gets `LedgerUnavailable` and nothing of the group is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from simulator.host.ledger import Ledger

log = logging.getLogger("posim.host")

T = TypeVar("T")

#: the most requests in one group (bounds the latency a flush adds to the first request of a group)
MAX_GROUP = 256


class LedgerUnavailable(Exception):
    """The group's commit failed: none of its requests is recorded, none may be answered."""


@dataclass
class GroupStats:
    groups: int = 0
    requests: int = 0
    largest: int = 0
    failed_groups: int = 0
    commit_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"groups": self.groups, "requests": self.requests, "largest": self.largest,
                "mean": round(self.requests / self.groups, 2) if self.groups else 0.0,
                "failed_groups": self.failed_groups, "group_ms_total": round(self.commit_seconds * 1000, 1)}


class GroupCommit:
    def __init__(self, ledger: Ledger, *, on_failure: Callable[[], None] = lambda: None,
                 max_group: int = MAX_GROUP):
        self.ledger = ledger
        self.on_failure = on_failure  # forget in-memory state derived from the rolled-back writes
        self.max_group = max_group
        self.stats = GroupStats()
        self._pending: list[tuple[Callable[[], object], asyncio.Future[Any]]] = []  # each future of its work's result
        self._scheduled = False

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` (which may write the ledger) in the next group; its result once the group is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        group, self._pending = self._pending[:self.max_group], self._pending[self.max_group:]
        self._scheduled = bool(self._pending)
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        results: list[tuple[bool, object]] = []
        started = time.perf_counter()
        try:
            with self.ledger.group():
                for work, _future in group:
                    try:
                        with self.ledger.step():
                            results.append((True, work()))
                    except Exception as exc:  # that request's own failure: its writes are undone
                        results.append((False, exc))
        except Exception as exc:
            self.stats.failed_groups += 1
            log.error("ledger commit failed for %d request(s), none answered: %s", len(group), exc)
            self.on_failure()
            failure = LedgerUnavailable(f"ledger commit failed: {exc}")
            results = [(False, failure)] * len(group)
        self.stats.commit_seconds += time.perf_counter() - started
        self.stats.groups += 1
        self.stats.requests += len(group)
        self.stats.largest = max(self.stats.largest, len(group))
        for (_work, future), (ok, value) in zip(group, results):
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)  # type: ignore[arg-type]
