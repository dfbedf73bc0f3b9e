"""A campaign over several terminals side by side, and `run_campaign`, the way in for one or many.

The plan is cut into contiguous parts (`split`), each run by its own `simulator.chaos.runner.Campaign`
(its own daemon, journal, host and ledger) in a thread of its own, and the results are added up
(`merge`).  Apart from the runner, which knows one terminal only: nothing here touches a daemon.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from simulator.chaos.checker import CheckResult
from simulator.chaos.plan import Step
from simulator.chaos.runner import Campaign, RunResult, Tally
from simulator.chaos.violation import Violation


def split(steps: tuple[Step, ...], shards: int) -> list[tuple[Step, ...]]:
    """Contiguous, near-equal parts of a plan (any sub-list of a plan is itself a valid plan)."""
    size, extra = divmod(len(steps), shards)
    parts, start = [], 0
    for i in range(shards):
        end = start + size + (1 if i < extra else 0)
        parts.append(steps[start:end])
        start = end
    return [part for part in parts if part]


def merge(results: list[RunResult], elapsed: float) -> RunResult:
    """One result for terminals run side by side: counts add up, violations name their terminal."""
    tally = Tally(elapsed=elapsed)
    violations: list[Violation] = []
    for n, result in enumerate(results, 1):
        t = result.tally
        for name in ("operations", "outcomes", "faults_armed", "kills", "kill_windows", "power_cuts"):
            getattr(tally, name).update(getattr(t, name))
        for kind, count in t.faults_injected.items():
            tally.faults_injected[kind] = tally.faults_injected.get(kind, 0) + count
        for key, text in t.error_samples.items():
            tally.error_samples.setdefault(key, text)
        tally.recoveries += t.recoveries
        tally.checkpoints += t.checkpoints
        tally.outages += t.outages
        tally.stored += t.stored
        prefix = f"terminal {n}: " if len(results) > 1 else ""
        violations += [Violation(v.rule, prefix + v.detail, v.journal_rows, v.ledger_rows) for v in result.violations]
    checks = [r.last_check for r in results if r.last_check is not None]
    last = None
    if checks:
        last = CheckResult(tuple(v for c in checks for v in c.violations), sum(c.transactions for c in checks),
                           sum(c.cards_checked for c in checks), sum(c.settled_batches for c in checks),
                           sum(c.files_scanned for c in checks))
    return RunResult(sum(r.steps for r in results), tally, tuple(violations), last)


def run_campaign(steps: tuple[Step, ...], directory: Path | None = None, *, terminals: int = 1,
                 progress: Callable[[str], None] | None = None, **kw: Any) -> RunResult:
    """Run `steps` in `directory` (a fresh temporary one when None).

    With `terminals` > 1 the plan is cut into that many contiguous parts, each run by its own terminal
    (its own daemon and journal, and its own host and ledger so that a fault or a held request is
    always the terminal's own) side by side in `directory/terminal-N`; the results are merged."""
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="posim-chaos-") as tmp:
            return run_campaign(steps, Path(tmp), terminals=terminals, progress=progress, **kw)
    if terminals <= 1:
        return Campaign(directory, progress=progress, **kw).run(steps)
    parts = split(steps, terminals)
    results: list[RunResult | None] = [None] * len(parts)
    failures: list[BaseException] = []
    report = progress or (lambda text: None)

    def one(n: int, part: tuple[Step, ...]) -> None:
        try:
            campaign = Campaign(directory / f"terminal-{n + 1}",
                                progress=lambda text: report(f"terminal {n + 1}: {text}"), **kw)
            results[n] = campaign.run(part)
        except BaseException as exc:  # reported below, after the other terminals finish
            failures.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(n, part), name=f"terminal-{n + 1}") for n, part in enumerate(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return merge([r for r in results if r is not None], time.perf_counter() - started)
